"""Small deterministic stand-ins for the model, for unit tests of code around it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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

    def term_scorer(
        self, extra: Mapping[str, Sequence[str]]
    ) -> Callable[[Sequence[str]], list[dict[str, float]]]:
        """Substring matching of ``extra`` terms, 0.75 per hit category."""
        unknown = set(extra) - KNOWN_CATEGORIES
        if unknown:
            msg = f"unknown crisis categories: {sorted(unknown)}"
            raise ValueError(msg)

        def score(texts: Sequence[str]) -> list[dict[str, float]]:
            return [
                {c: 0.75 for c, terms in extra.items() if any(t in text.lower() for t in terms)}
                for text in texts
            ]

        return score


KNOWN_CATEGORIES = frozenset({"data_breach", "service_outage", "customer_service", "billing"})
