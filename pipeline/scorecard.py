"""Score a detector run against known incidents: detected in time, late, missed, false alarms.

Pure functions, no I/O. Times are seconds since the Unix epoch, UTC (as ``ScoredMention.ts``);
they become RFC 3339 strings only in the report and the table.

- An **alarm** is the first event at warning or critical, other than ``resolved``, of an alert
  episode (one alarm per ``alert_id``, at that event's ``event_time``). Watch-only episodes raise no
  alarm.
- An incident's **allowed span** is ``[onset - grace, end]`` (both ends included). Without an
  ``end``, it ends ``DEFAULT_SPAN_SECONDS`` (24 h) after the onset, or ``PEAK_TAIL_SECONDS`` (12 h)
  after the peak when that is later: alarms in a crisis's aftermath are not false alarms.
- The incident is **detected** when the first alarm of its brand in the allowed span comes at or
  before ``onset + detect_within`` (time to detect: ``max(0, alarm - onset)``; an alarm in the grace
  period before the onset counts as detection at 0 min), **late** when that first alarm comes after,
  **missed** when there is none. Two incidents of one brand whose spans overlap may share an alarm.
- Every alarm of a brand outside all of that brand's incidents' allowed spans is a **false alarm**.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pipeline.core.detector import AlertEvent, rfc3339
from pipeline.errors import ConfigError

__all__ = [
    "DEFAULT_DETECT_WITHIN_SECONDS",
    "DEFAULT_GRACE_SECONDS",
    "Alarm",
    "Incident",
    "IncidentResult",
    "Scorecard",
    "alarms_by_brand",
    "format_scorecard",
    "format_sweep",
    "parse_incidents",
    "score_incidents",
]

DAY_SECONDS = 86400.0
DEFAULT_DETECT_WITHIN_SECONDS = 3600.0
DEFAULT_GRACE_SECONDS = 2 * 3600.0
#: Without an ``end``, an incident's allowed span runs this long after the onset ...
DEFAULT_SPAN_SECONDS = 24 * 3600.0
#: ... or this long after the peak, when that is later.
PEAK_TAIL_SECONDS = 12 * 3600.0
ALARM_SEVERITIES = frozenset({"warning", "critical"})
_COLUMNS_HINT = "columns brand,onset[,peak,end]"

Outcome = Literal["detected", "late", "missed"]


@dataclass(frozen=True, slots=True)
class Alarm:
    brand: str
    time: float  # epoch seconds
    alert_id: str


@dataclass(frozen=True, slots=True)
class Incident:
    """A known crisis of one brand; times in epoch seconds (``peak`` and ``end`` optional)."""

    brand: str
    onset: float
    peak: float | None = None
    end: float | None = None

    def __post_init__(self) -> None:
        if not self.brand:
            msg = "an incident needs a brand"
            raise ConfigError(msg)
        if self.peak is not None and self.peak < self.onset:
            msg = f"peak {rfc3339(self.peak)} is before the onset {rfc3339(self.onset)}"
            raise ConfigError(msg)
        if self.end is not None and self.end <= self.onset:
            msg = f"end {rfc3339(self.end)} is not after the onset {rfc3339(self.onset)}"
            raise ConfigError(msg)

    def span(self, grace: float) -> tuple[float, float]:
        """The allowed span ``(onset - grace, end)``; the default end is in the module docstring."""
        if self.end is not None:
            return self.onset - grace, self.end
        end = self.onset + DEFAULT_SPAN_SECONDS
        if self.peak is not None:
            end = max(end, self.peak + PEAK_TAIL_SECONDS)
        return self.onset - grace, end


@dataclass(frozen=True, slots=True)
class IncidentResult:
    incident: Incident
    outcome: Outcome
    span: tuple[float, float]
    alarm: Alarm | None  # the first alarm in the allowed span
    minutes: float | None  # detected: time to detect (>= 0); late: alarm - onset; missed: None
    lead_minutes: float | None  # peak - alarm, when both exist (negative: after the peak)
    brand_seen: bool  # the brand had mentions in the input


@dataclass(frozen=True, slots=True)
class Scorecard:
    rows: tuple[IncidentResult, ...]
    detect_within: float  # seconds
    grace: float  # seconds
    false_alarms: tuple[Alarm, ...]
    brand_days: float

    @property
    def detected(self) -> int:
        return sum(1 for r in self.rows if r.outcome == "detected")

    @property
    def late(self) -> int:
        return sum(1 for r in self.rows if r.outcome == "late")

    @property
    def missed(self) -> int:
        return sum(1 for r in self.rows if r.outcome == "missed")

    @property
    def median_time_to_detect(self) -> float | None:
        """Minutes, over the detected incidents; None when none was detected."""
        return _median([r.minutes for r in self.rows if r.outcome == "detected"])

    @property
    def median_lead(self) -> float | None:
        """Minutes before the peak, over the detected incidents that give a peak."""
        return _median([r.lead_minutes for r in self.rows if r.outcome == "detected"])

    @property
    def false_alarms_per_brand_day(self) -> float | None:
        """None when the input covers no time (no brand with two distinct mention times)."""
        return len(self.false_alarms) / self.brand_days if self.brand_days > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data: times RFC 3339, durations in minutes, None as null."""
        return {
            "detect_within_minutes": self.detect_within / 60.0,
            "grace_minutes": self.grace / 60.0,
            "incidents": [_row_dict(r) for r in self.rows],
            "false_alarms": [_alarm_dict(a) for a in self.false_alarms],
            "summary": {
                "incidents": len(self.rows),
                "detected": self.detected,
                "late": self.late,
                "missed": self.missed,
                "median_time_to_detect_minutes": self.median_time_to_detect,
                "median_lead_minutes": self.median_lead,
                "false_alarms": len(self.false_alarms),
                "brand_days": self.brand_days,
                "false_alarms_per_brand_day": self.false_alarms_per_brand_day,
            },
        }


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _alarm_dict(a: Alarm) -> dict[str, Any]:
    return {"brand": a.brand, "time": rfc3339(a.time), "alert_id": a.alert_id}


def _row_dict(r: IncidentResult) -> dict[str, Any]:
    inc = r.incident
    return {
        "brand": inc.brand,
        "onset": rfc3339(inc.onset),
        "peak": None if inc.peak is None else rfc3339(inc.peak),
        "span_start": rfc3339(r.span[0]),
        "span_end": rfc3339(r.span[1]),
        "outcome": r.outcome,
        "minutes": r.minutes,
        "lead_minutes": r.lead_minutes,
        "alarm": None if r.alarm is None else _alarm_dict(r.alarm),
        "brand_seen": r.brand_seen,
    }


# --- alarms ---------------------------------------------------------------------------------------
def alarms_by_brand(events: Iterable[AlertEvent]) -> dict[str, list[Alarm]]:
    """Per brand, one alarm per alert episode: the episode's first event at warning or critical
    that is not ``resolved``. Alarms keep the order of ``events``."""
    alarms: dict[str, list[Alarm]] = {}
    seen: set[str] = set()
    for e in events:
        if e.severity not in ALARM_SEVERITIES or e.status == "resolved" or e.alert_id in seen:
            continue
        seen.add(e.alert_id)
        t = datetime.fromisoformat(e.event_time).timestamp()
        alarms.setdefault(e.brand, []).append(Alarm(e.brand, t, e.alert_id))
    return alarms


# --- scoring --------------------------------------------------------------------------------------
def score_incidents(
    alarms: Mapping[str, Sequence[Alarm]],
    incidents: Sequence[Incident],
    spans: Mapping[str, tuple[float, float]],
    detect_within: float = DEFAULT_DETECT_WITHIN_SECONDS,
    grace: float = DEFAULT_GRACE_SECONDS,
) -> Scorecard:
    """Score ``alarms`` (per brand) against ``incidents``; see the module docstring.

    ``spans`` maps each brand that has mentions in the input to the event times of its first and
    last mention; brand-days are the sum of ``(last - first) / 1 day`` over those brands only (a
    brand with no mentions adds nothing, and its incidents are missed but still counted).
    ``detect_within`` and ``grace`` are seconds.
    """
    if detect_within < 0 or grace < 0:
        msg = "detect_within and grace must not be negative"
        raise ConfigError(msg)
    ordered = {b: sorted(a, key=lambda x: (x.time, x.alert_id)) for b, a in alarms.items()}
    rows: list[IncidentResult] = []
    covered: set[tuple[str, str]] = set()  # (brand, alert id) inside some incident's span
    for inc in incidents:
        lo, hi = inc.span(grace)
        inside = [a for a in ordered.get(inc.brand, []) if lo <= a.time <= hi]
        covered.update((a.brand, a.alert_id) for a in inside)
        rows.append(_judge(inc, (lo, hi), inside[0] if inside else None, detect_within, spans))
    false_alarms = sorted(
        (
            a
            for per_brand in ordered.values()
            for a in per_brand
            if (a.brand, a.alert_id) not in covered
        ),
        key=lambda a: (a.time, a.brand, a.alert_id),
    )
    brand_days = sum(max(0.0, last - first) for first, last in spans.values()) / DAY_SECONDS
    return Scorecard(tuple(rows), detect_within, grace, tuple(false_alarms), brand_days)


def _judge(
    inc: Incident,
    span: tuple[float, float],
    first: Alarm | None,
    detect_within: float,
    spans: Mapping[str, tuple[float, float]],
) -> IncidentResult:
    seen = inc.brand in spans
    if first is None:
        return IncidentResult(inc, "missed", span, None, None, None, seen)
    lead = None if inc.peak is None else (inc.peak - first.time) / 60.0
    if first.time <= inc.onset + detect_within:
        minutes = max(0.0, first.time - inc.onset) / 60.0
        return IncidentResult(inc, "detected", span, first, minutes, lead, seen)
    return IncidentResult(inc, "late", span, first, (first.time - inc.onset) / 60.0, lead, seen)


# --- the incidents file ---------------------------------------------------------------------------
def parse_incidents(lines: Iterable[str], source: str = "incidents") -> list[Incident]:
    """Incidents from CSV lines with a header: ``brand,onset`` required, ``peak,end`` optional
    (empty allowed), other columns ignored. Times are ISO 8601 with an offset or ``Z``; a naive
    time is an error. Errors are ``ConfigError`` naming ``source`` and the line."""
    reader = csv.reader(lines)
    header: list[str] | None = None
    incidents: list[Incident] = []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            msg = f"{source}:{reader.line_num}: not readable as CSV: {exc}"
            raise ConfigError(msg) from exc
        where = f"{source}:{reader.line_num}"
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in row]
            missing = [c for c in ("brand", "onset") if c not in header]
            if missing:
                msg = f"{where}: the header lacks {', '.join(missing)} ({_COLUMNS_HINT})"
                raise ConfigError(msg)
            continue
        cells = dict(zip(header, (cell.strip() for cell in row), strict=False))
        if len(row) > len(header):
            msg = f"{where}: {len(row)} fields, the header has {len(header)}"
            raise ConfigError(msg)
        try:
            incidents.append(
                Incident(
                    brand=cells.get("brand", ""),
                    onset=_required_time(cells.get("onset", ""), "onset"),
                    peak=_optional_time(cells.get("peak", ""), "peak"),
                    end=_optional_time(cells.get("end", ""), "end"),
                )
            )
        except ConfigError as exc:
            msg = f"{where}: {exc}"
            raise ConfigError(msg) from exc
    if header is None:
        msg = f"{source}: empty file; expected a header ({_COLUMNS_HINT}) and one incident a line"
        raise ConfigError(msg)
    return incidents


def _required_time(text: str, column: str) -> float:
    if not text:
        msg = f"{column} is empty"
        raise ConfigError(msg)
    return _parse_time(text, column)


def _optional_time(text: str, column: str) -> float | None:
    return _parse_time(text, column) if text else None


def _parse_time(text: str, column: str) -> float:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        msg = f"{column} {text!r} is not an ISO 8601 time"
        raise ConfigError(msg) from exc
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        msg = f"{column} {text!r} has no UTC offset; add one (e.g. Z or +02:00)"
        raise ConfigError(msg)
    return parsed.timestamp()


# --- the table ------------------------------------------------------------------------------------
def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def format_scorecard(card: Scorecard) -> str:
    """The scorecard as a readable table and summary lines (no trailing newline)."""
    within = card.detect_within / 60.0
    lines = [
        f"scorecard: {len(card.rows)} incidents, detection within {within:g} min of onset, "
        f"alarms from {card.grace / 60.0:g} min before onset count",
        f"  {'brand':<20} {'onset':<20} {'outcome':<9} {'minutes':>8} {'lead':>8}  first alarm",
    ]
    for r in card.rows:
        if r.alarm is not None:
            note = r.alarm.alert_id
        else:
            note = "-" if r.brand_seen else "(no mentions of this brand in the input)"
        lines.append(
            f"  {r.incident.brand:<20} {rfc3339(r.incident.onset):<20} {r.outcome:<9} "
            f"{_num(r.minutes):>8} {_num(r.lead_minutes, signed=True):>8}  {note}"
        )
    rate = card.false_alarms_per_brand_day
    lines += [
        "  (minutes: onset to the first alarm in the span, 0 if it came before the onset; "
        "lead: first alarm to peak)",
        f"detected {card.detected}/{len(card.rows)} within {within:g} min "
        f"(late {card.late}, missed {card.missed})",
        f"median time to detect: {_num(card.median_time_to_detect)} min",
        f"median lead before peak: {_num(card.median_lead)} min",
        f"false alarms: {len(card.false_alarms)} "
        f"({'-' if rate is None else f'{rate:.3f}'} per brand-day over "
        f"{card.brand_days:.2f} brand-days)",
    ]
    lines += [f"  {rfc3339(a.time)}  {a.brand}  [{a.alert_id}]" for a in card.false_alarms]
    return "\n".join(lines)


def format_sweep(setting: str, runs: Sequence[tuple[Any, Scorecard]]) -> str:
    """One summary line per value of ``setting``: the trade-off between catching the incidents
    and crying wolf on the same mentions (no trailing newline)."""
    lines = [
        f"sweep of {setting} (every brand; a brand's catalog override wins):",
        f"  {'value':<12} {'detected':>9} {'late':>5} {'missed':>7} {'median min':>11} "
        f"{'false alarms':>13} {'per brand-day':>14}",
    ]
    for value, card in runs:
        rate = card.false_alarms_per_brand_day
        shown = value if isinstance(value, str) else repr(value)
        lines.append(
            f"  {shown:<12} {f'{card.detected}/{len(card.rows)}':>9} {card.late:>5} "
            f"{card.missed:>7} {_num(card.median_time_to_detect):>11} "
            f"{len(card.false_alarms):>13} {'-' if rate is None else f'{rate:.3f}':>14}"
        )
    return "\n".join(lines)
