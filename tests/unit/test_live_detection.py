"""LiveDetection (watermarks over raw partitions, quiet-brand ticks) gives detect_stream's alerts,
whatever the interleaving of raw partitions the consumer happens to produce."""

from __future__ import annotations

import random
from collections import defaultdict

from pipeline.catalog import BrandCatalog
from pipeline.core.detector import detect_stream
from pipeline.core.types import ScoredMention
from pipeline.detection import LiveDetection, config_resolver
from pipeline.settings import Settings

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
BRANDS = ("acme", "zeta", "quiet")


def stream() -> list[ScoredMention]:
    rng = random.Random(3)
    out = []
    for minute in range(3 * 24 * 60):
        for brand, rate in (("acme", 2.0), ("zeta", 1.0), ("quiet", 0.3)):
            crisis = brand == "acme" and 2 * 24 * 60 + 600 <= minute < 2 * 24 * 60 + 700
            n = sum(rng.random() < rate / 4 for _ in range(4)) + (
                rng.randrange(20, 40) if crisis else 0
            )
            for i in range(n):
                negative = crisis and i % 4 != 0
                out.append(
                    ScoredMention(
                        brand=brand,
                        source="t",
                        mention_id=f"{brand}-{minute}-{i}",
                        ts=T0 + minute * 60 + rng.randrange(60),
                        text="data leak" if negative else "ok",
                        label="negative" if negative else "neutral",
                        p_negative=0.9 if negative else 0.1,
                        categories={"data_breach": 0.9} if negative else {},
                        author_id=f"u{rng.randrange(10_000)}",
                    )
                )
    out.sort(key=lambda m: m.ts)
    return out


def run_live(
    mentions: list[ScoredMention], raw_partitions: int, detect_of: dict[str, int], seed: int
) -> list[dict]:
    """Simulate ingest over raw partitions consumed with skew, then detect partitions."""
    rng = random.Random(seed)
    config_for = config_resolver(Settings(), BrandCatalog([]))
    live = LiveDetection(config_for, raw_partitions)
    queues: dict[int, list[ScoredMention]] = defaultdict(list)
    for m in mentions:  # the replay tool keys by id: any raw partition
        queues[rng.randrange(raw_partitions)].append(m)
    positions = dict.fromkeys(queues, 0)
    tables: dict[str, bytes] = {}
    alerts = []
    while any(positions[p] < len(queues[p]) for p in queues):
        part = rng.choice([p for p in queues if positions[p] < len(queues[p])])
        take = rng.randrange(1, 400)  # one ingest batch from one raw partition (consumer skew)
        batch = queues[part][positions[part] : positions[part] + take]
        positions[part] += len(batch)
        by_brand: dict[str, list[ScoredMention]] = defaultdict(list)
        for m in batch:
            by_brand[m.brand].append(m)
        for brand, ms in by_brand.items():
            outcome = live.on_batch(detect_of[brand], brand, ms, tables.get)
            alerts.extend(outcome.alerts)
            for b in outcome.dirty:
                tables[b] = live.state(b)
        newest = max(m.ts for m in batch)
        for target in set(detect_of.values()):
            outcome = live.on_progress(target, part, newest)
            alerts.extend(outcome.alerts)
    return sorted((a.to_dict() for a in alerts), key=lambda r: r["event_id"])


def test_live_detection_matches_the_backtest_driver() -> None:
    mentions = stream()
    # a trailer: every raw partition reaches the same end, as in the integration test
    end = mentions[-1].ts + 900
    trailer = [
        ScoredMention(
            brand=b,
            source="t",
            mention_id=f"end-{b}-{i}",
            ts=end,
            text="ok",
            label="neutral",
            p_negative=0.1,
        )
        for i in range(40)
        for b in BRANDS
    ]
    mentions += trailer
    offline = sorted(
        (
            a.to_dict()
            for a in detect_stream(mentions, config_resolver(Settings(), BrandCatalog([])))
        ),
        key=lambda r: r["event_id"],
    )
    assert any(r["severity"] != "watch" for r in offline), "the scenario must alert"
    for seed in range(3):
        live = run_live(
            mentions, raw_partitions=4, detect_of={"acme": 0, "zeta": 1, "quiet": 0}, seed=seed
        )
        assert live == offline


def test_no_watermark_until_every_raw_partition_has_reported() -> None:
    live = LiveDetection(config_resolver(Settings(), BrandCatalog([])), source_partitions=3)
    live.on_progress(0, 0, T0 + 600)
    live.on_progress(0, 1, T0 + 300)
    assert live.watermark(0) is None
    live.on_progress(0, 2, T0 + 900)
    assert live.watermark(0) == T0 + 300
    live.on_progress(0, 1, T0 + 100)  # progress never goes back
    assert live.watermark(0) == T0 + 300
    assert live.watermark(1) is None  # each detect partition keeps its own view


def test_forget_drops_the_revoked_partitions_only() -> None:
    live = LiveDetection(config_resolver(Settings(), BrandCatalog([])), source_partitions=1)
    mention = ScoredMention(
        brand="acme", source="t", mention_id="1", ts=T0, text="x", label="neutral", p_negative=0.1
    )
    stored: dict[str, bytes] = {}
    live.on_batch(0, "acme", [mention], stored.get)
    other = ScoredMention(
        brand="zeta", source="t", mention_id="1", ts=T0, text="x", label="neutral", p_negative=0.1
    )
    live.on_batch(1, "zeta", [other], stored.get)
    live.on_progress(0, 0, T0 + 60)
    live.forget({0})
    assert set(live.cached()) == {"zeta"}
    assert live.watermark(0) is None


def _feed(
    live: LiveDetection, mentions: list[ScoredMention], tables: dict[str, bytes], alerts: list
) -> None:
    for i in range(0, len(mentions), 200):
        batch = mentions[i : i + 200]
        by_brand: dict[str, list[ScoredMention]] = defaultdict(list)
        for m in batch:
            by_brand[m.brand].append(m)
        for brand, ms in sorted(by_brand.items()):
            outcome = live.on_batch(0, brand, ms, tables.get)
            alerts.extend(outcome.alerts)
            for b in outcome.dirty:
                tables[b] = live.state(b)
        outcome = live.on_progress(0, 0, max(m.ts for m in batch))
        alerts.extend(outcome.alerts)
        for b in outcome.dirty:
            tables[b] = live.state(b)


def test_a_brand_silent_after_a_restart_still_resolves_once_primed() -> None:
    """acme's crisis episode is open when the worker restarts, and acme falls silent: the new
    worker must load acme from the table (prime) for the partition's progress to resolve it."""
    crisis_end = T0 + (2 * 24 * 60 + 700) * 60
    mentions = [m for m in stream() if m.brand != "acme" or m.ts < crisis_end]
    cut = next(i for i, m in enumerate(mentions) if m.ts >= crisis_end + 5 * 60)
    config_for = config_resolver(Settings(), BrandCatalog([]))

    straight: list = []
    _feed(LiveDetection(config_for, 1), mentions, {}, straight)
    acme = [a.status for a in straight if a.brand == "acme"]
    assert acme[0] == "opened" and acme[-1] == "resolved"

    def restarted(prime: bool) -> list:
        tables: dict[str, bytes] = {}
        alerts: list = []
        _feed(LiveDetection(config_for, 1), mentions[:cut], tables, alerts)
        assert [a.status for a in alerts if a.brand == "acme"][-1] != "resolved"
        again = LiveDetection(config_for, 1)
        calls: list[int] = []

        def stored(_partition: int) -> list[str]:
            calls.append(1)
            return list(tables)

        if prime:
            again.prime(0, stored, tables.get)
            again.prime(0, stored, tables.get)  # once per assignment
            assert calls == [1]
            assert set(again.cached()) == {"acme", "zeta", "quiet"}
        _feed(again, mentions[cut:], tables, alerts)
        return alerts

    assert restarted(prime=True) == straight
    unprimed = [a.status for a in restarted(prime=False) if a.brand == "acme"]
    assert unprimed[-1] != "resolved"  # what priming is for


def test_resolver_overrides_apply_to_every_brand_and_the_catalog_wins() -> None:
    catalog = BrandCatalog.from_mapping(
        {
            "brands": [
                {"id": "a", "name": "Acme"},
                {"id": "b", "name": "Beta", "detector": {"warning_threshold": 60}},
            ]
        }
    )
    plain = config_resolver(Settings(), catalog)
    what_if = config_resolver(
        Settings(), catalog, {"warning_threshold": 45, "critical_threshold": 70}
    )
    assert plain("a").warning_threshold == 55.0 and plain("b").warning_threshold == 60.0
    assert what_if("a").warning_threshold == 45.0 and what_if("a").critical_threshold == 70.0
    assert what_if("b").warning_threshold == 60.0 and what_if("b").critical_threshold == 70.0
    assert what_if("unknown-brand").warning_threshold == 45.0
