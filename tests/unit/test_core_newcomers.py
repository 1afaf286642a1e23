"""Newcomer authors: the per-day author memory, its state, the baseline share and the driver."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import orjson

from pipeline.core.baseline import Hour, fit_hour
from pipeline.core.config import DetectorConfig
from pipeline.core.detector import BrandDetector
from pipeline.core.scoring import WindowView, newcomer_signal
from pipeline.core.types import ScoredMention
from pipeline.core.windows import WindowSums

T0 = datetime(2024, 3, 4, tzinfo=UTC).timestamp()  # a Monday, 00:00 UTC
DAY = 86400.0


def said(i: int, t: float, author: str) -> ScoredMention:
    return ScoredMention(
        brand="acme",
        source="x",
        mention_id=str(i),
        ts=t,
        text="hello acme",
        label="neutral",
        p_negative=0.1,
        author_id=author,
    )


def closed_newcomers(det: BrandDetector, until: float) -> dict[int, int]:
    """Close the buckets before ``until``; newcomers per closed bucket start."""
    det.advance(until + det.config.allowed_lateness_seconds)
    return {b.start: b.new_authors for b in det._closed}


def test_an_author_is_new_once_within_the_memory_and_a_flood_is_one_author() -> None:
    cfg = DetectorConfig(newcomer_memory_days=1)
    det = BrandDetector.new("acme", cfg)
    for i, a in enumerate(["a", "b", "c"]):
        det.observe(said(i, T0 + 10 + i, a))
    for i, a in enumerate(["a", "b", "d"]):
        det.observe(said(10 + i, T0 + 70 + i, a))
    for j in range(10):  # one account flooding a bucket
        det.observe(said(100 + j, T0 + 130 + j, "e"))
    got = closed_newcomers(det, T0 + 180)
    assert [got[int(T0) + s] for s in (0, 60, 120)] == [3, 1, 1]
    # the next UTC day, a one-day memory has forgotten yesterday's authors
    det.observe(said(200, T0 + DAY + 10, "a"))
    det.observe(said(201, T0 + DAY + 11, "a"))
    assert closed_newcomers(det, T0 + DAY + 60)[int(T0 + DAY)] == 1


def test_newcomers_wait_until_the_memory_covers_its_days() -> None:
    det = BrandDetector.new("acme", DetectorConfig(newcomer_memory_days=3))
    det.observe(said(0, T0 + 5, "a"))
    det.observe(said(1, T0 + 2 * DAY + 5, "b"))
    counts = closed_newcomers(det, T0 + 2 * DAY + 60)
    assert counts[int(T0 + 2 * DAY)] == 1  # day 2: the memory holds days 0-2
    assert det._hours[0].new == -1  # day 0: not counted


def test_author_memory_survives_the_state_round_trip_and_old_state_loads() -> None:
    cfg = DetectorConfig(newcomer_memory_days=1)
    det = BrandDetector.new("acme", cfg)
    det.observe(said(0, T0 + 5, "a"))
    det.advance(T0 + 240)
    data = det.to_bytes()
    again = BrandDetector.from_bytes(data, cfg)
    assert again.to_bytes() == data
    again.observe(said(1, T0 + 300, "a"))
    again.observe(said(2, T0 + 301, "z"))
    assert closed_newcomers(again, T0 + 360)[int(T0 + 300)] == 1  # "a" is remembered
    # state written before newcomers were counted: no memory, hours without newcomer counts
    old = orjson.loads(data)
    del old["seen"], old["seen_since"]
    old["hours"] = [h[:7] for h in old["hours"]]
    old["cur_hour"] = old["cur_hour"][:7]
    old["closed"] = [b[:19] for b in old["closed"]]
    legacy = BrandDetector.from_bytes(orjson.dumps(old), cfg)
    assert legacy._cur_hour is not None
    assert legacy._cur_hour.new == -1


def test_usual_newcomer_share_is_learned_only_from_counted_hours() -> None:
    cfg = DetectorConfig()
    start = int(T0)
    hours = [Hour(start + 3600 * h, 100, 30, 100.0, 30.0, {}, 20) for h in range(48)]
    assert fit_hour(hours, start + 48 * 3600, cfg).new_share < 0  # nothing counted yet
    for h in hours[24:]:
        h.new = 10
    share = fit_hour(hours, start + 48 * 3600, cfg).new_share
    prior = cfg.newcomer_share_prior * cfg.share_prior_weight
    assert abs(share - (240 + prior) / (2400 + cfg.share_prior_weight)) < 1e-9


def view(new_authors: int, expected: float, new_share: float, n: int = 70) -> WindowView:
    sums = WindowSums(n=n, new_authors=new_authors)
    return WindowView("mid", sums, expected, 0.3, 0.05, 0.2, new_share)


def test_newcomer_signal_is_a_count_surprise_against_the_usual_share() -> None:
    cfg = DetectorConfig()
    assert newcomer_signal([view(30, 40.0, 0.1)], cfg) == 1.0  # 30 newcomers, 4 usual
    assert newcomer_signal([view(5, 40.0, 0.1)], cfg) < 0.1  # a few more than usual
    assert newcomer_signal([view(30, 40.0, -1.0)], cfg) == 0.0  # share not known yet
    assert newcomer_signal([view(30, 40.0, 0.7)], cfg) == 0.0  # a brand of newcomers


def test_newcomers_count_only_as_far_as_they_add_to_the_volume() -> None:
    cfg = DetectorConfig()
    assert newcomer_signal([view(30, 40.0, 0.1, n=40)], cfg) == 0.0  # churn at flat volume
    half = newcomer_signal([view(30, 40.0, 0.1, n=44)], cfg)  # 4 extra mentions
    assert 0.0 < half < newcomer_signal([view(30, 40.0, 0.1, n=60)], cfg)


def test_a_surge_of_new_voices_is_a_driver_at_a_brand_of_regulars() -> None:
    rng = random.Random(3)
    regulars = [f"r{k}" for k in range(300)]
    mentions = []
    for k in range(4 * 1440):
        for _ in range(1 if rng.random() < 0.8 else 2):
            mentions.append(
                said(len(mentions), T0 + 60 * k + rng.random() * 59, rng.choice(regulars))
            )
    at = T0 + 4 * DAY + 14 * 3600
    for k in range(30):  # flat-ish volume: two more mentions a minute, every one a new voice
        for j in range(2):
            mentions.append(said(len(mentions), at + 60 * k + 20 * j, f"new-{k}-{j}"))
    mentions.sort(key=lambda m: m.ts)
    det = BrandDetector.new("acme", DetectorConfig())
    for m in mentions:
        det.observe(m)
    det.advance(at + 30 * 60 + 300)
    views = det._views(int(at + 30 * 60))
    assert views[1].sums.new_authors >= 20  # the regulars bring none
    assert newcomer_signal(views[:3], det.config) == 1.0


def test_another_bitmap_size_restarts_the_author_memory() -> None:
    det = BrandDetector.new("acme", DetectorConfig(newcomer_memory_days=1))
    det.observe(said(0, T0 + 5, "a"))
    det.advance(T0 + 240)
    wider = DetectorConfig(newcomer_memory_days=1, newcomer_filter_bits=65536)
    again = BrandDetector.from_bytes(det.to_bytes(), wider)
    again.observe(said(1, T0 + 300, "a"))
    assert closed_newcomers(again, T0 + 360)[int(T0 + 300)] == 1  # forgotten, not misread
