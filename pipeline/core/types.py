"""Value types shared by the classifier output, the detector core and the alert records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

SEVERITIES = ("watch", "warning", "critical")
STATUSES = ("opened", "escalated", "resolved")
LABELS = ("negative", "neutral", "positive")


@dataclass(frozen=True, slots=True)
class ScoredMention:
    """A mention after normalisation, brand matching and classification, for one brand.

    A mention that matches two brands becomes two ``ScoredMention`` values. ``ts`` is the event time
    (``created_at``) in seconds since the Unix epoch, UTC.
    """

    brand: str
    source: str
    mention_id: str
    ts: float
    text: str
    label: str  # negative | neutral | positive
    p_negative: float  # calibrated probability that the mention is negative, in [0, 1]
    lang: str = "other"
    categories: Mapping[str, float] = field(default_factory=dict)  # crisis category -> score [0, 1]
    author_id: str | None = None
    followers: int = 0
    verified: bool = False
    likes: int = 0
    shares: int = 0
    replies: int = 0
    url: str | None = None

    @property
    def dedup_key(self) -> str:
        """Same source and id is the same mention, whatever else differs."""
        return f"{self.source}\x1f{self.mention_id}"

    @property
    def is_negative(self) -> bool:
        return self.label == "negative"
