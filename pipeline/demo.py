"""``emberwatch demo``: broker, worker and the built-in sample crisis, then a summary.

Everything it starts it stops again (unless ``--keep-running``). Each run uses fresh topic names,
so repeated demos never mix their alerts.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from pipeline.broker import (
    LocalBroker,
    embedded_broker,
    pick_free_port,
    require_plaintext_client,
)
from pipeline.records import format_time
from pipeline.samples import CATALOG, CRISIS_BRAND, CRISIS_ONSET, write_demo_stream
from pipeline.settings import Settings
from pipeline.tools import format_alert, metric_total, replay, scrape_metrics

logger = logging.getLogger(__name__)

_BAD_LINES = (
    b'{"id": "bad-1", "source": "twitter", "text": "no timestamp at all"}',
    b"this line is not JSON",
    b'{"id": "bad-3", "source": "forum", "created_at": "yesterday", "text": "Nimbus Air"}',
)


def _wait_ready(metrics_url: str, worker: subprocess.Popen[bytes], timeout: float) -> None:
    """Until the worker's ``/ready`` answers 200: it has joined its group and recovered its tables
    (before that, a replayed sample would only wait in the topics)."""
    ready_url = metrics_url.removesuffix("/metrics") + "/ready"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            msg = f"the worker exited with code {worker.returncode}; see its log"
            raise RuntimeError(msg)
        try:
            with urllib.request.urlopen(ready_url, timeout=5) as response:  # noqa: S310 (local URL)
                if response.status == 200:
                    return
        except OSError:  # not listening yet, or 503 while it joins and recovers
            pass
        time.sleep(0.5)
    msg = f"the worker was not ready on {ready_url} within {timeout:.0f}s"
    raise RuntimeError(msg)


def run_demo(base: Settings, *, keep_running: bool = False) -> int:
    run_id = datetime.now(tz=UTC).strftime("%Y%m%d%H%M%S")
    prefix = f"emberwatch.demo-{run_id}"
    state_dir = Path(base.state_dir)
    demo_dir = state_dir / "demo" / run_id
    demo_dir.mkdir(parents=True, exist_ok=True)
    web_port = pick_free_port()
    settings = base.model_copy(
        update={
            "app_id": f"emberwatch-demo-{run_id}",
            "topic_raw": f"{prefix}.mentions.raw",
            "topic_dead_letter": f"{prefix}.mentions.dlq",
            "topic_classified": f"{prefix}.mentions.classified",
            "topic_alerts": f"{prefix}.alerts",
            "brands_path": CATALOG,
            "web_port": web_port,
        }
    )
    stream = demo_dir / "mentions.jsonl"
    count = write_demo_stream(stream)
    with stream.open("ab") as handle:
        handle.write(b"\n".join(_BAD_LINES) + b"\n")
    print(f"emberwatch demo: {count} sample mentions (+{len(_BAD_LINES)} malformed) in {stream}")

    with ExitStack() as stack:
        if keep_running and settings.embedded_broker:
            require_plaintext_client(settings)
            bootstrap = LocalBroker.from_settings(settings).start(detached=True)
        else:
            bootstrap = stack.enter_context(embedded_broker(settings))
        print(f"  Kafka broker:  {bootstrap}" + (" (embedded)" if base.embedded_broker else ""))
        from pipeline.cli import ensure_topics

        ensure_topics(settings, bootstrap)
        env = dict(os.environ)
        env.update(
            {
                "EMBERWATCH_BOOTSTRAP_SERVERS": bootstrap,
                "EMBERWATCH_APP_ID": settings.app_id,
                "EMBERWATCH_TOPIC_RAW": settings.topic_raw,
                "EMBERWATCH_TOPIC_DEAD_LETTER": settings.topic_dead_letter,
                "EMBERWATCH_TOPIC_CLASSIFIED": settings.topic_classified,
                "EMBERWATCH_TOPIC_ALERTS": settings.topic_alerts,
                "EMBERWATCH_BRANDS_PATH": str(CATALOG),
                "EMBERWATCH_WEB_PORT": str(web_port),
                "EMBERWATCH_STATE_DIR": str(demo_dir / "state"),
            }
        )
        log_path = demo_dir / "worker.log"
        log = stack.enter_context(log_path.open("wb"))
        worker = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "run"],
            env=env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        if not keep_running:
            stack.callback(_stop_worker, worker)
        metrics_url = f"http://{settings.web_host}:{web_port}/metrics"
        started = time.monotonic()
        _wait_ready(metrics_url, worker, timeout=120)
        print(f"  worker:        pid {worker.pid}, log {log_path}")
        print(f"  metrics:       {metrics_url}")
        print(
            f"  topics:        {settings.topic_raw} -> {settings.topic_classified} -> "
            f"{settings.topic_alerts} (dead letters: {settings.topic_dead_letter})"
        )
        print(
            f"  follow alerts: EMBERWATCH_BOOTSTRAP_SERVERS={bootstrap} "
            f"EMBERWATCH_TOPIC_ALERTS={settings.topic_alerts} emberwatch alerts tail "
            "--from-beginning"
        )
        print(
            f"replaying the sample (crisis at {CRISIS_BRAND} from "
            f"{format_time(CRISIS_ONSET.timestamp())})..."
        )
        sent = replay(stream, settings, bootstrap, speed=None).sent
        alerts = _follow(settings, bootstrap, metrics_url, sent, worker)
        metrics = scrape_metrics(metrics_url)
        elapsed = time.monotonic() - started
        _summary(metrics, alerts, sent, elapsed)
        if keep_running:
            print(f"left running: broker {bootstrap}, worker pid {worker.pid}")
    return 0 if alerts else 1


def _follow(
    settings: Settings, bootstrap: str, metrics_url: str, sent: int, worker: subprocess.Popen[bytes]
) -> list[dict[str, Any]]:
    """Print alerts as they arrive until the worker has taken in the sample and gone quiet."""
    from kafka import KafkaConsumer

    from pipeline.tools import client_config

    consumer = KafkaConsumer(
        settings.topic_alerts,
        **client_config(settings, bootstrap),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    alerts: list[dict[str, Any]] = []
    quiet_since = time.monotonic()
    marks: list[float] = []  # the detector's watermarks, one per partition
    marks_since = time.monotonic()
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                print(f"the worker stopped unexpectedly (code {worker.returncode})")
                break
            batch = consumer.poll(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    alert = orjson.loads(record.value)
                    alerts.append(alert)
                    print(format_alert(alert), flush=True)
                    quiet_since = time.monotonic()
            try:
                scraped = scrape_metrics(metrics_url)
            except OSError:  # a busy worker may answer late: ask again next round
                continue
            ingested = metric_total(scraped, "emberwatch_mentions_ingested_total")
            now_marks = sorted(
                v for k, v in scraped.items() if k.startswith("emberwatch_detector_watermark")
            )
            if now_marks != marks:
                marks, marks_since = now_marks, time.monotonic()
            # done: all taken in, no alert for a while, and the detector no longer advancing
            settled = min(time.monotonic() - quiet_since, time.monotonic() - marks_since)
            if ingested >= sent and marks and settled > 8:
                break
    finally:
        consumer.close()
    return alerts


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _summary(
    metrics: dict[str, float], alerts: list[dict[str, Any]], sent: int, elapsed: float
) -> None:
    dead = {
        k.split('reason="')[1].rstrip('"}'): int(v)
        for k, v in metrics.items()
        if k.startswith("emberwatch_mentions_dead_lettered_total{") and v
    }
    kinds = Counter(f"{a['severity']}/{a['status']}" for a in alerts)
    print()
    print("== summary ==")
    print(
        f"sent {sent}; worker ingested "
        f"{metric_total(metrics, 'emberwatch_mentions_ingested_total'):.0f}, "
        f"classified {metric_total(metrics, 'emberwatch_mentions_classified_total'):.0f}, "
        f"unmatched {metric_total(metrics, 'emberwatch_mentions_unmatched_total'):.0f}, "
        f"dead-lettered {sum(dead.values())} {dead}"
    )
    print(f"alert events: {len(alerts)} {dict(sorted(kinds.items()))}")
    crisis = [a for a in alerts if a["brand"] == CRISIS_BRAND and a["severity"] != "watch"]
    if crisis:
        first = datetime.fromisoformat(crisis[0]["event_time"].replace("Z", "+00:00"))
        minutes = (first - CRISIS_ONSET).total_seconds() / 60
        print(
            f"first warning-or-above for {CRISIS_BRAND}: {crisis[0]['event_time']} "
            f"({minutes:.0f} min of event time after the onset)"
        )
    print(f"took {elapsed:.0f}s of wall time")
