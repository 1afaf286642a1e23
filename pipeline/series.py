"""Volume-only mode over a count series: ``timestamp,value`` in, ``timestamp,anomaly_score,alert``.

The series is fed to the same detector core as live traffic, one row per bucket (the bucket is the
series interval, e.g. 5 minutes in NAB's files), with ``volume_only`` set because counts carry no
sentiment. ``anomaly_score`` is the crisis-risk score / 100 of the row's bucket, computed from that
row and the rows before it only.

``alert`` is 1 on the row where a surge first becomes alarming: where an alert episode first reaches
warning or above (opened at warning+, or escalated from watch; a later escalation to critical is the
same surge). A warning+ episode that begins within ``SERIES_REFRACTORY_SECONDS`` after the previous
warning+ episode resolved continues that surge and raises no new alert. Without sentiment, volume is
the only evidence, so it is judged against the series' usual daily peak more strictly than live
traffic: the volume driver is zero at the usual daily peak and full at twice it
(``SERIES_NOVELTY_MARGIN_LOG2``). Every other threshold keeps its live default.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import logging
import math
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pipeline.core.detector import BrandDetector, DetectorConfig
from pipeline.errors import ConfigError

logger = logging.getLogger(__name__)

#: Volume-only mode: volume counts fully only this far (log2) above the usual daily peak.
SERIES_NOVELTY_MARGIN_LOG2 = 1.0
#: Volume-only mode: a warning+ episode this soon after the previous one resolved is the same surge.
SERIES_REFRACTORY_SECONDS = 6 * 3600

_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M")


def parse_time(text: str) -> float:
    """Seconds since the epoch of a timestamp; naive times are UTC."""
    raw = text.strip()
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        for fmt in _TIME_FORMATS:
            try:
                parsed = datetime.strptime(raw, fmt).replace(tzinfo=UTC)
                break
            except ValueError:
                continue
    if parsed is None:
        msg = f"unreadable timestamp {text!r}"
        raise ConfigError(msg)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def series_config(interval_seconds: int, base: DetectorConfig | None = None) -> DetectorConfig:
    """``base`` (default: the live defaults) with one bucket per row, no sentiment, and volume
    judged against at least twice the usual daily peak."""
    cfg = base or DetectorConfig()
    return dataclasses.replace(
        cfg,
        bucket_seconds=interval_seconds,
        allowed_lateness_seconds=0,
        short_window_seconds=max(cfg.short_window_seconds, interval_seconds),
        mid_window_seconds=max(cfg.mid_window_seconds, interval_seconds),
        long_window_seconds=max(cfg.long_window_seconds, interval_seconds),
        volume_only=True,
        novelty_margin_log2=max(cfg.novelty_margin_log2, SERIES_NOVELTY_MARGIN_LOG2),
    )


def score_series(
    times: Sequence[float], values: Sequence[float], base: DetectorConfig | None = None
) -> tuple[list[float], list[int]]:
    """Anomaly score in [0, 1] and alert flag (0/1) per row; rows must be in time order."""
    if len(times) != len(values):
        msg = "times and values differ in length"
        raise ConfigError(msg)
    if len(times) < 2:
        return [0.0] * len(times), [0] * len(times)
    steps = [b - a for a, b in itertools.pairwise(times)]
    if any(s <= 0 for s in steps):
        msg = "series timestamps must be strictly increasing"
        raise ConfigError(msg)
    interval = max(1, round(statistics.median(steps)))
    cfg = series_config(interval, base)
    det = BrandDetector.new("series", cfg)
    scores: list[float] = []
    alerts: list[int] = []
    warned: set[str] = set()  # episodes that reached warning+
    last_end: float | None = None  # when the last warning+ episode resolved
    for t, v in zip(times, values, strict=True):
        det.observe_count(t, round(max(0.0, v)))
        end = math.floor(t / interval) * interval + interval
        events, closed = det.advance_scored(float(end))
        scores.append(round(closed[-1][1] / 100.0, 5) if closed else 0.0)
        fire = False
        for e in events:
            if e.status == "resolved":
                if e.alert_id in warned:
                    warned.discard(e.alert_id)
                    last_end = end
            elif e.severity in ("warning", "critical") and e.alert_id not in warned:
                warned.add(e.alert_id)
                fire = fire or last_end is None or end - last_end > SERIES_REFRACTORY_SECONDS
        alerts.append(1 if fire else 0)
    return scores, alerts


def run_series(input: Path, output: Path) -> int:
    """Read ``timestamp,value`` rows from ``input``, write ``timestamp,anomaly_score,alert`` to
    ``output``. Returns 0; unreadable input raises ``ConfigError``."""
    try:
        with input.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        msg = f"cannot read {input}: {exc}"
        raise ConfigError(msg) from exc
    if rows and rows[0] and not _is_number(rows[0][-1]):
        rows = rows[1:]  # header
    stamps: list[str] = []
    times: list[float] = []
    values: list[float] = []
    for lineno, row in enumerate(rows, start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2 or not _is_number(row[1]):
            msg = f"{input}:{lineno}: expected timestamp,value"
            raise ConfigError(msg)
        stamps.append(row[0])
        times.append(parse_time(row[0]))
        values.append(float(row[1]))
    scores, alerts = score_series(times, values)
    with output.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["timestamp", "anomaly_score", "alert"])
        for stamp, s, a in zip(stamps, scores, alerts, strict=True):
            writer.writerow([stamp, f"{s:.5f}", a])
    logger.info("scored %d rows, %d alerts", len(stamps), sum(alerts))
    return 0


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
