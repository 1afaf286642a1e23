"""Synchronous Kafka tools on kafka-python: replay mentions, tail alerts."""

from __future__ import annotations

import logging
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer

from pipeline.backtest import read_lines
from pipeline.errors import ConfigError, RecordError
from pipeline.records import parse_timestamp
from pipeline.security import kafka_python_config
from pipeline.settings import Settings

logger = logging.getLogger(__name__)


def client_config(settings: Settings, bootstrap: str) -> dict[str, Any]:
    """kafka-python connection settings, including TLS/SASL when configured."""
    return {"bootstrap_servers": bootstrap.split(","), **kafka_python_config(settings)}


def topic_partition_count(settings: Settings, bootstrap: str, topic: str) -> int:
    """How many partitions ``topic`` has (it must exist)."""
    consumer = KafkaConsumer(**client_config(settings, bootstrap))
    try:
        partitions = consumer.partitions_for_topic(topic)
    finally:
        consumer.close()
    if not partitions:
        msg = f"topic {topic!r} does not exist on {bootstrap}"
        raise ConfigError(msg)
    return len(partitions)


def scrape_metrics(url: str, timeout: float = 5.0) -> dict[str, float]:
    """A Prometheus text page as ``{"name{labels}": value}`` (comments skipped)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - a worker's URL
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def metric_total(values: dict[str, float], name: str) -> float:
    """Sum of a metric over all its label sets."""
    return sum(v for k, v in values.items() if k == name or k.startswith(name + "{"))


def _event_time(line: bytes) -> float | None:
    try:
        obj = orjson.loads(line)
        return parse_timestamp(obj["created_at"]).timestamp()
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, RecordError):
        return None


def _key(line: bytes) -> bytes | None:
    try:
        obj = orjson.loads(line)
        return f"{obj['source']}:{obj['id']}".encode()
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    sent: int
    undated: int
    first_ts: float | None
    last_ts: float | None
    seconds: float


def ordered_lines(path: Path) -> list[tuple[float | None, bytes]]:
    """Lines in event-time order (stable); lines without a usable time go last, in file order.

    Those are still sent: rejecting bad input is the worker's job, and it dead-letters them.
    """
    lines = [(_event_time(line), line) for line in read_lines(path)]
    dated = sorted((item for item in lines if item[0] is not None), key=lambda item: item[0] or 0.0)
    return dated + [item for item in lines if item[0] is None]


def replay(
    path: Path,
    settings: Settings,
    bootstrap: str,
    *,
    speed: float | None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ReplaySummary:
    """Produce a JSONL file's mentions to the raw topic in event-time order.

    ``speed`` None sends as fast as possible; otherwise event-time gaps are replayed ``speed`` times
    faster than real time. Messages are keyed by source and id, so a duplicate lands on the same
    partition as its original.
    """
    lines = ordered_lines(path)
    producer = KafkaProducer(
        **client_config(settings, bootstrap),
        acks="all",
        linger_ms=20,
        batch_size=256 * 1024,
        max_request_size=max(settings.max_message_bytes * 2, 1_048_576),
        retries=5,
    )
    started = clock()
    first = next((ts for ts, _ in lines if ts is not None), None)
    sent = 0
    try:
        for ts, line in lines:
            if speed is not None and ts is not None and first is not None:
                due = started + (ts - first) / speed
                delay = due - clock()
                if delay > 0:
                    producer.flush()
                    sleep(delay)
            producer.send(settings.topic_raw, key=_key(line), value=line)
            sent += 1
        producer.flush()
    finally:
        producer.close()
    dated = [ts for ts, _ in lines if ts is not None]
    return ReplaySummary(
        sent=sent,
        undated=len(lines) - len(dated),
        first_ts=dated[0] if dated else None,
        last_ts=dated[-1] if dated else None,
        seconds=clock() - started,
    )


def consume(
    settings: Settings,
    bootstrap: str,
    topic: str,
    *,
    from_beginning: bool,
    timeout: float | None,
    max_messages: int | None = None,
) -> Iterator[bytes]:
    """Values of a topic's messages; stops after ``timeout`` seconds without a new message."""
    consumer = KafkaConsumer(
        topic,
        **client_config(settings, bootstrap),
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=int(timeout * 1000) if timeout is not None else float("inf"),
    )
    count = 0
    try:
        for record in consumer:
            yield record.value
            count += 1
            if max_messages is not None and count >= max_messages:
                return
    finally:
        consumer.close()


def format_alert(record: dict[str, Any]) -> str:
    """One alert as a few readable lines for the crisis room."""
    evidence = record.get("evidence") or {}
    lines = [
        f"{record.get('event_time', '?')}  {str(record.get('severity', '?')).upper():8} "
        f"{record.get('status', '?'):9} {record.get('brand', '?')}  "
        f"score {float(record.get('score') or 0):.0f}  [{record.get('alert_id', '?')}]"
    ]
    window = (evidence.get("windows") or {}).get("15m") or {}
    if window:
        share = window.get("negative_share")
        usual = evidence.get("usual_negative_share")
        text = f"    last 15 min: {window.get('count', '?')} mentions"
        if window.get("expected") is not None:
            text += f" (usual {float(window['expected']):.0f})"
        if share is not None:
            text += f", {float(share):.0%} negative"
            if usual is not None:
                text += f" (usual {float(usual):.0%})"
        lines.append(text)
    drivers = evidence.get("drivers") or {}
    top = sorted(((v, k) for k, v in drivers.items() if v), reverse=True)[:3]
    if top:
        lines.append("    drivers: " + ", ".join(f"{k} {v:.0f}" for v, k in top))
    categories = evidence.get("categories")
    if categories:
        lines.append(f"    categories: {categories}")
    seen: set[str] = set()
    for mention in evidence.get("top_mentions") or []:
        text = " ".join(str(mention.get("text", "")).split())
        if text in seen:
            continue
        seen.add(text)
        lines.append(f"    > {text[:140]}")
        if len(seen) == 3:
            break
    return "\n".join(lines)
