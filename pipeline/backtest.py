"""Offline backtest: the live pipeline's normalise/classify/window/detect code, with no broker.

Input is a JSONL file of raw mentions (one message per line, exactly the bytes a producer would
send). Mentions are processed in event-time order, as ``emberwatch replay`` produces them, and the
alerts are written as JSONL in the same form as on the alerts topic. Deterministic: the same input
and settings always give the same alerts with the same ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from pipeline.catalog import BrandCatalog
from pipeline.core.detector import AlertEvent, detect_stream
from pipeline.core.types import ScoredMention
from pipeline.detection import config_resolver
from pipeline.processing import ClassifierLike, Ingestor, RawMessage
from pipeline.records import SourceCoordinates, dead_letter
from pipeline.settings import Settings

logger = logging.getLogger(__name__)

_BATCH = 5000


@dataclass(slots=True)
class BacktestSummary:
    lines: int = 0
    classified: int = 0
    unmatched: int = 0
    dead_lettered: dict[str, int] = field(default_factory=dict)
    brand_mentions: dict[str, int] = field(default_factory=dict)
    # event times (epoch seconds) of each brand's first and last classified mention
    brand_spans: dict[str, tuple[float, float]] = field(default_factory=dict)
    alerts: list[AlertEvent] = field(default_factory=list)
    # the brand mentions in event-time order: what the detector reads
    mentions: list[ScoredMention] = field(default_factory=list, repr=False)


def read_lines(path: Path) -> Iterator[bytes]:
    """Raw lines of a JSONL file, without their line ends; blank lines are skipped."""
    with path.open("rb") as handle:
        for line in handle:
            stripped = line.rstrip(b"\r\n")
            if stripped.strip():
                yield stripped


def ingest_file(
    input_path: Path,
    settings: Settings,
    catalog: BrandCatalog,
    classifier: ClassifierLike,
    dead_letters_out: IO[bytes] | None = None,
) -> BacktestSummary:
    """Classify and match every line of ``input_path`` as the live ingest agent does.

    Returns the summary without alerts; its ``mentions`` are the brand mentions in event-time
    order, as ``emberwatch replay`` sends them (stable: ties keep file order). Bad lines go to
    ``dead_letters_out`` in the dead-letter topic's form.
    """
    ingestor = Ingestor(
        catalog,
        classifier,
        max_message_bytes=settings.max_message_bytes,
        max_text_chars=settings.max_text_chars,
    )
    summary = BacktestSummary()
    scored: list[ScoredMention] = []
    batch: list[RawMessage] = []

    def flush() -> None:
        result = ingestor.process(batch)
        summary.classified += result.classified
        summary.unmatched += result.unmatched
        for dead in result.dead:
            summary.dead_lettered[dead.reason] = summary.dead_lettered.get(dead.reason, 0) + 1
            if dead_letters_out is not None:
                dead_letters_out.write(
                    dead_letter(dead.raw, dead.reason, dead.error, dead.coords, 0.0)
                )
                dead_letters_out.write(b"\n")
        for brand, mentions in result.by_brand.items():
            summary.brand_mentions[brand] = summary.brand_mentions.get(brand, 0) + len(mentions)
            if mentions:
                first = min(m.ts for m in mentions)
                last = max(m.ts for m in mentions)
                seen = summary.brand_spans.get(brand)
                if seen is not None:
                    first, last = min(first, seen[0]), max(last, seen[1])
                summary.brand_spans[brand] = (first, last)
            scored.extend(mentions)
        batch.clear()

    for number, line in enumerate(read_lines(input_path)):
        summary.lines += 1
        batch.append(RawMessage(line, SourceCoordinates(str(input_path), 0, number)))
        if len(batch) >= _BATCH:
            flush()
    if batch:
        flush()
    scored.sort(key=lambda m: m.ts)
    summary.mentions = scored
    return summary


def detect_mentions(
    mentions: Sequence[ScoredMention],
    settings: Settings,
    catalog: BrandCatalog,
    overrides: Mapping[str, Any] | None = None,
) -> list[AlertEvent]:
    """The live detector over ``mentions`` (event-time order); ``overrides`` as in
    :func:`pipeline.detection.config_resolver`."""
    return list(detect_stream(mentions, config_resolver(settings, catalog, overrides)))


def run_backtest(
    input_path: Path,
    settings: Settings,
    catalog: BrandCatalog,
    classifier: ClassifierLike,
    alerts_out: IO[bytes],
    dead_letters_out: IO[bytes] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> BacktestSummary:
    """:func:`ingest_file`, then :func:`detect_mentions`; the alerts go to ``alerts_out`` as
    JSON lines in the alert topic's form and into the summary."""
    summary = ingest_file(input_path, settings, catalog, classifier, dead_letters_out)
    summary.alerts = detect_mentions(summary.mentions, settings, catalog, overrides)
    write_alerts(summary.alerts, alerts_out)
    return summary


def write_alerts(alerts: Iterable[AlertEvent], out: IO[bytes]) -> None:
    for alert in alerts:
        out.write(orjson.dumps(alert.to_dict(), option=orjson.OPT_SORT_KEYS))
        out.write(b"\n")
