"""The per-brand detector: event-time buckets -> baseline -> score -> alert lifecycle.

``BrandDetector`` is the whole state of one brand. ``observe`` folds a mention into its event-time
bucket; ``advance(watermark)`` closes every bucket whose end is at or before
``watermark - allowed_lateness`` (in order, empty ones too) and returns the lifecycle events.
What ``advance`` returns for a closed bucket depends only on the multiset of accepted mentions in
closed buckets: the live agents and the backtest (``detect_stream``) give the same alerts, ids
included.
"""

from __future__ import annotations

import base64
import enum
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from pipeline.core.baseline import Hour, HourModel, fit_hour
from pipeline.core.config import DEFAULT_CATEGORY_WEIGHTS, DetectorConfig
from pipeline.core.lifecycle import LifecycleState, Transition, event_id_for, step
from pipeline.core.scoring import Score, WindowView, log_ratio, novelty_factor, score
from pipeline.core.types import ScoredMention
from pipeline.core.windows import (
    Bucket,
    WindowSums,
    merged_terms,
    merged_top,
    stable_hash,
    window_sums,
)
from pipeline.errors import ConfigError, RecordError

__all__ = [
    "DEFAULT_CATEGORY_WEIGHTS",
    "AlertEvent",
    "BrandDetector",
    "DetectorConfig",
    "Observation",
    "detect_stream",
]

ALERT_SCHEMA = "emberwatch.alert/v1"
_STATE_VERSION = 1
_MAX_SOURCES = 64


class Observation(enum.Enum):
    ACCEPTED = "accepted"
    LATE = "late"
    DUPLICATE = "duplicate"


def rfc3339(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class AlertEvent:
    """One lifecycle event of an alert episode."""

    alert_id: str
    event_id: str
    brand: str
    severity: str  # watch | warning | critical
    status: str  # opened | escalated | resolved
    event_time: str  # RFC 3339 UTC, end of the bucket that caused the change
    score: float  # 0-100
    evidence: Mapping[str, Any]
    opened_at: str
    seq: int

    def to_dict(self) -> dict[str, Any]:
        """The alert record as published (schema ``emberwatch.alert/v1``)."""
        return {
            "schema": ALERT_SCHEMA,
            "alert_id": self.alert_id,
            "event_id": self.event_id,
            "brand": self.brand,
            "severity": self.severity,
            "status": self.status,
            "seq": self.seq,
            "opened_at": self.opened_at,
            "event_time": self.event_time,
            "score": self.score,
            "evidence": dict(self.evidence),
        }


class BrandDetector:
    """All detector state of one brand; see the module docstring."""

    def __init__(self, brand: str, config: DetectorConfig) -> None:
        self.brand = brand
        self.config = config
        self._wm: float | None = None
        self._next: int | None = None  # start of the next bucket to close
        self._first: int | None = None  # start of the first closed bucket
        # cold-start clock: mentions closed so far (until min_history_mentions), and the start of
        # the bucket that reached min_history_mentions
        self._count = 0
        self._warm_from: int | None = None
        self._open: dict[int, Bucket] = {}
        self._closed: deque[Bucket] = deque(maxlen=self._ring_len())
        self._hours: deque[Hour] = deque(maxlen=config.hour_history_hours)
        self._cur_hour: Hour | None = None
        self._recent_keys: deque[tuple[int, list[int]]] = deque()
        self._recent_key_set: set[int] = set()
        self._sources: dict[str, int] = {}
        self.late_events = 0
        self.duplicate_events = 0
        self._life = LifecycleState()
        self._models: dict[int, HourModel] = {}
        # usual daily peaks: day index since the first bucket, running max of the day per window,
        # maxima of the completed days (newest last)
        self._peak_day: int | None = None
        self._peak_cur: list[float] = [0.0, 0.0, 0.0]
        self._peak_hist: deque[list[float]] = deque(maxlen=config.peak_days)
        # authors seen per UTC day (hashed bitmaps, newest last) and the first day remembered
        self._seen: deque[tuple[int, bytearray]] = deque()
        self._seen_since: int | None = None

    def _ring_len(self) -> int:
        c = self.config
        return max(
            c.buckets(c.long_window_seconds),
            c.buckets(c.short_window_seconds) + c.buckets(c.mid_window_seconds),
        )

    @classmethod
    def new(cls, brand: str, config: DetectorConfig) -> BrandDetector:
        return cls(brand, config)

    @property
    def watermark(self) -> float | None:
        return self._wm

    # --- input -----------------------------------------------------------------------------------
    def _bucket_start(self, ts: float) -> int:
        if not math.isfinite(ts):
            msg = f"event time {ts!r} is not a finite number"
            raise RecordError("bad_timestamp", msg)
        b = self.config.bucket_seconds
        return math.floor(ts / b) * b

    def observe(self, m: ScoredMention) -> Observation:
        """Fold a mention into its bucket; DUPLICATE and LATE ones are counted, not folded."""
        if m.brand != self.brand:
            msg = f"mention for brand {m.brand!r} given to the detector of {self.brand!r}"
            raise RecordError("wrong_brand", msg)
        start = self._bucket_start(m.ts)
        key = stable_hash(m.dedup_key)
        if key in self._recent_key_set or any(key in b.keys for b in self._open.values()):
            self.duplicate_events += 1
            return Observation.DUPLICATE
        if self._next is not None and start < self._next:
            self.late_events += 1
            return Observation.LATE
        bucket = self._open.get(start)
        if bucket is None:
            bucket = self._open[start] = Bucket(start)
        c = self.config
        bucket.add(m, key, c.top_mentions, c.max_text_chars, c.category_threshold)
        return Observation.ACCEPTED

    def observe_count(self, ts: float, count: int, negative: int = 0) -> Observation:
        """Fold a pre-aggregated count (volume-only series) into the bucket of ``ts``."""
        start = self._bucket_start(ts)
        if self._next is not None and start < self._next:
            self.late_events += 1
            return Observation.LATE
        bucket = self._open.get(start)
        if bucket is None:
            bucket = self._open[start] = Bucket(start)
        bucket.add_volume(max(0, count), max(0, min(count, negative)))
        return Observation.ACCEPTED

    # --- closing buckets -------------------------------------------------------------------------
    def advance(self, watermark: float) -> list[AlertEvent]:
        """Close every bucket ending at or before ``watermark - allowed_lateness``, in order."""
        return self.advance_scored(watermark)[0]

    def advance_scored(self, watermark: float) -> tuple[list[AlertEvent], list[tuple[int, float]]]:
        """``advance`` that also returns (bucket start, score) of every bucket it closed."""
        scores: list[tuple[int, float]] = []
        return self._advance(watermark, scores), scores

    def _advance(self, watermark: float, scores: list[tuple[int, float]]) -> list[AlertEvent]:
        if self._wm is not None and watermark <= self._wm:
            return []
        self._wm = watermark
        c = self.config
        b = c.bucket_seconds
        limit = watermark - c.allowed_lateness_seconds
        if self._next is None:
            if not self._open or min(self._open) + b > limit:
                return []
            self._next = self._first = min(self._open)
        span = (c.hour_history_hours + 2) * 3600 + c.long_window_seconds
        if limit - self._next > span:
            # restart where the new data begins: the earliest recent open bucket, else the
            # bucket of the closing limit (later mentions cannot be earlier, by allowed lateness)
            recent = [s for s in self._open if s >= limit - span]
            self._skip_to(min([*recent, math.floor(limit / b) * b]))
        events: list[AlertEvent] = []
        while self._next + b <= limit:
            start = self._next
            bucket = self._open.pop(start, None) or Bucket(start)
            events.extend(self._close(bucket, scores))
            self._next = start + b
        return events

    def _skip_to(self, start: int) -> None:
        """A gap longer than the whole history: start over as a new brand (a cold start again);
        keeps the counters; mentions of open buckets before ``start`` are counted as late."""
        kept = {s: bk for s, bk in self._open.items() if s >= start}
        dropped = sum(bk.n for s, bk in self._open.items() if s < start)
        late, dup, wm = self.late_events + dropped, self.duplicate_events, self._wm
        self.__init__(self.brand, self.config)  # type: ignore[misc]
        self.late_events, self.duplicate_events, self._wm = late, dup, wm
        self._open = kept
        self._next = self._first = start

    def _model(self, hour_start: int) -> HourModel:
        model = self._models.get(hour_start)
        if model is None:
            if len(self._models) > 8:
                self._models.clear()
            span = (self.config.hour_history_hours - 2) * 3600
            hist = [h for h in self._hours if hour_start - span <= h.start < hour_start]
            model = self._models[hour_start] = fit_hour(hist, hour_start, self.config)
        return model

    def _roll_hour(self, hour_start: int) -> None:
        cur = self._cur_hour
        while cur is not None and cur.start < hour_start:
            expected = self._model(cur.start).expected
            c = self.config
            cap = expected * c.clean_cap_factor + c.clean_cap_add
            cur.clean_n = float(min(cur.n, cap)) if self._warm_at(cur.start) else float(cur.n)
            cur.clean_neg = cur.neg * (cur.clean_n / cur.n) if cur.n else 0.0
            self._hours.append(cur)
            nxt = cur.start + 3600
            cur = Hour(nxt) if nxt < hour_start else None
        if self._cur_hour is None or self._cur_hour.start < hour_start:
            self._cur_hour = Hour(hour_start)

    def _close(self, bucket: Bucket, scores: list[tuple[int, float]]) -> list[AlertEvent]:
        c = self.config
        b = c.bucket_seconds
        start, end = bucket.start, bucket.start + b
        # dedup keys of recently closed buckets
        self._recent_keys.append((start, sorted(bucket.keys)))
        self._recent_key_set.update(bucket.keys)
        while self._recent_keys and self._recent_keys[0][0] + b <= end - c.dedup_retention_seconds:
            _, old = self._recent_keys.popleft()
            self._recent_key_set.difference_update(old)
        new = self._newcomers(bucket)
        bucket.close(c.top_terms)
        for src in sorted(bucket.src):
            if src not in self._sources and len(self._sources) < _MAX_SOURCES:
                self._sources[src] = start
        if self._warm_from is None:
            self._count += bucket.n
            if self._count >= c.min_history_mentions:
                self._warm_from = start
        hour_start = start - start % 3600
        self._roll_hour(hour_start)
        assert self._cur_hour is not None  # noqa: S101 - set by _roll_hour
        hr = self._cur_hour
        hr.n += bucket.n
        hr.neg += bucket.neg
        hr.pos += bucket.pos
        if new is not None:
            hr.new = max(hr.new, 0) + new
        for cat, k in bucket.cats.items():
            hr.cats[cat] = hr.cats.get(cat, 0) + k
        self._closed.append(bucket)
        km = c.buckets(c.mid_window_seconds)
        if len(self._closed) > km:
            self._closed[-km - 1].strip_details()

        result = self._score(start, end)
        scores.append((start, result[0].score))
        s = result[0]
        hold = s.score - s.drivers.get("newcomers", 0.0)
        state, transitions = step(self._life, self.brand, start, end, s.score, c, hold)
        self._life = state
        # The severity follows the score sustained over the confirmation buckets; report that one
        # (the latest bucket's own score goes in the evidence).
        sustained = min(state.recent) if state.recent else result[0].score
        return [self._event(t, end, result, sustained) for t in transitions]

    def _newcomers(self, bucket: Bucket) -> int | None:
        """Distinct authors of a closing bucket not seen in the last ``newcomer_memory_days``
        (None until the memory covers that many days); remembers them. Depends only on the
        authors of the closed buckets, not on arrival order."""
        c = self.config
        day = bucket.start // 86400
        while self._seen and self._seen[0][0] <= day - c.newcomer_memory_days:
            self._seen.popleft()
        if not self._seen or self._seen[-1][0] != day:
            self._seen.append((day, bytearray(-(-c.newcomer_filter_bits // 8))))
        if self._seen_since is None:
            self._seen_since = day
        today = self._seen[-1][1]
        bits = len(today) * 8
        new = 0
        for author in bucket.authors:
            i = author % bits
            mask = 1 << (i & 7)
            if not any(bm[i >> 3] & mask for _, bm in self._seen):
                new += 1
            today[i >> 3] |= mask
        if day - self._seen_since < c.newcomer_memory_days - 1:
            return None
        bucket.new_authors = new
        return new

    def _views(self, end: int) -> tuple[WindowView, WindowView, WindowView, WindowView, HourModel]:
        c = self.config
        warm = c.source_warmup_hours * 3600
        young = frozenset(s for s, first in self._sources.items() if end - first < warm)
        ring = list(self._closed)
        model = self._model(self._cur_hour.start if self._cur_hour else end - end % 3600)
        per_bucket = c.bucket_seconds / 3600.0
        exp = [self._model(bk.start - bk.start % 3600).expected * per_bucket for bk in ring]

        def view(name: str, lo: int, hi: int) -> WindowView:
            lo = max(0, len(ring) + lo)
            hi = len(ring) + hi
            sums = window_sums(ring[lo:hi], young) if hi > lo else WindowSums()
            return WindowView(
                name,
                sums,
                sum(exp[lo:hi]),
                model.neg_share,
                model.alpha,
                model.pos_share,
                model.new_share,
            )

        ks = c.buckets(c.short_window_seconds)
        km = c.buckets(c.mid_window_seconds)
        kl = c.buckets(c.long_window_seconds)
        return (
            view("short", -ks, 0),
            view("mid", -km, 0),
            view("long", -kl, 0),
            view("before", -ks - km, -ks),
            model,
        )

    def _usual_peaks(self, start: int) -> list[float]:
        """Usual daily peak log-ratio per window (median of completed days and prior days);
        rolls the day over when ``start`` begins a new one."""
        c = self.config
        day = (start - (self._first if self._first is not None else start)) // 86400
        if self._peak_day is not None and day != self._peak_day:
            self._peak_hist.append(self._peak_cur)
            self._peak_cur = [0.0, 0.0, 0.0]
        self._peak_day = day
        out = []
        for i in range(3):
            vals = sorted([h[i] for h in self._peak_hist] + [c.peak_prior_log2] * c.peak_prior_days)
            out.append(_quantile(vals, c.peak_quantile))
        return out

    def _history_hours(self, end: int) -> float:
        """Hours of baseline history at ``end`` for the cold-start rule: since the brand reached
        ``min_history_mentions``; 0 before that."""
        return 0.0 if self._warm_from is None else (end - self._warm_from) / 3600.0

    def _warm_at(self, t: int) -> bool:
        """Whether cold start was over at ``t``."""
        return self._history_hours(t) >= self.config.min_history_hours

    def _score(
        self, start: int, end: int
    ) -> tuple[Score, tuple[WindowView, ...], HourModel, list[float]]:
        c = self.config
        short, mid, long, before, model = self._views(end)
        peaks = self._usual_peaks(start)
        novelty = []
        history_hours = self._history_hours(end)
        for i, v in enumerate((short, mid, long)):
            lr = log_ratio(v.n, v.expected, c)
            novelty.append(novelty_factor(lr, peaks[i], c))
            if history_hours >= c.min_history_hours:  # the cold-start baseline is no reference
                self._peak_cur[i] = max(self._peak_cur[i], lr)
        s = score(short, mid, long, before, novelty, model.cat_shares, history_hours, c)
        return s, (short, mid, long, before), model, peaks

    # --- events ----------------------------------------------------------------------------------
    def _event(
        self,
        t: Transition,
        end: int,
        result: tuple[Score, tuple[WindowView, ...], HourModel, list[float]],
        sustained: float,
    ) -> AlertEvent:
        s, views, model, peaks = result
        c = self.config
        ring = list(self._closed)
        km = c.buckets(c.mid_window_seconds)
        recent = ring[-km:]
        windows: dict[str, Any] = {}
        labels = {"short": "5m", "mid": "15m", "long": "1h"}
        for v, peak in zip(views[:3], peaks, strict=True):
            key = labels[v.name] if c.bucket_seconds == 60 else f"{v.name}"
            windows[key] = _window_evidence(v)
            windows[key]["usual_daily_peak_ratio"] = round(2.0**peak, 3)
        hours = [*list(self._hours)[-23:], *([self._cur_hour] if self._cur_hour else [])]
        day_n = sum(h.n for h in hours)
        day_neg = sum(h.neg for h in hours)
        windows["24h"] = {
            "count": day_n,
            "negative": day_neg,
            "negative_share": round(day_neg / day_n, 4) if day_n else None,
        }
        mid_sums = views[1].sums
        evidence: dict[str, Any] = {
            "window_start": rfc3339(end - km * c.bucket_seconds),
            "window_end": rfc3339(end),
            "windows": windows,
            "usual_negative_share": round(model.neg_share, 4),
            "reach_weighted_negative_share": round(mid_sums.negw / mid_sums.w, 4)
            if mid_sums.w
            else None,
            "latest_bucket_score": round(s.score, 2),
            "drivers": dict(s.drivers),
            "signals": dict(s.signals),
            "spread_factor": round(s.spread_factor, 4),
            "capped": s.capped,
            "top_mentions": merged_top(recent, c.top_mentions),
            "top_terms": [{"term": k, "count": v} for k, v in merged_terms(recent, c.top_terms)],
            "categories": dict(sorted(mid_sums.cats.items())),
            "history_hours": round(self._history_hours(end), 2),  # the cold-start clock
            "late_events_total": self.late_events,
            "duplicate_events_total": self.duplicate_events,
        }
        return AlertEvent(
            alert_id=t.alert_id,
            event_id=event_id_for(t.alert_id, t.seq, t.status, t.severity),
            brand=self.brand,
            severity=t.severity,
            status=t.status,
            event_time=rfc3339(end),
            score=round(s.score if t.status == "resolved" else sustained, 2),
            evidence=evidence,
            opened_at=rfc3339(t.opened_at),
            seq=t.seq,
        )

    # --- persistence -----------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Compact JSON state; bounded by the ring sizes and the open buckets."""
        state = {
            "v": _STATE_VERSION,
            "brand": self.brand,
            "bucket_seconds": self.config.bucket_seconds,
            "wm": self._wm,
            "next": self._next,
            "first": self._first,
            "warm": [self._count, self._warm_from],
            "open": [self._open[s].to_obj() for s in sorted(self._open)],
            "closed": [bk.to_obj() for bk in self._closed],
            "hours": [h.to_obj() for h in self._hours],
            "cur_hour": self._cur_hour.to_obj() if self._cur_hour else None,
            "keys": [[s, ks] for s, ks in self._recent_keys],
            "sources": self._sources,
            "late": self.late_events,
            "dup": self.duplicate_events,
            "life": self._life.to_obj(),
            "peaks": [self._peak_day, self._peak_cur, list(self._peak_hist)],
            "seen": [[d, base64.b64encode(bytes(bm)).decode("ascii")] for d, bm in self._seen],
            "seen_since": self._seen_since,
        }
        return orjson.dumps(state)

    @classmethod
    def from_bytes(cls, data: bytes, config: DetectorConfig) -> BrandDetector:
        try:
            state = orjson.loads(data)
            version = state["v"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            msg = "detector state is not readable"
            raise ConfigError(msg) from exc
        if version != _STATE_VERSION:
            msg = f"detector state version {version!r} is not supported"
            raise ConfigError(msg)
        if state["bucket_seconds"] != config.bucket_seconds:
            msg = "detector state was written with another bucket_seconds"
            raise ConfigError(msg)
        det = cls(state["brand"], config)
        det._wm = state["wm"]
        det._next = state["next"]
        det._first = state["first"]
        # state from before cold start counted mentions: its clock began at the first bucket
        det._count, det._warm_from = state.get("warm", [config.min_history_mentions, det._first])
        det._open = {o[0]: Bucket.from_obj(o) for o in state["open"]}
        det._closed.extend(Bucket.from_obj(o) for o in state["closed"])
        det._hours.extend(Hour.from_obj(o) for o in state["hours"])
        det._cur_hour = Hour.from_obj(state["cur_hour"]) if state["cur_hour"] else None
        for s, ks in state["keys"]:
            det._recent_keys.append((s, list(ks)))
            det._recent_key_set.update(ks)
        det._sources = dict(state["sources"])
        det.late_events = state["late"]
        det.duplicate_events = state["dup"]
        det._life = LifecycleState.from_obj(state["life"])
        det._peak_day, det._peak_cur, hist = state["peaks"]
        det._peak_hist.extend(hist)
        # state written before newcomers were counted (or with another bitmap size) has no usable
        # author memory: it starts filling again
        size = -(-config.newcomer_filter_bits // 8)
        seen = [(d, bytearray(base64.b64decode(b64))) for d, b64 in state.get("seen", [])]
        if all(len(bm) == size for _, bm in seen):
            det._seen.extend(seen)
            det._seen_since = state.get("seen_since")
        return det


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated quantile of a sorted, non-empty list."""
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _window_evidence(v: WindowView) -> dict[str, Any]:
    return {
        "count": v.n,
        "expected": round(v.expected, 2),
        "negative": v.neg,
        "expected_negative": round(v.expected_neg, 2),
        "negative_share": round(v.neg / v.n, 4) if v.n else None,
        "positive": v.sums.pos,
        "unique_authors": v.sums.distinct_authors,
        "newcomer_authors": v.sums.new_authors,
        "expected_newcomers": round(v.expected * v.new_share, 2) if v.new_share >= 0 else None,
        "excluded_new_sources": v.sums.young_n,
        "excluded_author_bursts": v.sums.spam_n,
    }


def detect_stream(
    mentions: Iterable[ScoredMention], config_for: Callable[[str], DetectorConfig]
) -> Iterator[AlertEvent]:
    """Reference driver (backtest): one detector per brand, all advanced to the global watermark
    (max event time so far) after each mention; at the end, nothing is flushed beyond it.

    Events are yielded ordered by (event time, brand, seq), so any input order whose disorder stays
    within the allowed lateness gives the same output.
    """
    detectors: dict[str, BrandDetector] = {}
    watermark: float | None = None
    closable: dict[tuple[int, int], int] = {}  # (bucket, lateness) -> closable bucket index
    for m in mentions:
        det = detectors.get(m.brand)
        if det is None:
            det = detectors[m.brand] = BrandDetector.new(m.brand, config_for(m.brand))
            closable.setdefault((det.config.bucket_seconds, det.config.allowed_lateness_seconds), 0)
        det.observe(m)
        if watermark is not None and m.ts <= watermark:
            continue
        watermark = m.ts
        # a detector only changes when a bucket becomes closable: skip the calls in between
        moved = False
        for key in list(closable):
            mark = math.floor((watermark - key[1]) / key[0])
            if closable.get(key) != mark:
                closable[key] = mark
                moved = True
        if not moved:
            continue
        events: list[AlertEvent] = []
        for brand in sorted(detectors):
            events.extend(detectors[brand].advance(watermark))
        events.sort(key=lambda e: (e.event_time, e.brand, e.seq))
        yield from events
    if watermark is not None:
        tail: list[AlertEvent] = []
        for brand in sorted(detectors):
            tail.extend(detectors[brand].advance(watermark))
        tail.sort(key=lambda e: (e.event_time, e.brand, e.seq))
        yield from tail
