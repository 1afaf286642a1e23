"""All of the project's Prometheus metrics, in one registry, one namespace, base units.

Label values are bounded: brand ids from the catalog (anything else is ``_other``), the fixed
dead-letter reasons, severities and statuses. Series are created up front so they exist at 0.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from pipeline.core.types import LABELS, SEVERITIES, STATUSES
from pipeline.records import DEAD_LETTER_REASONS

NAMESPACE = "emberwatch"
OTHER_BRAND = "_other"
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The worker's metrics; one instance per process, with a private registry."""

    def __init__(self, brands: Iterable[str] = (), registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        self.brands = frozenset(brands)
        r, ns = self.registry, NAMESPACE
        self.ingested = Counter(
            "mentions_ingested",
            "Raw messages consumed from the raw topic.",
            namespace=ns,
            registry=r,
        )
        self.dead_lettered = Counter(
            "mentions_dead_lettered",
            "Raw messages sent to the dead-letter topic.",
            ["reason"],
            namespace=ns,
            registry=r,
        )
        self.unmatched = Counter(
            "mentions_unmatched",
            "Valid mentions that named no catalog brand.",
            namespace=ns,
            registry=r,
        )
        self.classified = Counter(
            "mentions_classified",
            "Valid mentions matched to at least one brand and classified.",
            namespace=ns,
            registry=r,
        )
        self.brand_mentions = Counter(
            "brand_mentions",
            "Classified mentions per brand and label (a mention naming two "
            "brands counts for both).",
            ["brand", "label"],
            namespace=ns,
            registry=r,
        )
        self.late_events = Counter(
            "late_events",
            "Mentions older than the watermark minus the allowed lateness: "
            "counted, not added to a window.",
            ["brand"],
            namespace=ns,
            registry=r,
        )
        self.duplicate_events = Counter(
            "duplicate_events",
            "Mentions seen before (same source and id), counted once.",
            ["brand"],
            namespace=ns,
            registry=r,
        )
        self.alerts = Counter(
            "alerts",
            "Crisis-risk events published.",
            ["brand", "severity", "status"],
            namespace=ns,
            registry=r,
        )
        self.risk_score = Gauge(
            "brand_risk_score",
            "Latest crisis-risk score (0-100) per brand.",
            ["brand"],
            namespace=ns,
            registry=r,
        )
        self.open_alerts = Gauge(
            "open_alerts",
            "Crisis-risk episodes currently open, per brand and severity.",
            ["brand", "severity"],
            namespace=ns,
            registry=r,
        )
        self.ingest_batch_seconds = Histogram(
            "ingest_batch_duration_seconds",
            "Time to decode, match and classify one batch.",
            namespace=ns,
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.ingest_batch_size = Histogram(
            "ingest_batch_size_messages",
            "Raw messages per ingest batch.",
            namespace=ns,
            registry=r,
            buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000),
        )
        self.arrival_to_detect_seconds = Histogram(
            "arrival_to_detect_seconds",
            "From a raw message's arrival on Kafka to the end of the detector step that saw it.",
            namespace=ns,
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.redelivered = Counter(
            "redelivered_messages",
            "Input messages Kafka delivered again after this worker had processed them "
            "(skipped; see pipeline.delivery.Processed).",
            ["agent"],
            namespace=ns,
            registry=r,
        )
        self.offset_gaps = Counter(
            "input_offset_gaps",
            "Offsets missing between consecutive input messages of a partition: transaction "
            "markers or compaction, else input the consumer skipped (0 is expected without "
            "transactional producers).",
            ["agent"],
            namespace=ns,
            registry=r,
        )
        for agent in ("ingest", "detect"):
            self.redelivered.labels(agent=agent)
            self.offset_gaps.labels(agent=agent)
        self.delivery_retries = Counter(
            "delivery_retries",
            "Outputs sent again because the broker did not acknowledge them.",
            namespace=ns,
            registry=r,
        )
        self.watermark_seconds = Gauge(
            "detector_watermark_seconds",
            "Event-time watermark of the detector (Unix seconds).",
            ["partition"],
            namespace=ns,
            registry=r,
        )
        self._raw_partitions: set[int] = set()
        self.raw_lag = Gauge(
            "raw_lag_messages",
            "Messages on a raw partition not yet taken by this worker (end offset - next offset).",
            ["partition"],
            namespace=ns,
            registry=r,
        )
        self.raw_idle = Gauge(
            "raw_partition_idle",
            "1 while a raw partition is idle (silent and caught up) and no longer holds the"
            " watermark back.",
            ["partition"],
            namespace=ns,
            registry=r,
        )
        for reason in DEAD_LETTER_REASONS:
            self.dead_lettered.labels(reason=reason)
        for brand in sorted(self.brands):
            for label in LABELS:
                self.brand_mentions.labels(brand=brand, label=label)
            self.late_events.labels(brand=brand)
            self.duplicate_events.labels(brand=brand)
            self.risk_score.labels(brand=brand)
            for severity in SEVERITIES:
                self.open_alerts.labels(brand=brand, severity=severity)
                for status in STATUSES:
                    self.alerts.labels(brand=brand, severity=severity, status=status)

    def count_delivery_retries(self, n: int, _error: BaseException) -> None:
        """``on_retry`` hook of :func:`pipeline.delivery.deliver`."""
        self.delivery_retries.inc(n)

    def set_raw_partitions(
        self, lag: dict[int, int | None], idle: Iterable[int], assigned: Iterable[int]
    ) -> None:
        """Lag and idleness of the assigned raw partitions; others' series are dropped."""
        idle, assigned = set(idle), set(assigned)
        for part in self._raw_partitions - assigned:  # revoked in a rebalance
            for gauge in (self.raw_lag, self.raw_idle):
                with contextlib.suppress(KeyError):
                    gauge.remove(str(part))
        self._raw_partitions = assigned
        for part in sorted(assigned):
            behind = lag.get(part)
            if behind is not None:
                self.raw_lag.labels(partition=str(part)).set(behind)
            self.raw_idle.labels(partition=str(part)).set(1 if part in idle else 0)

    def brand_label(self, brand: str) -> str:
        return brand if brand in self.brands else OTHER_BRAND

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
