"""Ingest agent: raw mentions in, classified micro-batches (keyed by brand) and dead letters out."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import orjson
from aiokafka.errors import ConsumerStoppedError, KafkaError

from pipeline.delivery import Output, deliver, deliver_in_phases
from pipeline.processing import IdlePartitions, RawMessage, encode_classified_chunks
from pipeline.records import SourceCoordinates, dead_letter

if TYPE_CHECKING:
    import faust

    from pipeline.app import WorkerContext

logger = logging.getLogger(__name__)


def register(app: faust.App, ctx: WorkerContext) -> None:
    from pipeline.app import WATERMARK_KEY

    settings = ctx.settings
    metrics = ctx.metrics
    partitions = ctx.classified_partitions

    # Event-time progress of each raw partition goes to every detect partition: the detector's
    # watermark is the minimum over raw partitions (see pipeline.detection.LiveDetection).
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classify")
    progress_sent: dict[int, float] = {}
    quiet = IdlePartitions(settings.idle_partition_seconds)
    processed = ctx.processed
    raw_name = settings.topic_raw

    def progress(part: int, newest: float, *, idle: bool = False) -> list[Output]:
        if newest <= progress_sent.get(part, float("-inf")):
            return []
        progress_sent[part] = newest
        body = orjson.dumps({"source_partition": part, "ts": newest, "idle": idle})
        return [
            Output(ctx.classified_topic, body, WATERMARK_KEY, target)
            for target in range(partitions)
        ]

    def progress_of(newest_by_part: dict[int, float]) -> list[Output]:
        return [
            out for part, newest in sorted(newest_by_part.items()) for out in progress(part, newest)
        ]

    @app.timer(interval=max(2.0, settings.idle_partition_seconds / 3))  # type: ignore[untyped-decorator]
    async def raw_partitions() -> None:
        """Lag of each assigned raw partition, and idleness: a raw partition with no input for
        a while, and nothing left to take, stops holding the watermark back. It is reported at
        the newest event time of the others (Flink's idle-source rule; see
        pipeline.processing.IdlePartitions)."""
        assignment = app.consumer.assignment()
        raw = {tp.partition: tp for tp in assignment if tp.topic == settings.topic_raw}
        quiet.keep(raw)
        if not raw:
            metrics.set_raw_partitions({}, (), ())
            return
        try:
            positions, end_offsets = await asyncio.wait_for(lag_view(list(raw.values())), 10)
        except (TimeoutError, KafkaError, ConsumerStoppedError) as exc:
            # a broker hiccup or a rebalance: ask again on the next tick
            logger.debug("raw partitions: no lag view this tick (%r)", exc)
            return
        silent = quiet.silent(raw) if progress_sent else []
        idle = quiet.idle(silent, positions, end_offsets, await starts_of([raw[p] for p in silent]))
        metrics.set_raw_partitions(quiet.lag(positions, end_offsets), idle, raw)
        if not idle:
            return
        newest = max(progress_sent.values())
        for part in idle:
            # nothing is acked on these: at shutdown they may simply be dropped
            await deliver(
                progress(part, newest, idle=True),
                on_retry=metrics.count_delivery_retries,
                on_cancel=lambda _n: None,
            )

    async def starts_of(tps: list[Any]) -> dict[int, int | None]:
        """Where consumption of these partitions began: the committed offset, else the earliest.

        Faust keeps the committed offsets in ``Consumer._committed_offset`` (no public accessor
        in faust-streaming 0.15); without it, or before any commit, the earliest offset is used.
        """
        if not tps:
            return {}
        committed = getattr(app.consumer, "_committed_offset", {})
        starts = {tp.partition: committed.get(tp) for tp in tps}
        missing = [tp for tp in tps if starts[tp.partition] is None]
        if missing:
            try:
                earliest = await asyncio.wait_for(app.consumer.earliest_offsets(*missing), 10)
            except (TimeoutError, KafkaError, ConsumerStoppedError):
                earliest = {}
            for tp in missing:
                starts[tp.partition] = earliest.get(tp)
        return starts

    async def lag_view(tps: list[Any]) -> tuple[dict[int, int | None], dict[int, int | None]]:
        """The consumer's fetch position and the broker's end offset of these partitions."""
        # positions first: data arriving meanwhile raises the end offset, never the reverse
        found = await asyncio.gather(*(app.consumer.position(tp) for tp in tps))
        positions = {tp.partition: position for tp, position in zip(tps, found, strict=True)}
        ends = await app.consumer.highwaters(*tps)
        return positions, {tp.partition: end for tp, end in ends.items()}

    def count_gaps(events: list[Any]) -> None:
        by_partition: dict[int, list[int]] = {}
        for event in events:
            by_partition.setdefault(event.message.partition, []).append(event.message.offset)
        missing = sum(
            processed.gaps(raw_name, partition, sorted(offsets))
            for partition, offsets in by_partition.items()
        )
        if missing:
            logger.warning(
                "raw offsets skipped by the consumer (or transaction markers): %d", missing
            )
            metrics.offset_gaps.labels(agent="ingest").inc(missing)

    def mark_processed(taken: dict[int, int]) -> None:
        for partition, offset in taken.items():
            processed.mark(raw_name, partition, offset)

    @app.agent(ctx.raw_topic, name="ingest")
    async def ingest(stream: Any) -> None:
        loop = asyncio.get_running_loop()
        async for events in stream.take_events(
            settings.ingest_batch_size, within=settings.ingest_batch_seconds
        ):
            started = time.perf_counter()
            # seen when taken, not once processed: a long batch must not make its partitions idle
            taken: dict[int, int] = {}  # the last offset taken per partition
            for event in events:
                part = event.message.partition
                taken[part] = max(event.message.offset, taken.get(part, -1))
            quiet.taken(taken)
            fresh = [
                e
                for e in events
                if processed.fresh(raw_name, e.message.partition, e.message.offset)
            ]
            if len(fresh) < len(events):
                metrics.redelivered.labels(agent="ingest").inc(len(events) - len(fresh))
            count_gaps(fresh)
            events = fresh
            if not events:
                continue
            batch = [
                RawMessage(
                    value=event.value
                    if isinstance(event.value, bytes)
                    else bytes(event.value or b""),
                    coords=SourceCoordinates(
                        event.message.topic, event.message.partition, event.message.offset
                    ),
                    arrived_at=event.message.timestamp,
                )
                for event in events
            ]
            try:
                # Classification is CPU-bound: run it off the event loop so that the loop keeps
                # feeding the consumer and the producer meanwhile (one batch at a time, in order).
                result = await loop.run_in_executor(executor, ctx.ingestor.process, batch)
            except Exception:
                # A bug, not bad data: keep the worker alive and the input inspectable.
                logger.exception("ingest batch failed; dead-lettering its %d messages", len(batch))
                await deliver(
                    [
                        Output(
                            ctx.dead_letter_topic,
                            dead_letter(
                                message.value,
                                "internal_error",
                                "ingest failed",
                                message.coords,
                                time.time(),
                            ),
                        )
                        for message in batch
                    ],
                    on_retry=metrics.count_delivery_retries,
                )
                mark_processed(taken)
                metrics.ingested.inc(len(batch))
                metrics.dead_lettered.labels(reason="internal_error").inc(len(batch))
                continue
            now = time.time()
            outputs = [
                Output(
                    ctx.dead_letter_topic,
                    dead_letter(dead.raw, dead.reason, dead.error, dead.coords, now),
                )
                for dead in result.dead
            ]
            for brand, mentions in result.by_brand.items():
                outputs.extend(
                    Output(ctx.classified_topic, chunk, brand.encode())
                    for chunk in encode_classified_chunks(brand, mentions, result.first_arrival)
                )
            # Confirmed before take_events acks the batch (at-least-once, see pipeline.delivery);
            # the progress goes out only once the broker holds the data it covers, so a resent
            # chunk never lands behind it (it would count as late).
            await deliver_in_phases(
                [
                    outputs,
                    functools.partial(progress_of, result.progress),
                ],
                on_retry=metrics.count_delivery_retries,
            )
            mark_processed(taken)
            for dead in result.dead:
                metrics.dead_lettered.labels(reason=dead.reason).inc()
            for brand, mentions in result.by_brand.items():
                label = metrics.brand_label(brand)
                for mention in mentions:
                    metrics.brand_mentions.labels(brand=label, label=mention.label).inc()
            metrics.ingested.inc(len(batch))
            metrics.classified.inc(result.classified)
            metrics.unmatched.inc(result.unmatched)
            metrics.ingest_batch_size.observe(len(batch))
            metrics.ingest_batch_seconds.observe(time.perf_counter() - started)
