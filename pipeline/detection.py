"""The live side of detection: per-partition watermarks around the pure ``BrandDetector``.

The agent hands each classified micro-batch to ``LiveDetection.on_batch`` with a way to load
a brand's persisted state; it gets back the alert events to publish and the brands whose state to
write back to the table. Scoring and the alert lifecycle live in ``pipeline.core``; this class only
decides *when* to advance which brand, the same way ``detect_stream`` does offline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.catalog import BrandCatalog
from pipeline.core.detector import AlertEvent, BrandDetector, DetectorConfig, Observation
from pipeline.core.types import ScoredMention
from pipeline.settings import Settings

logger = logging.getLogger(__name__)


def base_config(settings: Settings) -> DetectorConfig:
    return DetectorConfig.from_mapping(
        DetectorConfig(),
        {
            "bucket_seconds": settings.bucket_seconds,
            "allowed_lateness_seconds": settings.allowed_lateness_seconds,
        },
    )


def config_resolver(
    settings: Settings, catalog: BrandCatalog, overrides: Mapping[str, Any] | None = None
) -> Callable[[str], DetectorConfig]:
    """Per-brand detector configuration: settings, then ``overrides`` for every brand (a what-if
    of other defaults, as ``emberwatch backtest --set`` gives), then the catalog's overrides for
    the brand, which win."""
    base = base_config(settings)
    if overrides:
        base = DetectorConfig.from_mapping(base, overrides)
    cache: dict[str, DetectorConfig] = {}

    def config_for(brand_id: str) -> DetectorConfig:
        config = cache.get(brand_id)
        if config is None:
            brand = catalog.brands.get(brand_id)
            overrides: dict[str, object] = {}
            if brand is not None:
                if brand.timezone != "UTC" and "timezone" in DetectorConfig.__dataclass_fields__:
                    overrides["timezone"] = brand.timezone
                overrides.update(brand.detector)
            config = DetectorConfig.from_mapping(base, overrides) if overrides else base
            cache[brand_id] = config
        return config

    return config_for


@dataclass(slots=True)
class BatchOutcome:
    alerts: list[AlertEvent] = field(default_factory=list)
    dirty: set[str] = field(default_factory=set)  # brands whose state must be written back
    late: int = 0
    duplicates: int = 0


class LiveDetection:
    """Brand detectors of the partitions this worker owns, kept in memory over the table."""

    def __init__(self, config_for: Callable[[str], DetectorConfig], source_partitions: int) -> None:
        self.config_for = config_for
        self.source_partitions = source_partitions
        self._detectors: dict[str, BrandDetector] = {}
        self._partition_of: dict[str, int] = {}
        # Watermark of a detect partition = min over all raw (source) partitions of the newest event
        # time each has reported (none until every one has): a consumer that runs ahead on one raw
        # partition cannot make the events of another raw partition late.
        self._sources: dict[int, dict[int, float]] = {}
        self._ticked: dict[int, int] = {}  # partition -> last bucket index all brands advanced to
        self._primed: set[int] = set()

    def forget(self, partitions: set[int] | None = None) -> None:
        """Drop cached state (after a rebalance); the table stays the source of truth."""
        if partitions is None:
            self._detectors.clear()
            self._partition_of.clear()
            self._sources.clear()
            self._ticked.clear()
            self._primed.clear()
            return
        for brand, partition in list(self._partition_of.items()):
            if partition in partitions:
                del self._partition_of[brand]
                self._detectors.pop(brand, None)
        for partition in partitions:
            self._sources.pop(partition, None)
            self._ticked.pop(partition, None)
            self._primed.discard(partition)

    def prime(
        self,
        partition: int,
        stored_brands: Callable[[int], Iterable[str]],
        load: Callable[[str], bytes | None],
    ) -> None:
        """Once per assignment of a partition: load every brand the table holds for it.

        Without this, a brand that falls silent after a restart or a rebalance would not be
        advanced by the partition's progress (only cached brands are) and an open alert would never
        resolve. ``stored_brands(partition)`` is only called the first time.
        """
        if partition in self._primed:
            return
        self._primed.add(partition)
        for brand in sorted(stored_brands(partition)):
            self.detector(brand, partition, load)

    def detector(
        self, brand: str, partition: int, load: Callable[[str], bytes | None]
    ) -> BrandDetector:
        detector = self._detectors.get(brand)
        if detector is None:
            stored = load(brand)
            config = self.config_for(brand)
            detector = (
                BrandDetector.new(brand, config)
                if stored is None
                else BrandDetector.from_bytes(stored, config)
            )
            self._detectors[brand] = detector
            self._partition_of[brand] = partition
        return detector

    def on_batch(
        self,
        partition: int,
        brand: str,
        mentions: Sequence[ScoredMention],
        load: Callable[[str], bytes | None],
    ) -> BatchOutcome:
        outcome = BatchOutcome()
        detector = self.detector(brand, partition, load)
        for mention in mentions:
            seen = detector.observe(mention)
            if seen is Observation.LATE:
                outcome.late += 1
            elif seen is Observation.DUPLICATE:
                outcome.duplicates += 1
        outcome.dirty.add(brand)
        watermark = self.watermark(partition)
        if watermark is not None:
            outcome.alerts.extend(detector.advance(watermark))
        return outcome

    def watermark(self, partition: int) -> float | None:
        sources = self._sources.get(partition)
        if not sources or len(sources) < self.source_partitions:
            return None
        return min(sources.values())

    def on_progress(self, partition: int, source_partition: int, ts: float) -> BatchOutcome:
        """A raw partition reports the newest event time it has ingested.

        Advances every cached brand of this partition once per bucket of event time, so a brand
        that falls silent still closes its windows (and resolves its alerts).
        """
        outcome = BatchOutcome()
        sources = self._sources.setdefault(partition, {})
        if ts <= sources.get(source_partition, float("-inf")):
            return outcome
        sources[source_partition] = ts
        watermark = self.watermark(partition)
        if watermark is None:
            return outcome
        brands = sorted(b for b, p in self._partition_of.items() if p == partition)
        if not brands:
            return outcome
        config = self.config_for(brands[0])
        bucket = int((watermark - config.allowed_lateness_seconds) // config.bucket_seconds)
        if self._ticked.get(partition) == bucket:
            return outcome
        self._ticked[partition] = bucket
        for brand in brands:
            events = self._detectors[brand].advance(watermark)
            if events:
                outcome.alerts.extend(events)
                outcome.dirty.add(brand)
        return outcome

    def state(self, brand: str) -> bytes:
        return self._detectors[brand].to_bytes()

    def cached(self) -> dict[str, BrandDetector]:
        return dict(self._detectors)
