"""Detect agent: classified micro-batches in, crisis-risk events out, brand state in the table."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import orjson
from aiokafka.partitioner import murmur2

from pipeline.delivery import Output, deliver
from pipeline.errors import RecordError
from pipeline.processing import decode_classified
from pipeline.records import SourceCoordinates, dead_letter

if TYPE_CHECKING:
    import faust

    from pipeline.app import WorkerContext
    from pipeline.detection import BatchOutcome

logger = logging.getLogger(__name__)


def register(app: faust.App, ctx: WorkerContext) -> None:
    from pipeline.app import WATERMARK_KEY

    metrics = ctx.metrics
    processed = ctx.processed
    table = ctx.state_table
    detection = ctx.detection

    def load(brand: str) -> bytes | None:
        value = table.get(brand.encode())
        return None if value is None else bytes(value)

    def stored_brands(partition: int) -> list[str]:
        """Brands in the local table whose classified messages go to ``partition`` (the table is
        co-partitioned with the classified topic, keyed by brand like its messages)."""
        count = ctx.classified_partitions
        keys = [bytes(key) for key in table.keys()]
        return [key.decode() for key in keys if (murmur2(key) & 0x7FFFFFFF) % count == partition]

    async def publish(outcome: BatchOutcome) -> None:
        # Alerts first, confirmed by the broker, then the state that remembers them: a crash in
        # between re-emits the same alert records (deterministic ids), never loses one.
        await deliver(
            [
                Output(
                    ctx.alerts_topic,
                    orjson.dumps(alert.to_dict(), option=orjson.OPT_SORT_KEYS),
                    alert.brand.encode(),
                )
                for alert in outcome.alerts
            ],
            on_retry=metrics.count_delivery_retries,
        )
        for brand in sorted(outcome.dirty):
            table[brand.encode()] = detection.state(brand)
        for alert in outcome.alerts:
            label = metrics.brand_label(alert.brand)
            metrics.alerts.labels(brand=label, severity=alert.severity, status=alert.status).inc()
            metrics.risk_score.labels(brand=label).set(alert.score)
            logger.info(
                "alert %s %s %s %s score=%.1f at %s",
                alert.alert_id,
                alert.brand,
                alert.severity,
                alert.status,
                alert.score,
                alert.event_time,
            )

    async def handle(event: Any) -> None:
        """One classified message or progress marker: decode, detect, publish."""
        message = event.message
        partition = message.partition
        try:
            if event.key == WATERMARK_KEY:
                progress = orjson.loads(event.value)
                outcome = detection.on_progress(
                    partition, int(progress["source_partition"]), float(progress["ts"])
                )
                watermark = detection.watermark(partition)
                if watermark is not None:
                    metrics.watermark_seconds.labels(partition=str(partition)).set(watermark)
                await publish(outcome)
                return
            brand, arrived_at, mentions = decode_classified(event.value)
        except (RecordError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            logger.warning(
                "undecodable message on %s[%d]@%d: %s",
                message.topic,
                partition,
                message.offset,
                exc,
            )
            raw = event.value if isinstance(event.value, bytes) else b""
            letter = dead_letter(
                raw,
                "invalid_json",
                str(exc),
                SourceCoordinates(message.topic, partition, message.offset),
                time.time(),
            )
            await deliver(
                [Output(ctx.dead_letter_topic, letter)], on_retry=metrics.count_delivery_retries
            )
            metrics.dead_lettered.labels(reason="invalid_json").inc()
            return
        outcome = detection.on_batch(partition, brand, mentions, load)
        label = metrics.brand_label(brand)
        if outcome.late:
            metrics.late_events.labels(brand=label).inc(outcome.late)
        if outcome.duplicates:
            metrics.duplicate_events.labels(brand=label).inc(outcome.duplicates)
        await publish(outcome)
        if arrived_at is not None:
            metrics.arrival_to_detect_seconds.observe(max(0.0, time.time() - arrived_at))

    @app.agent(ctx.classified_topic, name="detect")
    async def detect(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            partition = message.partition
            if not processed.fresh(message.topic, partition, message.offset):
                metrics.redelivered.labels(agent="detect").inc()
                continue
            missing = processed.gaps(message.topic, partition, [message.offset])
            if missing:
                logger.warning("%s[%d]: %d offsets skipped", message.topic, partition, missing)
                metrics.offset_gaps.labels(agent="detect").inc(missing)
            detection.prime(partition, stored_brands, load)
            await handle(event)
            processed.mark(message.topic, partition, message.offset)
