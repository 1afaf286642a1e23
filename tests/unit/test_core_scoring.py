"""Score caps: a warning needs the mid or long view to corroborate the short one."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipeline.core.config import DetectorConfig
from pipeline.core.scoring import WindowView, score
from pipeline.core.windows import WindowSums
from pipeline.errors import ConfigError

CFG = DetectorConfig()  # warning 55, corroboration_min 0.3
NEG_SHARE = 0.36


def view(name: str, n: int, neg: int, expected: float) -> WindowView:
    """Distinct authors, usual negative share 0.36, a steady brand (dispersion at its floor)."""
    sums = WindowSums(n=n, neg=neg, with_author=n, distinct_authors=n)
    return WindowView(name, sums, expected, NEG_SHARE, CFG.dispersion_min)


def chance_cluster(mid_n: int = 18, mid_neg: int = 12) -> tuple[WindowView, ...]:
    """A few minutes of draws that happen to be negative (the spammer brand of the scenario
    benchmark): 14 mentions against 4.4 expected, 10 negative against 1.6, in the short window;
    the mid and long views are barely above usual."""
    return (
        view("short", 14, 10, 4.44),
        view("mid", mid_n, mid_neg, 13.33),
        view("long", 60, 29, 53.06),
        view("before", 4, 2, 8.9),
    )


def score_of(views: tuple[WindowView, ...], cfg: DetectorConfig = CFG) -> tuple[float, str | None]:
    short, mid, long, before = views
    s = score(short, mid, long, before, [0.5, 0.0, 0.0], {}, 48.0, cfg)
    return s.score, s.capped


def test_surprise_in_the_short_window_alone_is_held_under_warning() -> None:
    total, capped = score_of(chance_cluster())
    assert total < CFG.warning_threshold
    assert total >= CFG.watch_threshold  # still worth a watch
    assert capped == "short_window_only"


def test_the_check_can_be_turned_off() -> None:
    total, capped = score_of(chance_cluster(), replace(CFG, corroboration_min=0.0))
    assert total >= CFG.warning_threshold
    assert capped is None


def test_a_negative_mid_window_corroborates() -> None:
    # the same short window ten minutes into a crisis: the mid view is clearly negative too
    total, capped = score_of(chance_cluster(mid_n=30, mid_neg=24))
    assert total >= CFG.warning_threshold
    assert capped is None


def test_volume_only_series_need_the_mid_or_long_view_as_well() -> None:
    cfg = replace(CFG, volume_only=True)
    short = view("short", 40, 0, 5.0)
    before = view("before", 15, 0, 15.0)
    novelty = [1.0, 1.0, 1.0]
    # one surprising bucket: the mid view is ordinary
    one = score(short, view("mid", 48, 0, 40.0), view("long", 170, 0, 160.0), before, novelty,
                {}, 48.0, cfg)  # fmt: skip
    assert one.score < cfg.warning_threshold
    assert one.capped == "short_window_only"
    # the surge goes on: the mid view stands out as well
    on = score(short, view("mid", 110, 0, 40.0), view("long", 230, 0, 160.0), before, novelty,
               {}, 48.0, cfg)  # fmt: skip
    assert on.score >= cfg.warning_threshold
    assert on.capped is None


def test_corroboration_min_is_a_signal_strength() -> None:
    with pytest.raises(ConfigError, match="corroboration_min"):
        DetectorConfig(corroboration_min=1.5)
