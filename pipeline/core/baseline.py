"""Per-brand baseline: hourly history -> expected counts, hour-of-day and day-of-week seasonality.

Count tails use the negative binomial (variance mu + alpha mu^2) and a beta-binomial-like design
effect for shares, so tiny counts are judged as counts, not as Gaussian z-scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from scipy.special import betainc

from pipeline.core.config import DetectorConfig

MAX_SURPRISE = 30.0


@lru_cache(maxsize=8192)
def local_slot(epoch_seconds: int, timezone: str) -> tuple[int, int]:
    """(day of week 0=Monday, hour of day) of an instant in a brand's local time."""
    local = datetime.fromtimestamp(epoch_seconds, tz=UTC).astimezone(ZoneInfo(timezone))
    return local.weekday(), local.hour


@dataclass
class Hour:
    """Aggregates of one UTC hour. ``clean_*`` are the values the baseline learns from: an hour far
    above its expectation is learned at a cap, so an incident does not become the new normal."""

    start: int
    n: int = 0
    neg: int = 0
    clean_n: float = 0.0
    clean_neg: float = 0.0
    cats: dict[str, int] = field(default_factory=dict)
    pos: int = 0
    new: int = -1  # distinct newcomer authors; -1: not known (newcomer memory not yet filled)

    def to_obj(self) -> list[Any]:
        return [
            self.start, self.n, self.neg, self.clean_n, self.clean_neg, self.cats, self.pos,
            self.new,
        ]  # fmt: skip

    @classmethod
    def from_obj(cls, obj: Sequence[Any]) -> Hour:
        new = obj[7] if len(obj) > 7 else -1  # state written before newcomers were counted
        return cls(obj[0], obj[1], obj[2], obj[3], obj[4], dict(obj[5]), obj[6], new)


@dataclass(frozen=True)
class HourModel:
    """What the baseline expects for one hour."""

    expected: float  # mentions in the hour
    neg_share: float  # usual negative share
    pos_share: float  # usual positive share
    alpha: float  # negative-binomial dispersion
    cat_shares: dict[str, float]  # usual share of mentions per category
    history_hours: int  # complete hours of history behind the model
    new_share: float = -1.0  # usual newcomer authors per mention; < 0: not known yet


def fit_hour(hours: Sequence[Hour], start: int, cfg: DetectorConfig) -> HourModel:
    """The model for the hour beginning at ``start`` from the complete hours before it."""
    hist = [h for h in hours if h.start < start]
    nh = len(hist)
    if nh == 0:
        return HourModel(cfg.min_rate_per_hour, cfg.share_prior, 0.2, cfg.dispersion_prior, {}, 0)
    tz = cfg.timezone
    week = hist[-cfg.season_days * 24 :]
    slots = [local_slot(h.start, tz) for h in hist]
    wslots = slots[-len(week) :]
    xs = [h.clean_n for h in hist]
    wx = xs[-len(week) :]

    # hour-of-day profile over the last season_days, shrunk toward flat with few days
    mean_all = sum(wx) / len(wx)
    prof = [1.0] * 24
    if mean_all > 0:
        sums = [0.0] * 24
        cnts = [0] * 24
        for (_, hod), x in zip(wslots, wx, strict=True):
            sums[hod] += x
            cnts[hod] += 1
        days = len(wx) / 24.0
        k0 = cfg.season_shrink_days
        for hod in range(24):
            if cnts[hod]:
                raw = (sums[hod] / cnts[hod]) / mean_all
                prof[hod] = (days * raw + k0) / (days + k0)

    # day-of-week factors once there is more than a week
    dow = [1.0] * 7
    if nh >= cfg.weekly_min_days * 24:
        two = list(zip(slots[-14 * 24 :], xs[-14 * 24 :], strict=True))
        ys = [(d, x / prof[hod]) for (d, hod), x in two]
        mean_y = sum(y for _, y in ys) / len(ys)
        if mean_y > 0:
            dsum = [0.0] * 7
            dcnt = [0] * 7
            for d, y in ys:
                dsum[d] += y
                dcnt[d] += 1
            k1 = cfg.weekly_shrink_weeks
            for d in range(7):
                if dcnt[d]:
                    weeks = dcnt[d] / 24.0
                    raw = (dsum[d] / dcnt[d]) / mean_y
                    dow[d] = (weeks * raw + k1) / (weeks + k1)

    def season(i: int) -> float:
        d, hod = slots[i]
        return prof[hod] * dow[d]

    # level: recent mentions per unit of seasonal factor
    lo = max(0, nh - cfg.level_hours)
    s_sum = sum(season(i) for i in range(lo, nh))
    level = sum(xs[lo:]) / s_sum if s_sum > 0 else 0.0

    # short-term correction: the last hours against what the level says
    ratio = 1.0
    if cfg.recent_hours > 0 and nh >= cfg.level_hours:
        rlo = nh - cfg.recent_hours
        exp_recent = sum(level * season(i) for i in range(rlo, nh))
        act_recent = sum(xs[rlo:])
        pseudo = 5.0
        ratio = (act_recent + pseudo) / (exp_recent + pseudo)
        ratio = min(cfg.recent_ratio_max, max(cfg.recent_ratio_min, ratio))

    d_t, hod_t = local_slot(start, tz)
    expected = max(cfg.min_rate_per_hour, level * prof[hod_t] * dow[d_t] * ratio)

    # dispersion: moment estimate of alpha from the in-sample fit of the last week
    alpha = cfg.dispersion_prior
    wl = len(wx)
    if wl >= 24 and mean_all > 0:
        wlevel = sum(wx) / sum(season(i) for i in range(nh - wl, nh))
        num = den = 0.0
        for i in range(nh - wl, nh):
            e = max(cfg.min_rate_per_hour, wlevel * season(i))
            num += (xs[i] - e) ** 2 - xs[i]
            den += e * e
        est = num / den if den > 0 else cfg.dispersion_prior
        wgt = wl / (wl + 24.0)
        alpha = wgt * est + (1 - wgt) * cfg.dispersion_prior
    alpha = min(cfg.dispersion_max, max(cfg.dispersion_min, alpha))

    tot_n = sum(h.clean_n for h in week)
    tot_neg = sum(h.clean_neg for h in week)
    neg_share = (tot_neg + cfg.share_prior * cfg.share_prior_weight) / (
        tot_n + cfg.share_prior_weight
    )
    raw_n = sum(h.n for h in week)
    pos_share = (sum(h.pos for h in week) + 0.2 * cfg.share_prior_weight) / (
        raw_n + cfg.share_prior_weight
    )
    cat_tot: dict[str, int] = {}
    for h in week:
        for c, k in h.cats.items():
            cat_tot[c] = cat_tot.get(c, 0) + k
    cat_shares = {c: k / raw_n for c, k in cat_tot.items()} if raw_n else {}
    known = [h for h in week if h.new >= 0]
    new_share = -1.0
    if len(known) >= cfg.newcomer_min_hours:
        new_share = (
            sum(h.new for h in known) + cfg.newcomer_share_prior * cfg.share_prior_weight
        ) / (sum(h.n for h in known) + cfg.share_prior_weight)
    return HourModel(expected, neg_share, pos_share, alpha, cat_shares, nh, new_share)


def nb_surprise(x: float, mu: float, alpha: float) -> float:
    """-log10 P(X >= x) for X ~ NegBin(mean mu, variance mu + alpha mu^2); 0 when x <= mu."""
    if x <= mu or x < 1:
        return 0.0
    r = 1.0 / alpha
    p_fail = mu / (r + mu)
    tail = float(betainc(math.floor(x), r, p_fail))
    return _surprise(tail)


def share_surprise(k: float, n: float, p0: float, icc: float) -> float:
    """-log10 P(share >= k/n) when the usual share is p0, with design effect 1 + icc (n - 1)."""
    if n <= 0 or k <= n * p0:
        return 0.0
    n_eff = n / (1.0 + icc * max(0.0, n - 1.0))
    k_eff = k * n_eff / n
    if k_eff <= 0:
        return 0.0
    # P(Bin(n, p) >= k) = I_p(k, n - k + 1), continuous in k and n
    tail = float(betainc(k_eff, n_eff - k_eff + 1.0, min(max(p0, 1e-9), 1 - 1e-9)))
    return _surprise(tail)


def _surprise(tail: float) -> float:
    if tail <= 0.0 or math.isnan(tail):
        return MAX_SURPRISE
    return min(MAX_SURPRISE, -math.log10(tail))
