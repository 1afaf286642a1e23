"""Every threshold and weight of the detector, with documented defaults and per-brand overrides."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.errors import ConfigError

#: Crisis categories and how much an excess of each weighs (1.0 = most severe). Categories the
#: classifier emits that are not listed weigh ``DetectorConfig.category_default_weight``.
DEFAULT_CATEGORY_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        # the classifier's categories (models.lexicon.CATEGORIES)
        "data_breach": 1.0,
        "product_safety": 1.0,
        "discrimination_offensive": 0.8,
        "fraud_scam": 0.8,
        # evidence only by default: at 0.8 the crisis scenarios gave the same detections (57/64)
        # and more alarms before onset (11 -> 14); raise it per brand where backlash is the risk
        "public_backlash": 0.0,
        "legal_regulatory": 0.7,
        "staff_misconduct": 0.6,
        "service_outage": 0.6,
        "billing": 0.4,
        "customer_service": 0.25,
    }
)


@dataclass(frozen=True)
class DetectorConfig:
    """Detector parameters. Defaults are tuned for generality, not for one data set.

    Scores are in points 0-100; driver values are in [0, 1] and become points through their weight.
    """

    # --- windows and state -----------------------------------------------------------------------
    bucket_seconds: int = 60
    """Width of one event-time bucket (``EMBERWATCH_BUCKET_SECONDS``, same for every brand)."""
    allowed_lateness_seconds: int = 120
    """A bucket closes when its end is at or before watermark - this; later mentions are LATE."""
    short_window_seconds: int = 300
    """The short view (5 min): fastest reacting volume and acceleration test."""
    mid_window_seconds: int = 900
    """The mid view (15 min): evidence window (top mentions, terms, categories)."""
    long_window_seconds: int = 3600
    """The long view (1 h): slow negativity shifts at flat volume."""
    hour_history_hours: int = 360
    """Hourly aggregates kept for the baseline (15 days: daily and weekly seasonality)."""
    dedup_retention_seconds: int = 300
    """Dedup keys of closed buckets are kept this long so a redelivery is DUPLICATE, not LATE."""
    top_mentions: int = 5
    """Top mentions by reach kept per bucket and reported per event."""
    top_terms: int = 10
    """Top terms/hashtags kept per bucket and reported per event."""
    max_text_chars: int = 280
    """Mention text is cut to this length in the state and in evidence."""
    timezone: str = "UTC"
    """IANA zone of the brand's audience: hour-of-day and day-of-week seasonality use local time."""
    volume_only: bool = False
    """Mentions carry no sentiment (e.g. a count series): negativity is not required for warning."""

    # --- baseline --------------------------------------------------------------------------------
    min_history_hours: float = 24.0
    """Cold start: with less history than this the score is capped below warning."""
    min_history_mentions: int = 24
    """Cold start is counted in data too: the min_history_hours clock starts only once the brand
    has this many mentions, so a few stray mentions before a collection is switched on (or
    before a quiet brand gets its first real traffic) do not make the switch-on a surge. Hours
    before warm-up is complete are learned as they are, without the clean cap."""
    source_warmup_hours: float = 24.0
    """A source first seen this recently is left out of the scored counts (source switched on)."""
    season_days: int = 7
    """Days of hourly history used for the hour-of-day profile."""
    season_shrink_days: float = 1.0
    """Shrinks the hour-of-day profile toward flat with few days (pseudo-days of a flat profile)."""
    weekly_min_days: int = 8
    """Day-of-week factors are used only with at least this many days of history."""
    weekly_shrink_weeks: float = 1.0
    """Shrinks day-of-week factors toward 1 (pseudo-weeks of a flat week)."""
    level_hours: int = 24
    """Hours of recent history that set the level of the baseline."""
    recent_hours: int = 0
    """Short-term level correction over this many hours (actual/expected, clamped by
    recent_ratio_*); off by default: after a collection gap it turns normal traffic into a spike,
    and during a slow crisis it learns the crisis."""
    recent_ratio_min: float = 0.5
    """Lower clamp of the short-term level correction."""
    recent_ratio_max: float = 2.0
    """Upper clamp of the short-term level correction."""
    min_rate_per_hour: float = 0.5
    """Floor of the expected hourly count: one stray mention is not infinitely surprising."""
    clean_cap_factor: float = 3.0
    """An hour above cap_factor x expected + cap_add is learned at that cap (no learning crises)."""
    clean_cap_add: float = 10.0
    """See clean_cap_factor."""
    dispersion_min: float = 0.03
    """Lower bound of the negative-binomial dispersion (var = mu + alpha mu^2)."""
    dispersion_max: float = 1.0
    """Upper bound of the learned dispersion."""
    dispersion_prior: float = 0.1
    """Dispersion used before enough history, and prior weight of the moment estimate."""
    share_prior: float = 0.3
    """Prior usual negative share of a brand (pseudo-count share_prior_weight)."""
    share_prior_weight: float = 50.0
    """Pseudo-mentions behind share_prior."""
    share_overdispersion: float = 0.02
    """Intra-class correlation of negative labels (beta-binomial design effect)."""

    peak_days: int = 14
    """Completed days whose peak volume ratio (per window) set the brand's usual daily peak."""
    peak_quantile: float = 0.75
    """Quantile of the completed days' peaks taken as the usual daily peak (a busy day)."""
    peak_prior_log2: float = 1.0
    """Usual daily peak (log2 of observed/expected) assumed before there are days of history ..."""
    peak_prior_days: int = 2
    """... with the weight of this many days (pseudo-days in the median)."""
    ratio_pseudo_count: float = 5.0
    """Pseudo-mentions added to observed and expected in volume ratios (damps tiny counts)."""
    novelty_margin_log2: float = 0.5
    """Volume counts fully only this far (log2) above the usual daily peak: routine peaks of a
    brand (launch hours, a daily show) are not a crisis however improbable under the baseline ..."""
    novelty_span_log2: float = 1.0
    """... and not at all below usual peak + margin - span (linear in between)."""

    newcomer_memory_days: int = 3
    """An author is a newcomer when not seen in the brand's mentions of the last this many UTC
    days (today included); remembered in one hashed bitmap per day."""
    newcomer_filter_bits: int = 32768
    """Bits of each day's author bitmap (a few per cent of newcomers are taken for regulars once
    a day has ~1000 distinct authors; more bits, fewer such collisions, larger state)."""
    newcomer_min_hours: int = 24
    """Hours of newcomer counts (after the memory has filled) before the newcomer driver runs."""
    newcomer_share_prior: float = 0.5
    """Prior usual newcomers per mention (pseudo-count share_prior_weight)."""

    # --- drivers ---------------------------------------------------------------------------------
    surprise_full: float = 6.0
    """-log10 tail probability at which a count driver is at full strength (1e-6)."""
    surprise_floor: float = 1.3
    """-log10 tail probability below which a count driver is zero (5e-2 is ordinary)."""
    min_excess_mentions: float = 8.0
    """Volume and negative-count drivers reach full strength only with this many excess mentions."""
    min_negative_mentions: int = 5
    """Fewer negative mentions in a window than this never drive negativity."""
    share_drop_tolerance: float = 0.25
    """A negative share this fraction below usual is a benign spike (no negative-count driver)."""
    excess_negative_share: float = 0.2
    """... unless at least this share of the extra mentions (above expected) is negative."""
    negativity_gate: float = 0.2
    """Below this negativity strength a volume surge is held under critical, and under warning
    when it is positive-led (positive spikes: watch at most)."""
    corroboration_min: float = 0.3
    """Warning and above need negativity (or a category surge) or volume evidence of at least
    this strength on the mid or long view; surprise on the short view alone is held under warning
    (capped ``short_window_only``). A chance cluster of a few minutes stays in the short window
    for all of it and would otherwise confirm itself over ``confirm_buckets``; a crisis soon shows
    on the 15-minute view too. 0 turns the check off."""
    volume_alone_warns: bool = True
    """A surge whose negativity stays under ``negativity_gate`` (and is not positive-led) may
    reach warning, held under critical; False holds it under warning (watch at most), like a
    positive spike."""
    positive_led_share: float = 0.4
    """A surge is positive-led when this share of the extra mentions are extra positive ones."""
    weight_volume: float = 55.0
    """Points of a full volume surprise."""
    weight_negativity: float = 70.0
    """Points of a full negativity shift (negative share or negative count)."""
    weight_acceleration: float = 15.0
    """Points of a full acceleration (last short window vs the mid window before it)."""
    weight_newcomers: float = 20.0
    """Points of a full newcomer surge: far more distinct authors new to the brand than usual (a
    story spreading beyond the brand's regular audience; one spammer is one author). Corroborating
    evidence: alone it stays below watch, and it does not keep an open alert from resolving (an
    early trickle of new voices would otherwise hold one episode open into the crisis)."""
    weight_reach: float = 10.0
    """Points of full reach: a negative mention reaching reach_full people."""
    weight_category: float = 20.0
    """Points of a full excess of the most severe category."""
    reach_floor: float = 1_000.0
    """Reach (followers + engagement) below which influence adds nothing."""
    reach_full: float = 1_000_000.0
    """Reach at which the reach driver is at full strength (log scale in between)."""
    category_threshold: float = 0.5
    """A mention belongs to a category when its score is at least this."""
    category_min_mentions: int = 3
    """Fewer mentions of a category in the mid window never drive the category driver."""
    category_excess_full: float = 0.2
    """Excess category share (vs the usual share) at which the category driver is full."""
    category_min_excess: float = 5.0
    """A category's count surge is full only with this many mentions above its expectation."""
    category_floor_mentions: float = 0.2
    """Floor of a category's expected mentions per mid window (a category never seen before)."""
    category_weights: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_CATEGORY_WEIGHTS)
    )
    """Severity weight per crisis category (overrides merge into the defaults)."""
    category_default_weight: float = 0.5
    """Severity weight of a category not in category_weights."""
    spread_min_mentions: int = 10
    """Mentions with an author needed before author spread can damp the score."""
    spread_full_ratio: float = 0.5
    """Distinct authors / mentions at or above which spread does not damp."""
    spread_min_factor: float = 0.2
    """Damping of volume and negativity when a handful of authors make all the noise."""

    # --- lifecycle -------------------------------------------------------------------------------
    watch_threshold: float = 35.0
    """Score that opens an alert at watch."""
    warning_threshold: float = 55.0
    """Score for warning."""
    critical_threshold: float = 75.0
    """Score for critical."""
    confirm_buckets: int = 2
    """A level counts once the score held it for this many consecutive buckets."""
    resolve_threshold: float = 20.0
    """Hysteresis: an open alert resolves only after the score stays below this ..."""
    resolve_quiet_seconds: int = 1800
    """... for this long."""
    cooldown_seconds: int = 3600
    """After a resolution, a new watch-level episode waits this long (warning+ opens at once)."""

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.bucket_seconds < 1:
            problems.append("bucket_seconds must be >= 1")
        if self.allowed_lateness_seconds < 0:
            problems.append("allowed_lateness_seconds must be >= 0")
        if not (0 < self.watch_threshold <= self.warning_threshold <= self.critical_threshold):
            problems.append("need 0 < watch_threshold <= warning_threshold <= critical_threshold")
        if not (0 <= self.resolve_threshold <= self.watch_threshold):
            problems.append("need 0 <= resolve_threshold <= watch_threshold")
        if self.confirm_buckets < 1:
            problems.append("confirm_buckets must be >= 1")
        if not 0.0 <= self.corroboration_min <= 1.0:
            problems.append("corroboration_min must be in [0, 1] (a signal strength)")
        if self.surprise_full <= self.surprise_floor:
            problems.append("surprise_full must exceed surprise_floor")
        if not (0 < self.dispersion_min <= self.dispersion_max):
            problems.append("need 0 < dispersion_min <= dispersion_max")
        if self.newcomer_memory_days < 1 or self.newcomer_filter_bits < 8:
            problems.append("need newcomer_memory_days >= 1 and newcomer_filter_bits >= 8")
        if self.hour_history_hours < 24:
            problems.append("hour_history_hours must be >= 24")
        for name in ("short_window_seconds", "mid_window_seconds", "long_window_seconds"):
            if getattr(self, name) < self.bucket_seconds:
                problems.append(f"{name} must be >= bucket_seconds")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"unknown timezone {self.timezone!r}")
        if problems:
            msg = "invalid detector config: " + "; ".join(problems)
            raise ConfigError(msg)

    def buckets(self, seconds: int) -> int:
        """Number of buckets covering ``seconds`` (at least one)."""
        return max(1, -(-seconds // self.bucket_seconds))

    def category_weight(self, category: str) -> float:
        return float(self.category_weights.get(category, self.category_default_weight))

    @classmethod
    def from_mapping(cls, base: DetectorConfig, overrides: Mapping[str, Any]) -> DetectorConfig:
        """``base`` with per-brand ``overrides`` (e.g. from the brand catalog).

        Unknown keys and wrong types raise ``ConfigError``; ``category_weights`` merges into the
        base mapping. ``bucket_seconds`` and ``allowed_lateness_seconds`` should stay the same for
        every brand of a stream (the settings): ``detect_stream`` orders events across brands
        assuming a shared bucket grid.
        """
        known = {f.name: f for f in dataclasses.fields(cls)}
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in known:
                msg = f"unknown detector setting {key!r}"
                raise ConfigError(msg)
            changes[key] = _coerce(key, getattr(base, key), value)
        return dataclasses.replace(base, **changes)


def _coerce(key: str, current: Any, value: Any) -> Any:
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(current, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif isinstance(current, str):
        if isinstance(value, str):
            return value
    elif isinstance(current, Mapping) and isinstance(value, Mapping):
        merged = dict(current)
        for name, weight in value.items():
            if not isinstance(name, str) or isinstance(weight, bool):
                break
            if not isinstance(weight, int | float):
                break
            merged[name] = float(weight)
        else:
            return merged
    msg = f"detector setting {key!r}: {value!r} has the wrong type"
    raise ConfigError(msg)
