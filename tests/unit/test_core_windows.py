"""Buckets, window sums, day/hour boundaries and local-time seasonality slots (DST)."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.core.baseline import Hour, fit_hour, local_slot
from pipeline.core.config import DetectorConfig
from pipeline.core.detector import BrandDetector, Observation
from pipeline.core.types import ScoredMention
from pipeline.core.windows import Bucket, terms_of, window_sums


def ts(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> float:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp()


def mention(
    i: int, t: float, label: str = "neutral", source: str = "x", **kw: object
) -> ScoredMention:
    return ScoredMention(
        brand="acme",
        source=source,
        mention_id=str(i),
        ts=t,
        text=f"mention {i} #acme outage",
        label=label,
        p_negative=0.9 if label == "negative" else 0.1,
        **kw,  # type: ignore[arg-type]
    )


def test_bucket_boundaries_across_midnight() -> None:
    det = BrandDetector.new("acme", DetectorConfig())
    det.observe(mention(1, ts(2024, 1, 1, 23, 59, 59) + 0.999))
    det.observe(mention(2, ts(2024, 1, 2, 0, 0, 0)))
    det.observe(mention(3, ts(2024, 1, 2, 0, 0, 59)))
    det.advance(ts(2024, 1, 2, 0, 3, 0))  # closes buckets ending <= 00:01
    closed = {b.start: b.n for b in det._closed}
    assert closed == {int(ts(2024, 1, 1, 23, 59)): 1, int(ts(2024, 1, 2, 0, 0)): 2}
    # the day rolled over: the first hour (23:00) is complete, 00:00 is the current one
    assert [h.start for h in det._hours] == [int(ts(2024, 1, 1, 23))]
    assert det._cur_hour is not None and det._cur_hour.start == int(ts(2024, 1, 2, 0))


def test_empty_buckets_are_closed_too_and_never_skipped() -> None:
    det = BrandDetector.new("acme", DetectorConfig())
    det.observe(mention(1, ts(2024, 1, 1, 10, 0, 30)))
    det.advance(ts(2024, 1, 1, 10, 30, 0))
    starts = [b.start for b in det._closed]
    assert starts == list(range(int(ts(2024, 1, 1, 10)), int(ts(2024, 1, 1, 10, 28)), 60))
    assert sum(b.n for b in det._closed) == 1


def test_window_sums_and_young_sources() -> None:
    a = Bucket(0)
    b = Bucket(60)
    a.add(mention(1, 1, "negative", source="x"), 1, 5, 280, 0.5)
    b.add(mention(2, 61, "positive", source="new"), 2, 5, 280, 0.5)
    b.add(mention(3, 62, "negative", source="new"), 3, 5, 280, 0.5)
    s = window_sums([a, b], frozenset({"new"}))
    assert (s.n, s.neg, s.pos) == (3, 2, 1)
    assert (s.scored_n, s.scored_neg) == (1, 1)


def test_terms_keep_hashtags_and_drop_urls_and_handles() -> None:
    got = terms_of("RT @acme The #DataBreach is REAL https://t.co/x data data")
    assert "#databreach" in got
    assert "data" in got
    assert "real" in got
    assert not any(t.startswith("@") or "http" in t for t in got)


def test_local_slot_across_dst_spring_forward() -> None:
    tz = "America/New_York"
    # 2024-03-10: 02:00 EST jumps to 03:00 EDT (07:00 UTC)
    assert local_slot(int(ts(2024, 3, 10, 6)), tz) == (6, 1)  # Sunday 01:00 EST
    assert local_slot(int(ts(2024, 3, 10, 7)), tz) == (6, 3)  # Sunday 03:00 EDT
    assert local_slot(int(ts(2024, 3, 11, 7)), tz) == (0, 3)  # Monday 03:00 EDT
    assert local_slot(int(ts(2024, 3, 9, 7)), tz) == (5, 2)  # Saturday 02:00 EST


def test_hour_of_day_profile_follows_local_time_through_dst() -> None:
    """A brand busy at 09:00 local stays busy at 09:00 local after the clocks change."""
    tz = "America/New_York"
    cfg = DetectorConfig(timezone=tz, recent_hours=0)
    hours: list[Hour] = []
    start = int(ts(2024, 3, 3, 5))  # 00:00 EST
    end = int(ts(2024, 3, 12, 4))  # 00:00 EDT
    for h in range(start, end, 3600):
        local_hour = local_slot(h, tz)[1]
        x = 100.0 if local_hour == 9 else 10.0
        hours.append(Hour(h, int(x), 0, x, 0.0))
    peak_after = int(ts(2024, 3, 12, 13))  # 09:00 EDT
    before_peak = int(ts(2024, 3, 12, 12))  # 08:00 EDT (09:00 by the winter offset)
    m_peak = fit_hour(hours, peak_after, cfg)
    m_other = fit_hour(hours, before_peak, cfg)
    assert m_peak.expected > 5 * m_other.expected


def test_hours_are_contiguous_across_gaps() -> None:
    det = BrandDetector.new("acme", DetectorConfig())
    det.observe(mention(1, ts(2024, 1, 1, 10, 0, 0)))
    det.observe(mention(2, ts(2024, 1, 1, 14, 0, 0)))
    det.advance(ts(2024, 1, 1, 15, 0, 0))
    assert [h.start for h in det._hours] == [int(ts(2024, 1, 1, hh)) for hh in range(10, 14)]
    assert [h.n for h in det._hours] == [1, 0, 0, 0]


def test_late_and_duplicate_are_counted_not_folded() -> None:
    det = BrandDetector.new("acme", DetectorConfig())
    t0 = ts(2024, 1, 1, 12)
    assert det.observe(mention(1, t0 + 10)) is Observation.ACCEPTED
    assert det.observe(mention(1, t0 + 10)) is Observation.DUPLICATE
    det.advance(t0 + 60 * 4)
    # within the dedup retention, a redelivery of a closed mention is still a duplicate
    assert det.observe(mention(1, t0 + 10)) is Observation.DUPLICATE
    assert det.observe(mention(2, t0 + 20)) is Observation.LATE
    # within allowed lateness (bucket 12:02 is still open at watermark 12:04)
    assert det.observe(mention(3, t0 + 60 * 2 + 5)) is Observation.ACCEPTED
    assert (det.late_events, det.duplicate_events) == (1, 2)
    det.advance(t0 + 60 * 60)
    assert sum(b.n for b in det._closed) == 2
    # after the retention, the same redelivery is late
    assert det.observe(mention(1, t0 + 10)) is Observation.LATE


def test_a_burst_of_one_author_counts_once_in_its_categories_too() -> None:
    a, b = Bucket(0), Bucket(60)
    breach = {"data_breach": 0.9}
    for j in range(3):  # one account, three breach posts in each of two buckets
        a.add(mention(j, 1 + j, author_id="loud", categories=breach), j, 5, 280, 0.5)
        b.add(mention(10 + j, 61 + j, author_id="loud", categories=breach), 10 + j, 5, 280, 0.5)
    for j in range(2):  # two other people posting about it once each
        b.add(mention(20 + j, 70 + j, author_id=f"p{j}", categories=breach), 20 + j, 5, 280, 0.5)
    a.close(10)
    b.close(10)
    s = window_sums([a, b], frozenset())
    assert (s.n, s.scored_n) == (8, 3)
    assert s.cats == {"data_breach": 3}  # the loud account once, plus the two others
    # a closed bucket round-trips with its top author's categories
    assert window_sums([Bucket.from_obj(a.to_obj()), b], frozenset()) == s


def test_buckets_saved_before_per_author_categories_still_load() -> None:
    """State in a changelog written by the previous version: authors as [n, neg], the top
    author as [hash, n, neg]."""
    closed = Bucket(0)
    for j in range(3):
        closed.add(
            mention(j, 1 + j, author_id="loud", categories={"fraud_scam": 0.9}), j, 5, 280, 0.5
        )
    closed.close(10)
    old_closed = closed.to_obj()
    old_closed[11] = old_closed[11][:3]
    open_ = Bucket(60)
    open_.add(mention(9, 61, author_id="loud"), 9, 5, 280, 0.5)
    old_open = open_.to_obj()
    old_open[17] = [[k, v[:2]] for k, v in old_open[17]]
    a, b = Bucket.from_obj(old_closed), Bucket.from_obj(old_open)
    b.add(mention(10, 62, author_id="loud"), 10, 5, 280, 0.5)
    b.close(10)
    s = window_sums([a, b], frozenset())
    assert (s.n, s.scored_n) == (5, 1)
    assert s.cats == {"fraud_scam": 3}  # the old bucket has no per-author categories to drop


def test_distinct_authors_of_a_window_count_each_author_once() -> None:
    """A thread of one author, one post a minute, is one author over the window, not one per
    bucket; many different authors are counted (estimated) close to their number."""
    thread = []
    for k in range(12):
        b = Bucket(60 * k)
        b.add(mention(k, 60 * k + 1, author_id="threader"), k, 5, 280, 0.5)
        b.add(mention(100 + k, 60 * k + 2, author_id=f"other{k}"), 100 + k, 5, 280, 0.5)
        b.close(10)
        thread.append(b)
    s = window_sums(thread, frozenset())
    assert s.with_author == 24
    assert 12 <= s.distinct_authors <= 14  # 13 people; the per-bucket sum would say 24
    crowd = []
    for k in range(10):
        b = Bucket(60 * k)
        for j in range(30):
            i = 30 * k + j
            b.add(mention(i, 60 * k + 1, author_id=f"p{i}"), i, 5, 280, 0.5)
        b.close(10)
        crowd.append(b)
    est = window_sums(crowd, frozenset()).distinct_authors
    assert 270 <= est <= 300
    # bitmaps round-trip; a bucket saved without one falls back to the per-bucket sum
    assert window_sums([Bucket.from_obj(b.to_obj()) for b in thread], frozenset()) == s
    old = thread[0].to_obj()[:20]
    assert window_sums([Bucket.from_obj(old), *thread[1:]], frozenset()).distinct_authors == 24
