"""Crisis-risk score 0-100 from explainable drivers (each in [0, 1], weighted into points)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.core.baseline import nb_surprise, share_surprise
from pipeline.core.config import DetectorConfig
from pipeline.core.windows import WindowSums


@dataclass(frozen=True)
class WindowView:
    """Observed scored counts of one window and what the baseline expected."""

    name: str
    sums: WindowSums
    expected: float
    neg_share: float  # usual negative share
    alpha: float
    pos_share: float = 0.2  # usual positive share
    new_share: float = -1.0  # usual newcomer authors per mention; < 0: not known yet

    @property
    def n(self) -> int:
        return self.sums.scored_n

    @property
    def neg(self) -> int:
        return self.sums.scored_neg

    @property
    def expected_neg(self) -> float:
        return self.expected * self.neg_share


@dataclass(frozen=True)
class Score:
    score: float
    drivers: dict[str, float]  # driver -> points contributed
    signals: dict[str, float]  # driver -> raw strength in [0, 1]
    spread_factor: float
    capped: str | None  # why the score was held below warning, if it was


def _ramp(surprise: float, cfg: DetectorConfig) -> float:
    span = cfg.surprise_full - cfg.surprise_floor
    return min(1.0, max(0.0, (surprise - cfg.surprise_floor) / span))


def _excess(x: float, mu: float, cfg: DetectorConfig) -> float:
    return min(1.0, max(0.0, (x - mu) / cfg.min_excess_mentions))


def volume_signal(
    views: Sequence[WindowView], novelty: Sequence[float], cfg: DetectorConfig
) -> float:
    """Count surprise under the baseline, times how far above the brand's usual daily peak."""
    best = 0.0
    for v, f in zip(views, novelty, strict=True):
        if f <= 0.0:
            continue
        s = nb_surprise(v.n, v.expected, v.alpha)
        best = max(best, f * _ramp(s, cfg) * _excess(v.n, v.expected, cfg))
    return best


def log_ratio(n: float, expected: float, cfg: DetectorConfig) -> float:
    c = cfg.ratio_pseudo_count
    return math.log2((n + c) / (expected + c))


def novelty_factor(lr: float, usual_peak: float, cfg: DetectorConfig) -> float:
    top = usual_peak + cfg.novelty_margin_log2
    return min(1.0, max(0.0, 1.0 - (top - lr) / cfg.novelty_span_log2))


def negativity_signal(views: list[WindowView], cfg: DetectorConfig) -> float:
    """Strength of the negativity shift: negative share above usual, or negative count above
    expected while the share did not fall much or a good part of the extra mentions is negative
    (a benign spike dilutes the share with non-negative mentions)."""
    best = 0.0
    for v in views:
        if v.neg < cfg.min_negative_mentions:
            continue
        s_share = share_surprise(v.neg, v.n, v.neg_share, cfg.share_overdispersion)
        best = max(best, _ramp(s_share, cfg) * _excess(v.neg, v.n * v.neg_share, cfg))
        extra = v.n - v.expected
        extra_neg_share = (v.neg - v.expected_neg) / extra if extra > 0 else 0.0
        share_kept = v.neg >= v.n * v.neg_share * (1.0 - cfg.share_drop_tolerance)
        if share_kept or extra_neg_share >= cfg.excess_negative_share:
            s_count = nb_surprise(v.neg, v.expected_neg, v.alpha)
            best = max(best, _ramp(s_count, cfg) * _excess(v.neg, v.expected_neg, cfg))
    return best


def acceleration_signal(short: WindowView, before: WindowView, cfg: DetectorConfig) -> float:
    """The short window against the mid window just before it, given their expected ratio."""
    x1, x0 = short.n, before.n
    if x1 <= short.expected:
        return 0.0
    total = x0 + x1
    p = short.expected / (short.expected + before.expected)
    s = share_surprise(x1, total, p, cfg.share_overdispersion)
    return _ramp(s, cfg) * _excess(x1, total * p, cfg)


def newcomer_signal(views: Sequence[WindowView], cfg: DetectorConfig) -> float:
    """Distinct authors new to the brand against their usual rate (``new_share`` of the expected
    mentions): a count surprise with ``min_excess_mentions`` extra newcomers for full strength.
    A story spreading beyond the brand's regular audience shows here before total volume
    stands out; a spammer is one author, a routine busy hour brings the usual regulars. Only
    newcomers that add to the volume count toward the excess (new voices replacing regulars at
    flat volume are churn, not spread)."""
    best = 0.0
    for v in views:
        if v.new_share < 0.0:
            continue
        x = v.sums.new_authors
        mu = max(v.expected * v.new_share, cfg.min_rate_per_hour * v.new_share)
        added = min(x - mu, v.n - v.expected)
        best = max(best, _ramp(nb_surprise(x, mu, v.alpha), cfg) * _excess(mu + added, mu, cfg))
    return best


def positive_led(v: WindowView, cfg: DetectorConfig) -> bool:
    """Whether the mentions above expected are mostly extra positive ones (a launch, a win)."""
    extra = v.n - v.expected
    if extra <= 0:
        return False
    extra_pos = v.sums.pos - v.n * v.pos_share
    return extra_pos >= cfg.positive_led_share * extra


def reach_signal(mid: WindowSums, cfg: DetectorConfig) -> float:
    r = mid.max_neg_reach
    if r <= cfg.reach_floor:
        return 0.0
    return min(1.0, math.log10(r / cfg.reach_floor) / math.log10(cfg.reach_full / cfg.reach_floor))


def category_signal(
    mid: WindowView, usual: dict[str, float], cfg: DetectorConfig
) -> tuple[float, float, str | None]:
    """Strongest excess of a crisis category in the mid window, times its severity weight.

    Returns (signal, surge, category): ``signal`` is the larger of the share route (category
    share above its usual share) and the count route; ``surge`` is the count route alone:
    category mentions against their own baseline (the usual share of the expected or observed
    mentions, whichever is more; usually near zero), a negative-binomial count surprise with at
    least ``category_min_excess`` mentions above expected for full strength. Unless the surge is
    positive-led, ``score`` takes a severe category's surge as negativity evidence even when the
    mentions read neutral (news-style reports of a breach, a recall, an offensive ad).
    """
    best, surge, which = 0.0, 0.0, None
    sums = mid.sums
    if sums.n <= 0:
        return best, surge, which
    for cat in sorted(sums.cats):
        k = sums.cats[cat]
        if k < cfg.category_min_mentions:
            continue
        u = usual.get(cat, 0.0)
        weight = cfg.category_weight(cat)
        share = min(1.0, max(0.0, (k / sums.n - u) / cfg.category_excess_full))
        # the category's usual share of the mentions there are (a launch lifts every category)
        mu = max(max(mid.expected, sums.n) * u, cfg.category_floor_mentions)
        count = _ramp(nb_surprise(k, mu, mid.alpha), cfg) * min(
            1.0, max(0.0, (k - mu) / cfg.category_min_excess)
        )
        d = weight * max(share, count)
        if d > best:
            best, which = d, cat
        surge = max(surge, weight * count)
    return best, surge, which


def spread_factor(mid: WindowSums, cfg: DetectorConfig) -> float:
    """< 1 when a few authors make most of the mentions (one spammer is not a crisis)."""
    if mid.with_author < cfg.spread_min_mentions:
        return 1.0
    ratio = mid.distinct_authors / mid.with_author
    return min(1.0, max(cfg.spread_min_factor, ratio / cfg.spread_full_ratio))


def score(
    short: WindowView,
    mid: WindowView,
    long: WindowView,
    before: WindowView,
    novelty: Sequence[float],
    usual_cats: dict[str, float],
    history_hours: float,
    cfg: DetectorConfig,
) -> Score:
    """``novelty``: per short/mid/long window, see ``novelty_factor``.

    Caps (``Score.capped``): ``cold_start`` and ``positive_spike`` hold the score under warning,
    ``not_negative`` under critical, ``short_window_only`` under warning when neither the mid nor
    the long view carries negativity or volume evidence of at least ``corroboration_min``."""
    views = [short, mid, long]
    # the mid and long views apart: they corroborate what the short view alone may show by chance
    vol_slow = volume_signal([mid, long], novelty[1:], cfg)
    d_vol = max(volume_signal([short], novelty[:1], cfg), vol_slow)
    if cfg.volume_only:
        d_neg, neg_slow = d_vol, vol_slow
    else:
        neg_slow = negativity_signal([mid, long], cfg)
        d_neg = max(negativity_signal([short], cfg), neg_slow)
    d_acc = novelty[0] * acceleration_signal(short, before, cfg) if d_vol > 0 else 0.0
    d_reach = reach_signal(mid.sums, cfg)
    d_new = 0.0 if cfg.volume_only else newcomer_signal(views, cfg)
    d_cat, d_surge, _ = category_signal(mid, usual_cats, cfg)
    if not cfg.volume_only and not positive_led(mid, cfg):
        d_neg = max(d_neg, d_surge)
        neg_slow = max(neg_slow, d_surge)  # the category surge is a mid-window count
    spread = spread_factor(mid.sums, cfg)
    drivers = {
        "volume": spread * cfg.weight_volume * d_vol,
        "negativity": spread * cfg.weight_negativity * d_neg,
        "acceleration": spread * cfg.weight_acceleration * d_acc,
        "newcomers": cfg.weight_newcomers * d_new,
        "reach": cfg.weight_reach * d_reach,
        "category": cfg.weight_category * d_cat,
    }
    total = min(100.0, sum(drivers.values()))
    capped = None
    cap = 100.0
    if history_hours < cfg.min_history_hours:
        capped, cap = "cold_start", cfg.warning_threshold - 0.01
    elif not cfg.volume_only and d_neg < cfg.negativity_gate:
        if positive_led(mid, cfg) or positive_led(long, cfg):
            capped, cap = "positive_spike", cfg.warning_threshold - 0.01
        else:
            top = cfg.critical_threshold if cfg.volume_alone_warns else cfg.warning_threshold
            capped, cap = "not_negative", top - 0.01
    if capped is not None and total > cap:
        total = cap
    else:
        capped = None
    if total >= cfg.warning_threshold and max(neg_slow, vol_slow) < cfg.corroboration_min:
        # a few surprising minutes stay in the short window for all of it, so they would confirm
        # themselves in the lifecycle: warning needs the mid or long view to show it too
        capped, total = "short_window_only", cfg.warning_threshold - 0.01
    signals = {
        "volume": d_vol,
        "negativity": d_neg,
        "acceleration": d_acc,
        "newcomers": d_new,
        "reach": d_reach,
        "category": d_cat,
    }
    rounded = {k: round(v, 3) for k, v in drivers.items()}
    return Score(
        round(total, 3), rounded, {k: round(v, 4) for k, v in signals.items()}, spread, capped
    )
