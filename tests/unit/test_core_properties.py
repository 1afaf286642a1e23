"""Property tests of the detector core (hypothesis): for any input, not just the seeded streams.

* the alert lifecycle keeps its invariants for any sequence of bucket scores;
* any arrival order whose disorder stays within the allowed lateness gives the same scores and
  alerts as sorted input;
* a detector saved and restored at any point continues exactly as one that never stopped;
* redelivered mentions (same source and id) change nothing but the duplicate counter;
* every observed mention is accepted, late or a duplicate, and scores stay in [0, 100].

The detector needs hours of history before it scores; the streams here are a few hours long, so
the configuration shortens the history it waits for (``min_history_hours``, source warm-up).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.core.config import DetectorConfig
from pipeline.core.detector import AlertEvent, BrandDetector, Observation, detect_stream
from pipeline.core.lifecycle import LEVELS, LifecycleState, level_of, step
from pipeline.core.types import ScoredMention

T0 = int(datetime(2025, 6, 2, tzinfo=UTC).timestamp())  # a Monday, 00:00 UTC
CFG = DetectorConfig(min_history_hours=1.0, source_warmup_hours=0.0)
PROFILE = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- lifecycle --------------------------------------------------------------------------------

score_values = st.one_of(
    st.floats(0, 100), st.sampled_from([0.0, 19.9, 20.0, 34.9, 35.0, 54.9, 55.0, 75.0, 100.0])
)
# runs of equal scores, as real bucket scores come: quiet spells long enough to resolve, surges
# long enough to confirm
scores = st.lists(st.tuples(score_values, st.integers(1, 45)), max_size=40).map(
    lambda runs: [value for value, length in runs for _ in range(length)]
)


@PROFILE
@given(scores, st.integers(1, 4), st.integers(1, 40), st.integers(0, 120))
def test_lifecycle_invariants_hold_for_any_scores(
    values: list[float], confirm: int, quiet_buckets: int, cooldown_buckets: int
) -> None:
    cfg = replace(
        CFG,
        confirm_buckets=confirm,
        resolve_quiet_seconds=60 * quiet_buckets,
        cooldown_seconds=60 * cooldown_buckets,
    )
    state = LifecycleState()
    episodes: dict[str, list[tuple[int, str, str, int]]] = {}
    open_id: str | None = None
    last_resolved: int | None = None
    for i, score in enumerate(values):
        start = T0 + 60 * i
        before = state
        state, out = step(state, "acme", start, start + 60, score, cfg)
        assert len(out) <= 1
        recent = (*before.recent, score)[-confirm:]
        sustained = min(recent) if len(recent) == confirm else -1.0
        for t in out:
            episodes.setdefault(t.alert_id, []).append((t.seq, t.status, t.severity, start + 60))
            if t.status == "opened":
                assert open_id is None  # one episode at a time
                assert LEVELS.index(t.severity) == level_of(sustained, cfg) >= 0
                if t.severity == "watch" and last_resolved is not None:
                    assert start + 60 - last_resolved >= cfg.cooldown_seconds
                open_id = t.alert_id
            elif t.status == "escalated":
                assert t.alert_id == open_id
                assert LEVELS.index(t.severity) == level_of(sustained, cfg)
            else:
                assert t.alert_id == open_id
                # resolved only after a full quiet period below the resolve threshold
                quiet = values[max(0, i - quiet_buckets + 1) : i + 1]
                assert len(quiet) == quiet_buckets
                assert all(v < cfg.resolve_threshold for v in quiet)
                open_id, last_resolved = None, start + 60
        assert (state.episode is None) == (open_id is None)
    for events in episodes.values():
        assert [seq for seq, *_ in events] == list(range(len(events)))
        assert events[0][1] == "opened"
        levels = [LEVELS.index(sev) for _, status, sev, _ in events if status != "resolved"]
        assert levels == sorted(set(levels))  # escalations strictly raise the severity
        assert all(status != "resolved" for _, status, *_ in events[:-1])
        if events[-1][1] == "resolved":
            assert events[-1][2] == LEVELS[levels[-1]]


# --- streams ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Draw:
    minute: int
    second: float
    negative: bool
    author: int
    source: str
    category: bool


def draws(max_minutes: int) -> st.SearchStrategy[list[Draw]]:
    one = st.builds(
        Draw,
        minute=st.integers(0, max_minutes),
        second=st.floats(0, 59.99),
        negative=st.booleans(),
        author=st.integers(0, 30),
        source=st.sampled_from(["x", "x", "x", "reddit"]),
        category=st.booleans(),
    )
    return st.lists(one, max_size=500)


@st.composite
def streams(draw: st.DrawFn) -> list[ScoredMention]:
    """Hours of background plus an optional burst: enough history for scores to move."""
    hours = draw(st.integers(2, 4))
    step = draw(st.sampled_from([17, 60, 120]))  # seconds between background mentions
    background = [
        Draw(t // 60, t % 60 + 0.5, t % 7 == 0, t % 17, "x", False)
        for t in range(0, hours * 3600, step)
    ]
    burst_at = draw(st.integers(60, hours * 60))
    burst = [
        replace(d, minute=burst_at + d.minute % 40) for d in draw(draws(max_minutes=hours * 60))
    ]
    out = [
        ScoredMention(
            brand="acme",
            source=d.source,
            mention_id=f"{k}",
            ts=T0 + 60.0 * d.minute + d.second,
            text="leak outage scandal" if d.negative else "nice day",
            label="negative" if d.negative else "neutral",
            p_negative=0.9 if d.negative else 0.1,
            categories={"data_breach": 0.9} if d.category else {},
            author_id=f"a{d.author}",
            followers=100 * d.author,
        )
        for k, d in enumerate(background + burst)
    ]
    return sorted(out, key=lambda m: (m.ts, m.mention_id))


def run(mentions: list[ScoredMention]) -> tuple[list[AlertEvent], list[tuple[int, float]], dict]:
    """Drive one detector as the backtest does (watermark = newest event time so far)."""
    det = BrandDetector.new("acme", CFG)
    events: list[AlertEvent] = []
    bucket_scores: list[tuple[int, float]] = []
    seen: dict[Observation, int] = dict.fromkeys(Observation, 0)
    wm = float("-inf")
    for m in mentions:
        seen[det.observe(m)] += 1
        if m.ts > wm:
            wm = m.ts
            ev, sc = det.advance_scored(wm)
            events.extend(ev)
            bucket_scores.extend(sc)
    return (
        events,
        bucket_scores,
        {"seen": seen, "late": det.late_events, "dup": det.duplicate_events},
    )


def delayed(mentions: list[ScoredMention], seed: int, max_delay: float) -> list[ScoredMention]:
    """Arrival order when each mention is held back by its own delay in [0, max_delay]: most
    arrive on time, a third at the very edge (the boundary is what can break), some anywhere."""
    rng = random.Random(seed)

    def delay() -> float:
        u = rng.random()
        if u < 0.4:
            return 0.0
        if u < 0.75:
            return max_delay * (1.0 - rng.random() * 0.02)
        return max_delay * rng.random()

    keyed = sorted((m.ts + delay(), i, m) for i, m in enumerate(mentions))
    return [m for _, _, m in keyed]


@PROFILE
@given(streams(), st.integers(0, 2**32))
def test_disorder_within_the_lateness_gives_the_sorted_result(
    mentions: list[ScoredMention], seed: int
) -> None:
    # a mention up to 119.9 s late (allowed: 120) can still find its bucket open
    events, bucket_scores, counts = run(mentions)
    events_b, bucket_scores_b, counts_b = run(
        delayed(mentions, seed, CFG.allowed_lateness_seconds - 0.1)
    )
    assert bucket_scores_b == bucket_scores
    assert events_b == events
    assert counts_b["late"] == counts["late"] == 0
    assert all(0.0 <= s <= 100.0 for _, s in bucket_scores)
    # the driver used by the backtest agrees with this one
    assert list(detect_stream(mentions, lambda _b: CFG)) == events


@PROFILE
@given(streams(), st.floats(0, 1))
def test_restored_state_continues_exactly(mentions: list[ScoredMention], where: float) -> None:
    cut = int(where * len(mentions))
    straight = BrandDetector.new("acme", CFG)
    resumed = BrandDetector.new("acme", CFG)
    out_a: list[AlertEvent] = []
    out_b: list[AlertEvent] = []
    for i, m in enumerate(mentions):
        if i == cut:
            data = resumed.to_bytes()
            resumed = BrandDetector.from_bytes(data, CFG)
            assert resumed.to_bytes() == data
        straight.observe(m)
        resumed.observe(m)
        out_a.extend(straight.advance(m.ts))
        out_b.extend(resumed.advance(m.ts))
    assert out_b == out_a
    assert resumed.to_bytes() == straight.to_bytes()


@PROFILE
@given(streams(), st.lists(st.integers(0, 10_000), max_size=60), st.floats(0, 100))
def test_redeliveries_change_nothing_but_the_duplicate_count(
    mentions: list[ScoredMention], picks: list[int], lag: float
) -> None:
    if not mentions:
        return
    # a redelivery arrives up to 100 s after the original, within the allowed lateness and the
    # dedup retention
    again = {picks_i % len(mentions) for picks_i in picks}
    copies = [replace(mentions[i], text="redelivered") for i in sorted(again)]
    arrivals = [(m.ts, 0, k, m) for k, m in enumerate(mentions)]
    arrivals += [(m.ts + lag, 1, k, m) for k, m in enumerate(copies)]
    merged = [m for *_, m in sorted(arrivals, key=lambda a: a[:3])]
    events, bucket_scores, _ = run(mentions)
    events_b, bucket_scores_b, counts_b = run(merged)
    assert bucket_scores_b == bucket_scores
    assert [(e.alert_id, e.event_id, e.score) for e in events_b] == [
        (e.alert_id, e.event_id, e.score) for e in events
    ]
    assert counts_b["dup"] == len(copies)
    assert counts_b["seen"][Observation.DUPLICATE] == len(copies)


@PROFILE
@given(streams(), st.integers(0, 2**32), st.floats(0, 3 * 3600.0))
def test_every_mention_is_accepted_late_or_duplicate(
    mentions: list[ScoredMention], seed: int, max_delay: float
) -> None:
    # arbitrary disorder, far beyond the lateness: nothing vanishes without being counted
    _, bucket_scores, counts = run(delayed(mentions, seed, max_delay))
    seen = counts["seen"]
    assert sum(seen.values()) == len(mentions)
    assert seen[Observation.LATE] == counts["late"]
    assert seen[Observation.DUPLICATE] == counts["dup"] == 0
    assert all(0.0 <= s <= 100.0 for _, s in bucket_scores)
    starts = [b for b, _ in bucket_scores]
    assert starts == sorted(set(starts))  # buckets close once each, in order


def test_the_stream_strategy_can_alert() -> None:
    """Guard against vacuous properties: a burst in these streams does raise alerts."""
    background = [
        ScoredMention(
            "acme",
            "x",
            f"b{m}",
            T0 + 60.0 * m + 7,
            "nice day",
            "neutral",
            0.1,
            author_id=f"a{m % 17}",
        )
        for m in range(0, 180, 2)
    ]
    burst = [
        ScoredMention(
            "acme",
            "x",
            f"c{k}",
            T0 + 150 * 60 + 6.0 * k,
            "leak outage scandal",
            "negative",
            0.9,
            categories={"data_breach": 0.9},
            author_id=f"u{k}",
            followers=5000,
        )
        for k in range(200)
    ]
    events, bucket_scores, _ = run(sorted(background + burst, key=lambda m: m.ts))
    assert max(s for _, s in bucket_scores) >= CFG.warning_threshold
    assert any(e.severity != "watch" for e in events)
