"""End-to-end throughput of the emberwatch worker against a plain aiokafka loop doing the same work.

Both read the same pre-produced raw topic on the same broker, decode/validate/match/classify in
batches with the same ``Ingestor``, and produce per-brand micro-batches; the worker also runs the
detect agent (windows, scores, table writes). Printed side by side, with the ratio, since these
machines are noisy. Usage: ``python benchmarks/bench_pipeline.py [N]`` (default 50,000 mentions).
With EMBERWATCH_BOOTSTRAP_SERVERS unset it starts the embedded broker in a temporary state dir.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pipeline.broker import create_topics, embedded_broker, pick_free_port  # noqa: E402
from pipeline.catalog import BrandCatalog  # noqa: E402
from pipeline.processing import Ingestor, RawMessage, encode_classified  # noqa: E402
from pipeline.samples import CATALOG, demo_mentions  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.tools import replay, scrape_metrics  # noqa: E402


def make_stream(path: Path, n: int) -> int:
    rows = []
    for copy in range(100):
        for row in demo_mentions(seed=copy):
            row["id"] = f"{row['id']}-{copy}"
            rows.append(row)
            if len(rows) >= n:
                break
        if len(rows) >= n:
            break
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    return len(rows)


def run_worker(
    bootstrap: str, raw_topic: str, n: int, state: Path
) -> tuple[float, dict[str, float]]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    port = pick_free_port()
    # Worker tuning knobs pass through (EMBERWATCH_INGEST_*); topics and ports are the bench's own.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("EMBERWATCH_") or k.startswith("EMBERWATCH_INGEST_")
    }
    env.update(
        EMBERWATCH_BOOTSTRAP_SERVERS=bootstrap,
        EMBERWATCH_APP_ID=prefix,
        EMBERWATCH_TOPIC_RAW=raw_topic,
        EMBERWATCH_TOPIC_DEAD_LETTER=f"{prefix}.dlq",
        EMBERWATCH_TOPIC_CLASSIFIED=f"{prefix}.classified",
        EMBERWATCH_TOPIC_ALERTS=f"{prefix}.alerts",
        EMBERWATCH_BRANDS_PATH=str(CATALOG),
        EMBERWATCH_WEB_PORT=str(port),
        EMBERWATCH_STATE_DIR=str(state / prefix),
    )
    log = (state / f"{prefix}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "run"], env=env, cwd=REPO, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        started = None
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"worker died, see {log.name}")
            try:
                metrics = scrape_metrics(url)
            except OSError:
                time.sleep(0.2)
                continue
            ingested = metrics.get("emberwatch_mentions_ingested_total", 0)
            if started is None and ingested > 0:
                started = time.perf_counter() - 0.0
                first = ingested
            if ingested >= n:
                # wait for detection to drain: the histogram count of detector steps stops moving
                last = -1.0
                while True:
                    time.sleep(0.5)
                    metrics = scrape_metrics(url)
                    count = metrics.get("emberwatch_arrival_to_detect_seconds_count", 0)
                    if count == last:
                        break
                    last = count
                elapsed = time.perf_counter() - started - 0.5
                return (n - first) / elapsed, metrics
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def run_plain(bootstrap: str, raw_topic: str, n: int) -> float:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from models import MentionClassifier

    ingestor = Ingestor(
        BrandCatalog.load(CATALOG),
        MentionClassifier.load(),
        max_message_bytes=1_000_000,
        max_text_chars=10_000,
    )
    out_topic = f"plain-{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, [out_topic], partitions=4)
    consumer = AIOKafkaConsumer(
        raw_topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"plain-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=10)
    await consumer.start()
    await producer.start()
    seen = 0
    started = None
    try:
        while seen < n:
            batches = await consumer.getmany(timeout_ms=200, max_records=2000)
            for records in batches.values():
                if started is None:
                    started = time.perf_counter()
                result = ingestor.process([RawMessage(r.value) for r in records])
                for brand, mentions in result.by_brand.items():
                    await producer.send(
                        out_topic,
                        key=brand.encode(),
                        value=encode_classified(brand, mentions, None),
                    )
                seen += len(records)
            await consumer.commit()
        await producer.flush()
    finally:
        await consumer.stop()
        await producer.stop()
    if started is None:
        raise SystemExit("the plain loop saw no input")
    return seen / (time.perf_counter() - started)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        settings = Settings(state_dir=state)
        with embedded_broker(settings) as bootstrap:
            stream = state / "mentions.jsonl"
            n = make_stream(stream, n)
            raw_topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
            create_topics(bootstrap, [raw_topic], partitions=4)
            replay(
                stream, settings.model_copy(update={"topic_raw": raw_topic}), bootstrap, speed=None
            )
            plain = asyncio.run(run_plain(bootstrap, raw_topic, n))
            worker, metrics = run_worker(bootstrap, raw_topic, n, state)
    count = metrics.get("emberwatch_arrival_to_detect_seconds_count", 0)
    total = metrics.get("emberwatch_arrival_to_detect_seconds_sum", 0)
    print(f"mentions: {n} (pre-produced, 4 partitions, same broker)")
    print(f"{'pipeline':40} {'mentions/s':>12}")
    print(f"{'plain aiokafka loop (ingest only)':40} {plain:12,.0f}")
    print(f"{'emberwatch worker (ingest + detect)':40} {worker:12,.0f}")
    print(f"ratio worker/plain: {worker / plain:.2f}")
    if count:
        print(
            f"detector steps: {count:.0f}, mean arrival-to-detect {total / count:.2f}s "
            "(includes the backlog: input was pre-produced)"
        )


if __name__ == "__main__":
    main()
