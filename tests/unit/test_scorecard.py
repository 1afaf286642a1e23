"""The backtest scorecard: alarms from alert events, incidents scored, the incidents file."""

from __future__ import annotations

import importlib.util
import sys
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from pipeline.core.detector import AlertEvent, rfc3339
from pipeline.errors import ConfigError
from pipeline.scorecard import (
    Alarm,
    Incident,
    Scorecard,
    alarms_by_brand,
    format_scorecard,
    format_sweep,
    parse_incidents,
    score_incidents,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()  # an incident's onset
MIN = 60.0
HOUR = 3600.0
DAY = 86400.0
SPANS = {"acme": (T0 - 3 * DAY, T0 + DAY), "globex": (T0 - 2 * DAY, T0 + 2 * DAY)}


def event(
    alert_id: str, t: float, severity: str, status: str = "escalated", brand: str = "acme"
) -> AlertEvent:
    return AlertEvent(
        alert_id=alert_id,
        event_id=f"{alert_id}-{t:.0f}-{status}",
        brand=brand,
        severity=severity,
        status=status,
        event_time=rfc3339(t),
        score=50.0,
        evidence={},
        opened_at=rfc3339(t),
        seq=0,
    )


def alarm(t: float, alert_id: str = "a1", brand: str = "acme") -> Alarm:
    return Alarm(brand, t, alert_id)


def score(alarms: Sequence[Alarm], incidents: Sequence[Incident], **kw: float) -> Scorecard:
    by_brand: dict[str, list[Alarm]] = {}
    for a in alarms:
        by_brand.setdefault(a.brand, []).append(a)
    return score_incidents(by_brand, incidents, SPANS, **kw)


# --- alarms ---------------------------------------------------------------------------------------
HAND_MADE = [
    event("ep1", T0, "watch", "opened"),
    event("ep1", T0 + 5 * MIN, "warning"),  # ep1's alarm
    event("ep1", T0 + 9 * MIN, "critical"),  # an escalation of the same episode
    event("ep1", T0 + 2 * HOUR, "critical", "resolved"),
    event("ep2", T0 + 3 * HOUR, "watch", "opened"),  # watch only: no alarm
    event("ep2", T0 + 4 * HOUR, "watch", "resolved"),
    event("ep3", T0 + 6 * HOUR, "warning", "resolved"),  # a resolved event is never the alarm
    event("ep3", T0 + 7 * HOUR, "critical"),  # ep3's alarm
    event("ep4", T0 + 1 * MIN, "critical", "opened", brand="globex"),  # opened at critical
    event("ep4", T0 + 8 * HOUR, "critical", "resolved", brand="globex"),
    event("ep5", T0 + 9 * HOUR, "warning", "opened"),  # opened at warning
]


def test_alarms_are_each_episodes_first_warning_or_above_not_resolved() -> None:
    assert alarms_by_brand(HAND_MADE) == {
        "acme": [
            Alarm("acme", T0 + 5 * MIN, "ep1"),
            Alarm("acme", T0 + 7 * HOUR, "ep3"),
            Alarm("acme", T0 + 9 * HOUR, "ep5"),
        ],
        "globex": [Alarm("globex", T0 + 1 * MIN, "ep4")],
    }
    assert alarms_by_brand([]) == {}
    assert alarms_by_brand([e for e in HAND_MADE if e.alert_id == "ep2"]) == {}


def _original_alarms_of(events: Sequence[AlertEvent]) -> dict[str, list[tuple[int, str]]]:
    """``benchmarks/bench_scenarios.py``'s ``alarms_of`` as it was before it called the library
    (commit 4f166df), kept here to check the adapter gives the same result."""
    alarms: dict[str, list[tuple[int, str]]] = defaultdict(list)
    seen: set[str] = set()
    for e in events:
        if e.severity in ("warning", "critical") and e.status != "resolved":
            if e.alert_id in seen:
                continue
            seen.add(e.alert_id)
            t = int(datetime.fromisoformat(e.event_time).timestamp())
            alarms[e.brand].append((t, e.alert_id))
    return alarms


def _bench_module(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_scenarios.py"
    spec = importlib.util.spec_from_file_location("bench_scenarios_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look themselves up
    monkeypatch.setattr(sys, "path", list(sys.path))  # it adds the repo to sys.path
    spec.loader.exec_module(module)
    return module


def test_benchmark_alarms_of_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    alarms_of = _bench_module(monkeypatch).alarms_of
    got = alarms_of(HAND_MADE)
    assert got == _original_alarms_of(HAND_MADE)
    assert list(got) == ["acme", "globex"]  # brand order as before
    assert got["acme"] == [
        (int(T0 + 5 * MIN), "ep1"),
        (int(T0 + 7 * HOUR), "ep3"),
        (int(T0 + 9 * HOUR), "ep5"),
    ]
    assert isinstance(got, defaultdict) and got["nobody"] == []  # callers may index any brand
    assert alarms_of([]) == {}


# --- scoring --------------------------------------------------------------------------------------
def test_detected_late_and_missed() -> None:
    incidents = [
        Incident("acme", T0, peak=T0 + 2 * HOUR),
        Incident("globex", T0),
        Incident("globex", T0 + 30 * HOUR),
    ]
    card = score(
        [alarm(T0 + 25 * MIN, "a1"), alarm(T0 + 95 * MIN, "g1", "globex")],
        incidents,
    )
    detected, late, missed = card.rows
    assert (detected.outcome, detected.minutes, detected.lead_minutes) == ("detected", 25.0, 95.0)
    assert detected.alarm == alarm(T0 + 25 * MIN, "a1")
    assert (late.outcome, late.minutes, late.lead_minutes) == ("late", 95.0, None)
    assert (missed.outcome, missed.minutes, missed.alarm) == ("missed", None, None)
    assert (card.detected, card.late, card.missed) == (1, 1, 1)
    assert card.median_time_to_detect == 25.0
    assert card.median_lead == 95.0
    assert card.false_alarms == ()


def test_detection_limit_is_inclusive_and_configurable() -> None:
    at_limit = score([alarm(T0 + 60 * MIN)], [Incident("acme", T0)])
    assert at_limit.rows[0].outcome == "detected" and at_limit.rows[0].minutes == 60.0
    tighter = score([alarm(T0 + 60 * MIN)], [Incident("acme", T0)], detect_within=30 * MIN)
    assert tighter.rows[0].outcome == "late" and tighter.rows[0].minutes == 60.0
    assert tighter.detect_within == 30 * MIN


def test_grace_before_onset() -> None:
    early = score([alarm(T0 - 90 * MIN)], [Incident("acme", T0, peak=T0 + HOUR)])
    assert early.rows[0].outcome == "detected"
    assert early.rows[0].minutes == 0.0
    assert early.rows[0].lead_minutes == 150.0
    assert early.false_alarms == ()

    too_early = score([alarm(T0 - 3 * HOUR)], [Incident("acme", T0)])
    assert too_early.rows[0].outcome == "missed"
    assert too_early.false_alarms == (alarm(T0 - 3 * HOUR),)


def test_first_alarm_in_span_decides() -> None:
    # an early alarm in the grace period and a later one: the first counts, the second is no
    # false alarm
    card = score([alarm(T0 + 3 * HOUR, "a2"), alarm(T0 - HOUR, "a1")], [Incident("acme", T0)])
    assert card.rows[0].alarm == alarm(T0 - HOUR, "a1")
    assert card.false_alarms == ()


def test_span_end_defaults_and_explicit() -> None:
    after = [alarm(T0 + 20 * HOUR, "in"), alarm(T0 + 25 * HOUR, "out")]
    default = score(after, [Incident("acme", T0)])
    assert default.rows[0].span == (T0 - 2 * HOUR, T0 + 24 * HOUR)
    assert default.rows[0].outcome == "late"
    assert [a.alert_id for a in default.false_alarms] == ["out"]
    # a late peak extends the span to 12 h after it
    peaked = score(after, [Incident("acme", T0, peak=T0 + 14 * HOUR)])
    assert peaked.rows[0].span[1] == T0 + 26 * HOUR
    assert peaked.false_alarms == ()
    explicit = score(after, [Incident("acme", T0, end=T0 + 10 * HOUR)])
    assert explicit.rows[0].outcome == "missed"
    assert [a.alert_id for a in explicit.false_alarms] == ["in", "out"]


def test_alarms_of_another_brand_do_not_count() -> None:
    card = score([alarm(T0 + 10 * MIN, "g1", "globex")], [Incident("acme", T0)])
    assert card.rows[0].outcome == "missed"
    assert card.false_alarms == (alarm(T0 + 10 * MIN, "g1", "globex"),)


def test_an_episode_with_several_events_is_one_alarm() -> None:
    events = [
        event("ep1", T0 + 10 * MIN, "warning", "opened"),
        event("ep1", T0 + 20 * MIN, "critical"),
        event("ep1", T0 + 3 * HOUR, "critical", "resolved"),
        event("ep2", T0 + 2 * DAY, "warning", "opened"),
        event("ep2", T0 + 2 * DAY + 5 * MIN, "critical"),
        event("ep2", T0 + 2 * DAY + HOUR, "critical", "resolved"),
        event("ep3", T0 + 40 * HOUR, "watch", "opened"),
    ]
    card = score_incidents(alarms_by_brand(events), [Incident("acme", T0)], SPANS)
    assert card.rows[0].outcome == "detected" and card.rows[0].minutes == 10.0
    assert [(a.alert_id, a.time) for a in card.false_alarms] == [("ep2", T0 + 2 * DAY)]


def test_false_alarms_per_brand_day() -> None:
    alarms = [
        alarm(T0 - 2 * DAY, "a1"),
        alarm(T0 + 2 * HOUR, "a2"),
        alarm(T0 + DAY, "g1", "globex"),
    ]
    card = score(alarms, [Incident("acme", T0)])
    assert card.brand_days == 8.0  # acme 4 days, globex 4 days
    assert [a.alert_id for a in card.false_alarms] == ["a1", "g1"]  # a2 is the detection (late)
    assert card.false_alarms_per_brand_day == 0.25
    assert card.rows[0].outcome == "late"


def test_incident_of_a_brand_absent_from_the_input() -> None:
    card = score([alarm(T0 + 5 * MIN)], [Incident("acme", T0), Incident("initech", T0)])
    assert [r.outcome for r in card.rows] == ["detected", "missed"]
    assert [r.brand_seen for r in card.rows] == [True, False]
    assert (card.detected, len(card.rows)) == (1, 2)
    assert card.brand_days == 8.0  # initech adds nothing
    assert "(no mentions of this brand in the input)" in format_scorecard(card)


def test_empty_inputs() -> None:
    card = score_incidents({}, [], {})
    assert card.rows == () and card.false_alarms == ()
    assert (card.detected, card.late, card.missed) == (0, 0, 0)
    assert card.median_time_to_detect is None and card.median_lead is None
    assert card.brand_days == 0.0 and card.false_alarms_per_brand_day is None
    summary = card.to_dict()["summary"]
    assert summary["incidents"] == 0 and summary["false_alarms_per_brand_day"] is None
    assert "detected 0/0" in format_scorecard(card)
    no_alarms = score([], [Incident("acme", T0)])
    assert no_alarms.rows[0].outcome == "missed" and no_alarms.false_alarms_per_brand_day == 0.0


def test_medians_over_detected_incidents_only() -> None:
    incidents = [
        Incident("acme", T0, peak=T0 + HOUR),
        Incident("globex", T0, peak=T0 + HOUR),
        Incident("globex", T0 + DAY + 3 * HOUR, peak=T0 + DAY + 5 * HOUR),
    ]
    alarms = [
        alarm(T0 + 10 * MIN),
        alarm(T0 + 40 * MIN, "g1", "globex"),
        alarm(T0 + DAY + 5 * HOUR, "g2", "globex"),  # late: not in the medians
    ]
    card = score(alarms, incidents)
    assert [r.outcome for r in card.rows] == ["detected", "detected", "late"]
    assert card.median_time_to_detect == 25.0
    assert card.median_lead == 35.0


def test_report_dict_and_table_agree() -> None:
    card = score(
        [alarm(T0 + 25 * MIN), alarm(T0 - DAY, "old")], [Incident("acme", T0, peak=T0 + HOUR)]
    )
    report = card.to_dict()
    assert sorted(report) == [
        "detect_within_minutes",
        "false_alarms",
        "grace_minutes",
        "incidents",
        "summary",
    ]
    row = report["incidents"][0]
    assert row["onset"] == "2026-03-02T09:00:00Z" and row["outcome"] == "detected"
    assert row["minutes"] == 25.0 and row["lead_minutes"] == 35.0
    assert report["false_alarms"] == [
        {"brand": "acme", "time": "2026-03-01T09:00:00Z", "alert_id": "old"}
    ]
    table = format_scorecard(card)
    assert "2026-03-02T09:00:00Z detected      25.0    +35.0  a1" in table
    assert "detected 1/1 within 60 min (late 0, missed 0)" in table
    assert "false alarms: 1 (0.125 per brand-day over 8.00 brand-days)" in table
    assert "  2026-03-01T09:00:00Z  acme  [old]" in table


def test_sweep_table_has_one_line_per_value() -> None:
    incidents = [Incident("acme", T0), Incident("globex", T0)]
    strict = score([alarm(T0 + 90 * MIN)], incidents)
    loose = score(
        [alarm(T0 + 5 * MIN), alarm(T0 + 10 * MIN, "g1", "globex"), alarm(T0 - DAY, "old")],
        incidents,
    )
    lines = format_sweep("warning_threshold", [(65, strict), (45.5, loose), ("UTC", loose)])
    rows = [line.split() for line in lines.splitlines()[2:]]
    assert rows[0] == ["65", "0/2", "1", "1", "-", "0", "0.000"]
    assert rows[1] == ["45.5", "2/2", "0", "0", "7.5", "1", "0.125"]
    assert rows[2][0] == "UTC"
    assert lines.startswith("sweep of warning_threshold")


def test_negative_windows_are_refused() -> None:
    with pytest.raises(ConfigError):
        score([], [], detect_within=-1.0)


# --- the incidents file ---------------------------------------------------------------------------
def test_parse_a_good_file() -> None:
    text = (
        "brand,onset,peak,end,note\n"
        "acme,2026-03-02T09:00:00Z,2026-03-02T11:00:00+02:00,,recall\n"
        "\n"
        "  globex , 2026-03-04T10:30:00+01:00 ,,2026-03-05T00:00:00Z,\n"
    )
    assert parse_incidents(text.splitlines()) == [
        Incident("acme", T0, peak=T0),
        Incident(
            "globex", T0 + 2 * DAY + 30 * MIN, end=datetime(2026, 3, 5, tzinfo=UTC).timestamp()
        ),
    ]
    assert parse_incidents(["onset,brand", "2026-03-02T09:00Z,acme"]) == [Incident("acme", T0)]
    assert parse_incidents(["brand,onset"]) == []  # no incidents: only false alarms to score


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["brand,peak", "acme,2026-03-02T09:00:00Z"], "f.csv:1: the header lacks onset"),
        (["name,start"], "f.csv:1: the header lacks brand, onset"),
        (
            ["brand,onset", "acme,2026-03-02T09:00:00"],
            "f.csv:2: onset '2026-03-02T09:00:00' has no UTC offset",
        ),
        (
            ["brand,onset", "", "acme,yesterday"],
            "f.csv:3: onset 'yesterday' is not an ISO 8601 time",
        ),
        (
            ["brand,onset,peak", "acme,2026-03-02T09:00:00Z,2026-03-02"],
            "f.csv:2: peak '2026-03-02' has no UTC offset",
        ),
        (["brand,onset", "acme,"], "f.csv:2: onset is empty"),
        (["brand,onset", ",2026-03-02T09:00:00Z"], "f.csv:2: an incident needs a brand"),
        (["brand,onset", "acme,2026-03-02T09:00:00Z,extra"], "f.csv:2: 3 fields, the header has 2"),
        (
            ["brand,onset,end", "acme,2026-03-02T09:00:00Z,2026-03-02T08:00:00Z"],
            "f.csv:2: end 2026-03-02T08:00:00Z is not after",
        ),
        (
            ["brand,onset,peak", "acme,2026-03-02T09:00:00Z,2026-03-02T08:00:00Z"],
            "f.csv:2: peak 2026-03-02T08:00:00Z is before",
        ),
        ([], "f.csv: empty file"),
        (["", "  "], "f.csv: empty file"),
    ],
)
def test_parse_errors_name_the_line(lines: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_incidents(lines, "f.csv")
    assert str(err.value).startswith(message)
