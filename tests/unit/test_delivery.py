"""deliver(): outputs are confirmed by the broker before the step ends; failures are sent again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pipeline.delivery import Output, Processed, deliver, deliver_in_phases


class FlakyTopic:
    """A topic whose first ``fail_first`` deliveries of a value fail (or whose send raises)."""

    def __init__(self, fail_first: dict[bytes, int], *, refuse: bool = False) -> None:
        self.fail_first = dict(fail_first)
        self.refuse = refuse
        self.attempts: list[bytes] = []
        self.delivered: list[tuple[bytes | None, bytes, int | None]] = []

    async def send(self, *, key: bytes | None, value: bytes, partition: int | None) -> Any:
        self.attempts.append(value)
        left = self.fail_first.get(value, 0)
        if left and self.refuse:
            self.fail_first[value] = left - 1
            raise RuntimeError("buffer full")
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        if left:
            self.fail_first[value] = left - 1
            fut.set_exception(ConnectionError("broker unreachable"))
        else:
            self.delivered.append((key, value, partition))
            fut.set_result("ok")
        return fut


async def no_sleep(_seconds: float) -> None:
    return None


async def test_everything_delivered_first_time() -> None:
    topic = FlakyTopic({})
    outs = [Output(topic, b"a", b"k", 1), Output(topic, b"b")]
    assert await deliver(outs, sleep=no_sleep) == 0
    assert topic.delivered == [(b"k", b"a", 1), (None, b"b", None)]


@pytest.mark.parametrize("refuse", [False, True])
async def test_failed_outputs_are_sent_again_in_order_with_growing_backoff(refuse: bool) -> None:
    topic = FlakyTopic({b"b": 2, b"d": 1}, refuse=refuse)
    waits: list[float] = []
    retries: list[int] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    outs = [Output(topic, v) for v in (b"a", b"b", b"c", b"d")]
    resends = await deliver(
        outs,
        sleep=record,
        first_backoff=1.0,
        max_backoff=1.5,
        on_retry=lambda n, _exc: retries.append(n),
    )
    assert resends == 3
    assert retries == [2, 1]
    assert waits == [1.0, 1.5]
    assert topic.attempts == [b"a", b"b", b"c", b"d", b"b", b"d", b"b"]
    assert sorted(v for _, v, _ in topic.delivered) == [b"a", b"b", b"c", b"d"]


async def test_stopping_with_undelivered_outputs_calls_on_cancel() -> None:
    topic = FlakyTopic({b"a": 1000})
    undelivered: list[int] = []
    task = asyncio.ensure_future(
        deliver([Output(topic, b"a"), Output(topic, b"b")], on_cancel=undelivered.append)
    )
    await asyncio.sleep(0.05)  # in its first backoff
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert undelivered == [1]
    assert [v for _, v, _ in topic.delivered] == [b"b"]


async def test_a_later_phase_waits_until_the_earlier_one_has_landed() -> None:
    # "data" fails once: within one deliver() its resend lands behind "progress"; in phases it
    # lands first, and the second phase is built only after the first one landed.
    topic = FlakyTopic({b"data": 1})
    built_after: list[list[bytes]] = []

    def progress_phase() -> list[Output]:
        built_after.append([v for _, v, _ in topic.delivered])
        return [Output(topic, b"progress")]

    resends = await deliver_in_phases(
        [[Output(topic, b"other"), Output(topic, b"data")], progress_phase], sleep=no_sleep
    )
    assert resends == 1
    assert [v for _, v, _ in topic.delivered] == [b"other", b"data", b"progress"]
    assert built_after == [[b"other", b"data"]]

    one_call = FlakyTopic({b"data": 1})
    await deliver(
        [Output(one_call, b"other"), Output(one_call, b"data"), Output(one_call, b"progress")],
        sleep=no_sleep,
    )
    assert [v for _, v, _ in one_call.delivered] == [b"other", b"progress", b"data"]


def test_processed_skips_what_was_done_and_only_that() -> None:
    processed = Processed()
    assert processed.fresh("raw", 0, 0)
    processed.mark("raw", 0, 41)
    assert not processed.fresh("raw", 0, 41)  # handed over again after a rewind
    assert not processed.fresh("raw", 0, 7)
    assert processed.fresh("raw", 0, 42)
    assert processed.fresh("raw", 1, 7)  # another partition
    assert processed.fresh("classified", 0, 7)  # another topic
    processed.mark("raw", 0, 12)  # never moves back
    assert not processed.fresh("raw", 0, 41)


def test_a_revoked_partition_is_forgotten() -> None:
    processed = Processed()
    processed.mark("raw", 0, 41)
    processed.mark("raw", 1, 41)
    processed.forget([("raw", 0), ("raw", 9)])
    assert processed.fresh("raw", 0, 5)
    assert not processed.fresh("raw", 1, 5)


def test_gaps_count_the_offsets_missing_before_fresh_messages() -> None:
    processed = Processed()
    assert processed.gaps("raw", 0, [5, 6, 7]) == 0  # nothing processed yet: the start is unknown
    assert processed.gaps("raw", 0, [5, 7, 10]) == 3  # 6, 8 and 9
    processed.mark("raw", 0, 7)
    assert processed.gaps("raw", 0, [8, 9]) == 0
    assert processed.gaps("raw", 0, [2000]) == 1992  # what the consumer dropped after a seek
    assert processed.gaps("raw", 1, [2000]) == 0
