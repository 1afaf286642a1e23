"""A brand's catalog lexicon, scored with the real classifier's normaliser and matcher."""

from __future__ import annotations

import pytest

from models import MentionClassifier


@pytest.fixture(scope="module")
def classifier() -> MentionClassifier:
    return MentionClassifier.load()


def test_term_scorer_matches_what_with_extra_terms_gives(classifier: MentionClassifier) -> None:
    extra = {"product_safety": ["exploding battery", "melted*"], "fraud_scam": ["crypto giveaway~"]}
    texts = [
        "My phone had an EXPLODING battery last night!!",
        "the charger melted on my desk",
        "another crypto giveaway in the replies",
        "lovely weather today",
        "הסוללה התפוצצה",
    ]
    scorer = classifier.term_scorer(extra)
    extended = classifier.with_extra_terms(extra)
    got = scorer(texts)
    assert got[0].get("product_safety", 0) >= 0.5
    assert got[1].get("product_safety", 0) >= 0.5
    assert "fraud_scam" not in got[2]  # one weak term alone stays below the threshold
    assert got[3] == {}
    # The pipeline keeps max(shared model, brand terms): the same as a per-brand classifier.
    base = classifier.predict(texts)
    for b, g, e in zip(base, got, extended.predict(texts), strict=True):
        merged = dict(b.categories)
        for k, v in g.items():
            merged[k] = max(v, merged.get(k, 0.0))
        assert merged == e.categories


def test_term_scorer_rejects_unknown_categories(classifier: MentionClassifier) -> None:
    with pytest.raises(ValueError, match="weather"):
        classifier.term_scorer({"weather": ["rain"]})
