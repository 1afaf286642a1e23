"""Alert lifecycle: watch -> warning -> critical with confirmation, hysteresis and cooldown.

``step(state, ...) -> (state, transitions)`` is pure; one episode carries one alert id from its
``opened`` event through ``escalated`` events to ``resolved``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

from pipeline.core.config import DetectorConfig

LEVELS = ("watch", "warning", "critical")


def alert_id_for(brand: str, open_bucket_start: int) -> str:
    """One id per episode: the brand and the start of the bucket that opened it."""
    digest = hashlib.sha256(f"{brand}|{open_bucket_start}".encode()).hexdigest()
    return "ew-" + digest[:20]


def event_id_for(alert_id: str, seq: int, status: str, severity: str) -> str:
    digest = hashlib.sha256(f"{alert_id}|{seq}|{status}|{severity}".encode()).hexdigest()
    return "ev-" + digest[:24]


def level_of(score: float, cfg: DetectorConfig) -> int:
    """-1 below watch, else the index in LEVELS."""
    if score >= cfg.critical_threshold:
        return 2
    if score >= cfg.warning_threshold:
        return 1
    if score >= cfg.watch_threshold:
        return 0
    return -1


@dataclass(frozen=True)
class Episode:
    alert_id: str
    opened_start: int  # start of the bucket that opened it
    opened_at: int  # end of that bucket (event time of the opening)
    severity: int
    seq: int
    quiet_since: int | None  # end of the first bucket of the current run below resolve_threshold


@dataclass(frozen=True)
class LifecycleState:
    recent: tuple[float, ...] = ()  # last confirm_buckets scores, oldest first
    episode: Episode | None = None
    last_resolved_at: int | None = None

    def to_obj(self) -> dict[str, Any]:
        ep = self.episode
        return {
            "recent": list(self.recent),
            "episode": None
            if ep is None
            else [ep.alert_id, ep.opened_start, ep.opened_at, ep.severity, ep.seq, ep.quiet_since],
            "last_resolved_at": self.last_resolved_at,
        }

    @classmethod
    def from_obj(cls, obj: dict[str, Any]) -> LifecycleState:
        ep = obj["episode"]
        return cls(
            recent=tuple(obj["recent"]),
            episode=None if ep is None else Episode(*ep),
            last_resolved_at=obj["last_resolved_at"],
        )


@dataclass(frozen=True)
class Transition:
    status: str  # opened | escalated | resolved
    severity: str
    alert_id: str
    seq: int
    opened_at: int


def step(
    state: LifecycleState,
    brand: str,
    bucket_start: int,
    bucket_end: int,
    score: float,
    cfg: DetectorConfig,
    hold: float | None = None,
) -> tuple[LifecycleState, list[Transition]]:
    """Advance the lifecycle by one closed bucket with its score. ``hold`` (default: ``score``)
    is what keeps an open alert from resolving: corroborating drivers that cannot open an alert
    on their own should not keep one open either."""
    recent = (*state.recent, score)[-cfg.confirm_buckets :]
    sustained = min(recent) if len(recent) >= cfg.confirm_buckets else -1.0
    level = level_of(sustained, cfg)
    ep = state.episode
    out: list[Transition] = []
    if ep is None:
        cooling = (
            state.last_resolved_at is not None
            and bucket_end - state.last_resolved_at < cfg.cooldown_seconds
        )
        if level >= 1 or (level == 0 and not cooling):
            aid = alert_id_for(brand, bucket_start)
            ep = Episode(aid, bucket_start, bucket_end, level, 0, None)
            out.append(Transition("opened", LEVELS[level], aid, 0, bucket_end))
        return replace(state, recent=recent, episode=ep), out
    if level > ep.severity:
        ep = replace(ep, severity=level, seq=ep.seq + 1, quiet_since=None)
        out.append(Transition("escalated", LEVELS[level], ep.alert_id, ep.seq, ep.opened_at))
        return replace(state, recent=recent, episode=ep), out
    if (score if hold is None else hold) < cfg.resolve_threshold:
        quiet_since = ep.quiet_since if ep.quiet_since is not None else bucket_start
        if bucket_end - quiet_since >= cfg.resolve_quiet_seconds:
            seq = ep.seq + 1
            out.append(Transition("resolved", LEVELS[ep.severity], ep.alert_id, seq, ep.opened_at))
            return LifecycleState(recent, None, bucket_end), out
        ep = replace(ep, quiet_since=quiet_since)
    elif ep.quiet_since is not None:
        ep = replace(ep, quiet_since=None)
    return replace(state, recent=recent, episode=ep), out
