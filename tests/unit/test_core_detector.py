"""BrandDetector and detect_stream: determinism, serialisation, benign spikes, cold start."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime

import orjson
import pytest

from pipeline.core.detector import (
    AlertEvent,
    BrandDetector,
    DetectorConfig,
    Observation,
    detect_stream,
)
from pipeline.core.types import ScoredMention
from pipeline.errors import ConfigError, RecordError

T0 = datetime(2024, 3, 4, tzinfo=UTC).timestamp()  # a Monday, 00:00 UTC
DAY = 86400.0


def stream(
    seed: int,
    days: float,
    rate_per_min: float = 1.0,
    neg_share: float = 0.3,
    brand: str = "acme",
    spike_at: float | None = None,
    spike_minutes: int = 60,
    spike_factor: float = 10.0,
    spike_neg_share: float = 0.85,
    source: str = "x",
) -> list[ScoredMention]:
    """Poisson mentions with a daily cycle, optionally a spike (crisis or benign)."""
    rng = random.Random(seed)
    out: list[ScoredMention] = []
    minutes = int(days * 1440)
    for k in range(minutes):
        t = T0 + 60.0 * k
        hod = (k // 60) % 24
        rate = rate_per_min * (0.4 + 1.2 * math.sin(math.pi * hod / 24.0) ** 2)
        share = neg_share
        in_spike = spike_at is not None and spike_at <= t < spike_at + 60 * spike_minutes
        if in_spike:
            rate *= spike_factor
            share = spike_neg_share
        count = _poisson(rng, rate)
        for _ in range(count):
            neg = rng.random() < share
            label = "negative" if neg else ("positive" if in_spike else "neutral")
            out.append(
                ScoredMention(
                    brand=brand,
                    source=source,
                    mention_id=f"{brand}-{seed}-{len(out)}",
                    ts=t + rng.random() * 60.0,
                    text="terrible outage again #fail" if neg else "nice launch #love",
                    label=label,
                    p_negative=0.9 if neg else 0.1,
                    author_id=f"u{rng.randrange(1_000_000)}",
                    followers=rng.choice([10, 100, 1000, 50_000]),
                )
            )
    out.sort(key=lambda m: (m.ts, m.mention_id))
    return out


def _poisson(rng: random.Random, lam: float) -> int:
    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p < limit:
            return k
        k += 1


def run(mentions: list[ScoredMention], cfg: DetectorConfig | None = None) -> list[AlertEvent]:
    c = cfg or DetectorConfig()
    return list(detect_stream(mentions, lambda _b: c))


def fed(mentions: list[ScoredMention]) -> BrandDetector:
    """A new default detector after observing ``mentions`` and advancing to the last of them."""
    det = BrandDetector.new("acme", DetectorConfig())
    for m in mentions:
        det.observe(m)
    det.advance(mentions[-1].ts)
    return det


def shuffled_within(
    mentions: list[ScoredMention], seed: int, max_delay: float
) -> list[ScoredMention]:
    rng = random.Random(seed)
    keyed = [(m.ts + rng.random() * max_delay, i, m) for i, m in enumerate(mentions)]
    keyed.sort()
    return [m for _, _, m in keyed]


@pytest.fixture(scope="module")
def crisis_stream() -> list[ScoredMention]:
    return stream(7, days=2.5, spike_at=T0 + 2 * DAY + 10 * 3600)


def test_crisis_opens_one_episode_and_escalates(crisis_stream: list[ScoredMention]) -> None:
    events = run(crisis_stream)
    assert events, "the crisis was not detected"
    ids = {e.alert_id for e in events}
    assert len(ids) == 1
    first = events[0]
    assert first.status == "opened"
    onset = T0 + 2 * DAY + 10 * 3600
    severe = [e for e in events if e.severity in ("warning", "critical")]
    assert severe
    t_detect = datetime.fromisoformat(severe[0].event_time).timestamp() - onset
    assert 0 < t_detect <= 20 * 60
    assert [e.seq for e in events] == list(range(len(events)))
    assert len({e.event_id for e in events}) == len(events)
    record = first.to_dict()
    assert record["schema"] == "emberwatch.alert/v1"
    assert record["alert_id"].startswith("ew-")
    orjson.dumps(record)  # JSON-safe
    ev = record["evidence"]
    assert set(ev["drivers"]) == {
        "volume",
        "negativity",
        "acceleration",
        "newcomers",
        "reach",
        "category",
    }
    assert ev["top_mentions"] and all(len(m["text"]) <= 280 for m in ev["top_mentions"])
    assert ev["windows"]["15m"]["count"] > ev["windows"]["15m"]["expected"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_out_of_order_within_lateness_equals_sorted(
    crisis_stream: list[ScoredMention], seed: int
) -> None:
    expected = run(crisis_stream)
    got = run(shuffled_within(crisis_stream, seed, max_delay=110.0))
    assert got == expected


def test_ids_are_deterministic_across_runs(crisis_stream: list[ScoredMention]) -> None:
    a = run(crisis_stream)
    b = run(list(crisis_stream))
    assert [(e.alert_id, e.event_id) for e in a] == [(e.alert_id, e.event_id) for e in b]


def test_duplicates_do_not_change_the_result(crisis_stream: list[ScoredMention]) -> None:
    rng = random.Random(3)
    doubled = list(crisis_stream)
    for m in rng.sample(crisis_stream, 500):
        doubled.append(replace(m, ts=m.ts))  # same source and id: a redelivery
    doubled = shuffled_within(doubled, 5, 60.0)
    a = run(crisis_stream)
    b = run(doubled)

    def essence(events: list[AlertEvent]) -> list[tuple[object, ...]]:
        return [(e.alert_id, e.event_id, e.score, e.evidence["windows"]) for e in events]

    assert a
    assert essence(a) == essence(b)


def test_state_round_trip_is_exact_and_resumes_identically(
    crisis_stream: list[ScoredMention],
) -> None:
    cfg = DetectorConfig()
    straight = BrandDetector.new("acme", cfg)
    resumed = BrandDetector.new("acme", cfg)
    out_a: list[AlertEvent] = []
    out_b: list[AlertEvent] = []
    batch = 400
    for i in range(0, len(crisis_stream), batch):
        chunk = crisis_stream[i : i + batch]
        for m in chunk:
            straight.observe(m)
            resumed.observe(m)
        wm = chunk[-1].ts
        out_a.extend(straight.advance(wm))
        out_b.extend(resumed.advance(wm))
        data = resumed.to_bytes()
        resumed = BrandDetector.from_bytes(data, cfg)
        assert resumed.to_bytes() == data
    assert out_a == out_b
    assert out_a
    assert len(straight.to_bytes()) < 400_000


def test_from_bytes_rejects_other_bucket_size_and_garbage() -> None:
    det = BrandDetector.new("acme", DetectorConfig())
    with pytest.raises(ConfigError):
        BrandDetector.from_bytes(det.to_bytes(), DetectorConfig(bucket_seconds=30))
    with pytest.raises(ConfigError):
        BrandDetector.from_bytes(b"not json", DetectorConfig())


def test_positive_spike_raises_at_most_a_watch() -> None:
    benign = stream(
        11, days=2.5, spike_at=T0 + 2 * DAY + 10 * 3600, spike_factor=12.0, spike_neg_share=0.05
    )
    events = run(benign)
    assert all(e.severity == "watch" for e in events)


def test_a_neutral_surge_warns_unless_volume_alone_is_held_at_watch() -> None:
    """Many people posting neutral mentions (a promotion, a viral brand post): volume alone may
    reach warning by default; ``volume_alone_warns = False`` holds it at watch."""
    base = stream(15, days=3.0)
    at = T0 + 2 * DAY + 15 * 3600
    rng = random.Random(16)
    surge = [
        ScoredMention(
            brand="acme",
            source="x",
            mention_id=f"promo-{k}",
            ts=at + rng.random() * 3600.0,
            text="RT @acme: our fleet is on fleek",
            label="neutral",
            p_negative=0.2,
            author_id=f"fan{k}",
        )
        for k in range(600)
    ]
    merged = sorted(base + surge, key=lambda m: (m.ts, m.mention_id))
    default = {e.severity for e in run(merged)}
    assert "warning" in default and "critical" not in default
    held = DetectorConfig.from_mapping(DetectorConfig(), {"volume_alone_warns": False})
    assert {e.severity for e in run(merged, held)} == {"watch"}


def neutral_reports(
    category: str, at: float, offsets: list[float], text: str
) -> list[ScoredMention]:
    """One neutral-reading mention of ``category`` a minute from ``at`` (plus its offset, s)."""
    return [
        ScoredMention(
            brand="acme",
            source="x",
            mention_id=f"{category}-{k}",
            ts=at + 60.0 * k + offset,
            text=text,
            label="neutral",
            p_negative=0.3,
            categories={category: 0.9},
            author_id=f"r{k}",
            followers=5000,
        )
        for k, offset in enumerate(offsets)
    ]


def test_surge_of_a_severe_category_warns_even_when_it_reads_neutral() -> None:
    """News-style reports of a breach (neutral text) at a brand that is already mostly negative:
    the data_breach mentions against their own near-zero baseline are the evidence."""
    base = stream(13, days=2.5, neg_share=0.7)
    at = T0 + 2 * DAY + 12 * 3600
    rng = random.Random(14)
    offsets = [rng.random() * 60.0 for _ in range(40)]
    reports = neutral_reports("data_breach", at, offsets, "acme confirms customer records exposed")
    events = run(sorted(base + reports, key=lambda m: (m.ts, m.mention_id)))
    severe = [e for e in events if e.severity in ("warning", "critical")]
    assert severe
    first = datetime.fromisoformat(severe[0].event_time).timestamp()
    assert at < first <= at + 20 * 60
    assert severe[0].evidence["categories"].get("data_breach", 0) >= 5
    assert not [e for e in run(base) if e.severity != "watch"]


def test_public_backlash_is_evidence_only_unless_a_brand_weighs_it() -> None:
    """The same neutral-reading reports, as backlash: by default (weight 0) no warning; with
    the category weighed (a per-brand override) they warn like any severe category."""
    base = stream(13, days=2.5, neg_share=0.7)
    at = T0 + 2 * DAY + 12 * 3600
    reports = neutral_reports(
        "public_backlash", at, [30.0] * 40, "acme under fire as boycott calls grow"
    )
    merged = sorted(base + reports, key=lambda m: (m.ts, m.mention_id))
    default = [e for e in run(merged) if e.severity in ("warning", "critical")]
    assert not default
    weighed = DetectorConfig.from_mapping(
        DetectorConfig(), {"category_weights": {"public_backlash": 1.0}}
    )
    severe = [e for e in run(merged, weighed) if e.severity in ("warning", "critical")]
    assert severe
    assert severe[0].evidence["categories"].get("public_backlash", 0) >= 5


def test_cold_start_never_warns() -> None:
    # a brand seen for the first time, straight into heavy and very negative traffic
    hot = stream(5, days=0.8, rate_per_min=3.0, neg_share=0.3, spike_at=T0 + 6 * 3600)
    events = run(hot)
    assert all(e.severity == "watch" for e in events)


def test_new_source_switched_on_is_not_a_crisis() -> None:
    base = stream(21, days=3.0)
    extra = stream(22, days=1.0, rate_per_min=5.0, source="reddit")
    extra = [replace(m, ts=m.ts + 2 * DAY, mention_id="r" + m.mention_id) for m in extra]
    merged = sorted(base + extra, key=lambda m: (m.ts, m.mention_id))
    events = run(merged)
    assert all(e.severity == "watch" for e in events)


def strays_then_collection(strays: int) -> list[ScoredMention]:
    """A few stray mentions over three days, then the brand's full traffic from day 3 (its
    collection switched on): the American Airlines pattern in the airline data set."""
    early = stream(40, days=0.1)[:strays]
    early = [replace(m, ts=T0 + (k + 0.5) * 3 * DAY / strays) for k, m in enumerate(early)]
    full = stream(41, days=1.6, rate_per_min=1.0)
    full = [replace(m, ts=m.ts + 3 * DAY, mention_id="f" + m.mention_id) for m in full]
    return early + full


def test_stray_mentions_before_a_collection_starts_are_no_history() -> None:
    mentions = strays_then_collection(4)
    events = run(mentions)
    assert events  # the switch-on is seen (watch), ...
    assert all(e.severity == "watch" for e in events)  # ... but it is not a crisis
    assert events[0].evidence["history_hours"] < 1.0  # the strays are no history
    # counted in hours only (the previous rule), three days of four mentions were a history
    by_hours = run(mentions, DetectorConfig(min_history_mentions=0))
    assert {e.severity for e in by_hours} & {"warning", "critical"}


def test_cold_start_hours_are_learned_as_they_were() -> None:
    # the clean cap (an hour far above expectation is learned at a cap) needs an expectation:
    # during cold start there is none, so a busy first day is learned as it was
    hot = stream(5, days=1.6, rate_per_min=3.0)
    hours = orjson.loads(fed(hot).to_bytes())["hours"]
    first_day = hours[:23]
    assert all(h[3] == h[1] for h in first_day)  # clean_n == n
    assert max(h[1] for h in first_day) > 3 * DetectorConfig().min_rate_per_hour + 10  # above a cap


def test_state_from_before_the_mention_count_resumes_with_the_hour_clock() -> None:
    mentions = stream(43, days=2.5)
    cut = len(mentions) // 2
    straight = fed(mentions[:cut])
    old = orjson.loads(straight.to_bytes())
    del old["warm"]
    resumed = BrandDetector.from_bytes(orjson.dumps(old), DetectorConfig())
    warm = [DetectorConfig().min_history_mentions, old["first"]]
    assert orjson.loads(resumed.to_bytes())["warm"] == warm
    for m in mentions[cut:]:
        straight.observe(m)
        resumed.observe(m)
    a, b = resumed.advance(mentions[-1].ts), straight.advance(mentions[-1].ts)
    assert a
    # the same alerts; only the reported clock differs (it began at the first bucket)
    for e in (*a, *b):
        e.evidence.pop("history_hours")
    assert a == b


def test_quiet_brand_stays_quiet() -> None:
    events = run(stream(9, days=3.0, rate_per_min=0.05))
    assert not [e for e in events if e.severity != "watch"]


def test_multi_brand_stream_is_ordered_and_independent() -> None:
    a = stream(31, days=2.5, brand="a", spike_at=T0 + 2 * DAY + 3 * 3600)
    b = stream(32, days=2.5, brand="b", spike_at=T0 + 2 * DAY + 3 * 3600)
    both = sorted(a + b, key=lambda m: (m.ts, m.brand, m.mention_id))
    events = run(both)
    assert {e.brand for e in events} == {"a", "b"}
    keys = [(e.event_time, e.brand, e.seq) for e in events]
    assert keys == sorted(keys)
    assert [e for e in events if e.brand == "a"] == run(a)
    assert run(shuffled_within(both, 4, 100.0)) == events


def test_observe_rejects_other_brand_and_bad_time() -> None:
    det = BrandDetector.new("acme", DetectorConfig())
    m = stream(1, days=0.01)[0]
    with pytest.raises(RecordError):
        det.observe(replace(m, brand="other"))
    with pytest.raises(RecordError):
        det.observe(replace(m, ts=float("nan")))
    assert det.observe(m) is Observation.ACCEPTED
    assert det.watermark is None
    det.advance(m.ts + 1000)
    assert det.watermark == m.ts + 1000
    assert det.advance(m.ts) == []
    assert det.watermark == m.ts + 1000


def test_config_overrides() -> None:
    base = DetectorConfig()
    cfg = DetectorConfig.from_mapping(
        base, {"warning_threshold": 60, "timezone": "Europe/Paris", "category_weights": {"x": 1}}
    )
    assert cfg.warning_threshold == 60.0
    assert cfg.timezone == "Europe/Paris"
    assert cfg.category_weight("x") == 1.0
    assert cfg.category_weight("data_breach") == 1.0
    with pytest.raises(ConfigError):
        DetectorConfig.from_mapping(base, {"no_such_knob": 1})
    with pytest.raises(ConfigError):
        DetectorConfig.from_mapping(base, {"warning_threshold": "high"})
    assert DetectorConfig.from_mapping(base, {"bucket_seconds": 30}).bucket_seconds == 30
    with pytest.raises(ConfigError):
        DetectorConfig.from_mapping(base, {"timezone": "Mars/Olympus"})
    with pytest.raises(ConfigError):
        DetectorConfig.from_mapping(base, {"watch_threshold": 90})


def one_account(
    posts: int, every: float, text: str, label: str, categories: dict[str, float] | None = None
) -> list[ScoredMention]:
    """``posts`` mentions of a single account, ``every`` seconds apart from day 2, 14:00."""
    at = T0 + 2 * DAY + 14 * 3600
    return [
        ScoredMention(
            brand="acme",
            source="x",
            mention_id=f"one-{j}",
            ts=at + every * j,
            text=text,
            label=label,
            p_negative=0.95 if label == "negative" else 0.3,
            categories=categories or {},
            author_id="one-1",
        )
        for j in range(posts)
    ]


def test_one_account_flooding_is_not_a_crisis() -> None:
    base = stream(41, days=3.0)  # the background goes on through the flood and after
    spam = one_account(300, 8.0, "worst company ever #fail", "negative")
    events = run(sorted(base + spam, key=lambda m: (m.ts, m.mention_id)))
    assert all(e.severity == "watch" for e in events)


def test_evidence_explains_the_score(crisis_stream: list[ScoredMention]) -> None:
    severe = next(e for e in run(crisis_stream) if e.severity != "watch")
    ev = severe.evidence
    assert sum(ev["drivers"].values()) >= severe.score - 0.01
    assert ev["drivers"]["negativity"] > 0
    assert ev["windows"]["1h"]["usual_daily_peak_ratio"] >= 1.0
    assert ev["windows"]["24h"]["count"] >= ev["windows"]["1h"]["count"]
    assert ev["top_terms"] and ev["top_terms"][0]["count"] >= ev["top_terms"][-1]["count"]
    assert ev["capped"] is None


def test_gap_longer_than_the_history_starts_over_without_replaying_it() -> None:
    first = stream(51, days=1.2)
    later = [replace(m, ts=m.ts + 40 * DAY, mention_id="l" + m.mention_id) for m in first]
    det = fed(first)
    for m in later:
        det.observe(m)
    events = det.advance(later[-1].ts)
    assert all(e.severity == "watch" for e in events)  # a cold start again
    assert len(det._hours) <= DetectorConfig().hour_history_hours
    again = BrandDetector.from_bytes(det.to_bytes(), DetectorConfig())
    assert again.to_bytes() == det.to_bytes()


def test_state_stays_bounded_for_a_busy_brand() -> None:
    busy = stream(52, days=3.0, rate_per_min=20.0)
    assert len(fed(busy).to_bytes()) < 600_000


def test_one_account_posting_about_a_breach_is_not_a_category_surge() -> None:
    base = stream(42, days=3.0)  # the background goes on through the posts and after
    text = "my account was hacked, they leaked my data"
    posts = one_account(8, 40.0, text, "neutral", {"data_breach": 0.9})
    events = run(sorted(base + posts, key=lambda m: (m.ts, m.mention_id)))
    assert all(e.severity == "watch" for e in events)
