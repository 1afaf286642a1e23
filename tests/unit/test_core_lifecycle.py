"""Alert lifecycle: confirmation, escalation, hysteresis, cooldown and deterministic ids."""

from __future__ import annotations

from pipeline.core.config import DetectorConfig
from pipeline.core.lifecycle import LifecycleState, alert_id_for, event_id_for, step

CFG = DetectorConfig()  # watch 35, warning 55, critical 75, resolve 20, confirm 2 buckets
T0 = 1_709_510_400  # 2024-03-04T00:00:00Z


Out = list[tuple[int, str, str, int]]


def drive(
    scores: list[float], state: LifecycleState | None = None, t0: int = T0
) -> tuple[LifecycleState, Out]:
    st = state or LifecycleState()
    out: Out = []
    for i, s in enumerate(scores):
        start = t0 + 60 * i
        st, tr = step(st, "acme", start, start + 60, s, CFG)
        out.extend((i, t.status, t.severity, t.seq) for t in tr)
    return st, out


def test_one_bucket_blip_does_not_open() -> None:
    _, out = drive([0, 90, 0, 0])
    assert out == []


def test_open_escalate_resolve_with_one_id() -> None:
    quiet = [0.0] * 31
    st, out = drive([40, 40, 60, 60, 80, 80, 30, 10, *quiet])
    assert out == [
        (1, "opened", "watch", 0),
        (3, "escalated", "warning", 1),
        (5, "escalated", "critical", 2),
        (36, "resolved", "critical", 3),
    ]
    assert st.episode is None
    assert st.last_resolved_at == T0 + 60 * 37


def test_hysteresis_keeps_the_episode_open_between_thresholds() -> None:
    st, out = drive([60, 60] + [25.0] * 120)
    assert [o[1] for o in out] == ["opened"]
    assert st.episode is not None
    # a dip below resolve restarts the quiet clock when the score comes back
    st, out = drive([10.0] * 20 + [30.0] + [10.0] * 20, st, T0 + 60 * 122)
    assert out == []
    st, out = drive([10.0] * 15, st, T0 + 60 * 163)
    assert [o[1] for o in out] == ["resolved"]


def test_never_deescalates() -> None:
    _, out = drive([80, 80, 40, 40, 60, 60])
    assert [(o[1], o[2]) for o in out] == [("opened", "critical")]


def test_cooldown_blocks_a_new_watch_but_not_a_warning() -> None:
    st, out = drive([40, 40] + [0.0] * 31)
    assert [o[1] for o in out] == ["opened", "resolved"]
    t = T0 + 60 * 33
    st2, out = drive([40, 40, 40], st, t)
    assert out == []
    _, out = drive([60, 60], st2, t + 180)
    assert [(o[1], o[2]) for o in out] == [("opened", "warning")]
    # after the cooldown, a watch opens again
    _, out = drive([40, 40], st, t + CFG.cooldown_seconds)
    assert [(o[1], o[2]) for o in out] == [("opened", "watch")]


def test_ids_are_deterministic_and_distinct_per_episode() -> None:
    a = alert_id_for("acme", T0)
    assert a == alert_id_for("acme", T0)
    assert a != alert_id_for("acme", T0 + 60)
    assert a != alert_id_for("other", T0)
    assert a.startswith("ew-") and len(a) == 23
    e1 = event_id_for(a, 0, "opened", "watch")
    assert e1 == event_id_for(a, 0, "opened", "watch")
    assert e1 != event_id_for(a, 1, "escalated", "warning")


def test_state_round_trip() -> None:
    st, _ = drive([60, 60, 10, 10])
    again = LifecycleState.from_obj(st.to_obj())
    assert again == st


def test_hold_score_decides_resolution_not_the_full_score() -> None:
    st = LifecycleState()
    out: list[tuple[int, str]] = []
    scores = [60.0, 60.0, *[25.0] * 40]  # a warning, then 25 points a driver alone holds up
    for i, s in enumerate(scores):
        start = T0 + 60 * i
        hold = s if i < 2 else 5.0  # without that driver the score is quiet
        st, tr = step(st, "acme", start, start + 60, s, CFG, hold)
        out.extend((i, t.status) for t in tr)
    assert out == [(1, "opened"), (31, "resolved")]
    _, held = drive(scores)
    assert [status for _, status, _, _ in held] == ["opened"]  # the full score keeps it open
