"""Confirmed delivery for the agents: a step's outputs are on the broker before its input is acked.

Faust's ``topic.send`` only queues a message: a delivery failure (broker unreachable past the
producer's retries) is logged by Faust and the input event is acked all the same, so its output
would be lost. The agents therefore hand every output of a step to :func:`deliver`, which waits for
the broker's acknowledgement of each message and sends the failed ones again, with backoff, until
they land. Redelivered outputs are harmless downstream (duplicate mentions are counted once, alert
records carry deterministic ids).

A worker asked to stop while outputs are still undelivered cannot wait any longer, and must not
let Faust commit the input offsets on its way out (that is the loss this module exists to prevent):
it exits at once with :data:`EXIT_UNDELIVERED`, and the restarted worker re-reads the input.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

EXIT_UNDELIVERED = 75  # EX_TEMPFAIL: try again (a supervisor restarts the worker)


@dataclass(frozen=True, slots=True)
class Output:
    """One message for a topic (a Faust topic or anything with the same ``send``)."""

    topic: Any
    value: bytes
    key: bytes | None = None
    partition: int | None = None


def _exit_undelivered(count: int) -> None:  # pragma: no cover - ends the process
    logger.critical(
        "stopping with %d outputs undelivered: exiting without committing the input offsets "
        "(exit code %d); the input is read again after a restart",
        count,
        EXIT_UNDELIVERED,
    )
    logging.shutdown()
    sys.stderr.flush()
    os._exit(EXIT_UNDELIVERED)


async def _settled(queued: Any) -> Any:
    """The broker's acknowledgement of a queued message (raises what its delivery raised)."""
    if isinstance(queued, BaseException):
        raise queued
    return await queued


async def deliver(
    outputs: Sequence[Output],
    *,
    on_retry: Callable[[int, BaseException], None] | None = None,
    first_backoff: float = 0.5,
    max_backoff: float = 30.0,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    on_cancel: Callable[[int], None] = _exit_undelivered,
) -> int:
    """Send ``outputs`` and wait until the broker has acknowledged every one of them.

    Messages whose delivery fails are sent again (in their original order) after a backoff that
    doubles up to ``max_backoff``; ``on_retry(n_failed, first_error)`` is called before each wait.
    Returns the number of resends. If the task is cancelled (the worker stops) while outputs are
    undelivered, ``on_cancel(n_undelivered)`` is called; by default it ends the process.
    """
    pending = list(outputs)
    resends = 0
    backoff = first_backoff
    try:
        while pending:
            # Queued one by one, in order, then awaited together. A resend can still land
            # behind a message that was queued after it: see deliver_in_phases.
            queued: list[Any] = []
            for out in pending:
                try:
                    queued.append(
                        await out.topic.send(key=out.key, value=out.value, partition=out.partition)
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - refused outright (buffer, metadata)
                    queued.append(exc)
            results = await asyncio.gather(*map(_settled, queued), return_exceptions=True)
            failed = [
                (out, res)
                for out, res in zip(pending, results, strict=True)
                if isinstance(res, BaseException)
            ]
            if not failed:
                return resends
            pending = [out for out, _ in failed]
            resends += len(pending)
            error = failed[0][1]
            logger.warning(
                "%d of %d outputs not delivered (%s: %s); sending them again in %.1f s",
                len(pending),
                len(results),
                type(error).__name__,
                error,
                backoff,
            )
            if on_retry is not None:
                on_retry(len(pending), error)
            await sleep(backoff)
            backoff = min(max_backoff, backoff * 2)
    except asyncio.CancelledError:
        if pending:
            on_cancel(len(pending))
        raise
    return resends


async def deliver_in_phases(
    phases: Sequence[Sequence[Output] | Callable[[], Sequence[Output]]],
    *,
    on_retry: Callable[[int, BaseException], None] | None = None,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    on_cancel: Callable[[int], None] = _exit_undelivered,
) -> int:
    """:func:`deliver` each phase in turn, each once the broker holds all the earlier ones.

    Within one :func:`deliver` call a failed message is sent again after the others, so it can
    land behind a message queued later on the same partition. A message that claims to follow
    others (the ingest agent's event-time progress, which tells the detector that everything up
    to a time has been sent) therefore goes in a later phase than the data it covers. A phase
    given as a callable is built only when its turn comes, after the earlier phases landed.
    """
    resends = 0
    for phase in phases:
        outputs = phase() if callable(phase) else phase
        resends += await deliver(outputs, on_retry=on_retry, sleep=sleep, on_cancel=on_cancel)
    return resends


class Processed:
    """The highest offset per input partition whose outputs this worker has delivered.

    Kafka hands a partition's messages over again from the committed offset after every rebalance
    (Faust seeks there once the tables are recovered, see ``pipeline.faust_fixes``): after a start
    on a backlog, what the agents had already processed comes round a second time. Their outputs
    are on the broker, so processing them again only costs time, and misleads: a mention resent
    hours of event time later is counted late by the detector. An agent asks ``fresh`` first and
    skips what it has done. Within a partition messages arrive in offset order, so one number per
    partition is enough. A partition is forgotten when it is revoked (another worker may process it
    meanwhile) and again when it is assigned (a step that was still running at the revocation may
    have marked it since): forgetting too much only costs a second processing, never a message.
    """

    def __init__(self) -> None:
        self._done: dict[tuple[str, int], int] = {}

    def fresh(self, topic: str, partition: int, offset: int) -> bool:
        """Not processed yet by this worker."""
        return offset > self._done.get((topic, partition), -1)

    def gaps(self, topic: str, partition: int, offsets: Iterable[int]) -> int:
        """Offsets missing before these fresh ones (ascending, of one partition): between the last
        processed offset, when known, and the first, and between consecutive ones. Kafka leaves
        such holes for transaction markers (one per producer transaction) and compaction; on a
        topic written without transactions, a hole is input the consumer skipped."""
        prev = self._done.get((topic, partition))
        missing = 0
        for offset in offsets:
            if prev is not None and offset > prev + 1:
                missing += offset - prev - 1
            prev = offset
        return missing

    def mark(self, topic: str, partition: int, offset: int) -> None:
        """The outputs of this message (and of the partition's earlier ones) are delivered."""
        key = (topic, partition)
        self._done[key] = max(offset, self._done.get(key, -1))

    def forget(self, partitions: Iterable[tuple[str, int]]) -> None:
        for key in partitions:
            self._done.pop(key, None)
