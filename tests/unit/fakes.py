"""Small deterministic stand-ins for the model, for unit tests of code around it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

NEGATIVE_WORDS = (
    "bad",
    "leak",
    "breach",
    "hack",
    "shame",
    "disgust",
    "terrible",
    "scandal",
    "cancel",
    "furious",
    "דליפ",
    "בושה",
    "נחשפו",
    "מנתק",
    "נמכר",
    "הדליפו",
)


@dataclass
class KeywordPrediction:
    label: str
    negative: float
    lang: str
    categories: dict[str, float] = field(default_factory=dict)


class KeywordClassifier:
    """Negative when the text holds one of a few crisis words; neutral otherwise."""

    def predict(
        self, texts: Sequence[str], langs: Sequence[str | None] | None = None
    ) -> list[KeywordPrediction]:
        return [
            KeywordPrediction("negative", 0.9, "en", {"data_breach": 0.8})
            if any(word in text.lower() for word in NEGATIVE_WORDS)
            else KeywordPrediction("neutral", 0.1, "en")
            for text in texts
        ]
