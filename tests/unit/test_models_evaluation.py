"""Scoring a classifier on a team's own labelled mentions (`emberwatch evaluate --labelled`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from fakes import KeywordPrediction

from models.evaluation import (
    LabelledText,
    category_scores,
    confusion,
    evaluate_labelled,
    read_labelled,
)


def _line(**rec: Any) -> str:
    return orjson.dumps(rec).decode()


def test_read_labelled_keeps_good_lines_and_names_the_bad_ones() -> None:
    lines = [
        _line(text="they leaked my card", label="negative", categories=["data_breach"]),
        "",
        _line(text="שלום", label="neutral", lang="he"),
        "{not json",
        "[1, 2]",
        _line(label="negative"),
        _line(text="x", label="angry"),
        _line(text="x", label="neutral", lang=3),
        _line(text="x", label="neutral", categories="billing"),
        _line(text="x", label="neutral", categories=["meteor_strike"]),
        _line(text="fine", label="positive", categories=[]),
    ]
    items, errors = read_labelled(lines)
    assert items == [
        LabelledText("they leaked my card", "negative", None, frozenset({"data_breach"})),
        LabelledText("שלום", "neutral", "he", None),
        LabelledText("fine", "positive", None, frozenset()),
    ]
    assert [e.split(":")[0] for e in errors] == [f"line {n}" for n in (4, 5, 6, 7, 8, 9, 10)]
    assert "invalid JSON" in errors[0]
    assert "expected a JSON object" in errors[1]
    assert "'text'" in errors[2]
    assert "'label'" in errors[3]
    assert "'lang'" in errors[4]
    assert "'categories'" in errors[5]
    assert "meteor_strike" in errors[6]


def test_confusion_rows_are_truth_columns_predictions() -> None:
    truth = ["negative", "negative", "neutral", "positive", "positive", "positive"]
    guess = ["negative", "neutral", "neutral", "negative", "positive", "positive"]
    assert confusion(truth, guess) == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_category_scores_per_category_and_micro() -> None:
    gold = [frozenset({"data_breach"}), frozenset({"data_breach", "billing"}), frozenset()]
    predicted = [{"data_breach": 0.9}, {"billing": 0.7, "fraud_scam": 0.6}, {}]
    scores = category_scores(gold, predicted)
    assert set(scores) == {"data_breach", "billing", "fraud_scam", "micro"}
    assert scores["data_breach"] == {
        "support": 2.0,
        "predicted": 1.0,
        "precision": 1.0,
        "recall": 0.5,
        "f1": round(2 / 3, 4),
    }
    assert scores["billing"]["f1"] == 1.0
    assert scores["fraud_scam"] == {
        "support": 0.0,
        "predicted": 1.0,
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
    }
    # micro: 2 true positives of 3 predicted and 3 annotated
    assert scores["micro"]["precision"] == round(2 / 3, 4)
    assert scores["micro"]["recall"] == round(2 / 3, 4)


class _ScriptedClassifier:
    """Returns fixed predictions keyed by text (the language is part of the script)."""

    def __init__(self, script: dict[str, KeywordPrediction]) -> None:
        self.script = script
        self.hints: list[str | None] = []

    def predict(
        self, texts: Sequence[str], langs: Sequence[str | None] | None = None
    ) -> list[KeywordPrediction]:
        self.hints = list(langs or [])
        return [self.script[t] for t in texts]


def test_evaluate_labelled_groups_by_language_and_scores_categories() -> None:
    clf = _ScriptedClassifier(
        {
            "a": KeywordPrediction("negative", 0.9, "en", {"billing": 0.8}),
            "b": KeywordPrediction("neutral", 0.2, "en"),
            "c": KeywordPrediction("negative", 0.7, "en"),
            "d": KeywordPrediction("positive", 0.1, "he"),
            "e": KeywordPrediction("neutral", 0.3, "he"),
        }
    )
    items = [
        LabelledText("a", "negative", None, frozenset({"billing"})),
        LabelledText("b", "neutral"),
        LabelledText("c", "positive"),
        LabelledText("d", "positive", "he", frozenset()),
        LabelledText("e", "positive", "he"),
    ]
    report = evaluate_labelled(clf, items)  # type: ignore[arg-type]
    assert clf.hints == [None, None, None, "he", "he"]
    sentiment = report["sentiment"]
    assert list(sentiment) == ["all", "en", "he"]
    assert [sentiment[k]["n"] for k in ("all", "en", "he")] == [5.0, 3.0, 2.0]
    assert sentiment["all"]["accuracy"] == 0.6
    assert sentiment["en"]["negative_f1"] == round(2 / 3, 4)
    # Hebrew: no negative text and none predicted, so negative-F1 is undefined
    assert math.isnan(sentiment["he"]["negative_f1"])
    assert sentiment["he"]["accuracy"] == 0.5
    assert report["confusion"] == [[1, 0, 0], [0, 1, 0], [1, 1, 1]]
    # only "a" and "d" are annotated with categories
    assert report["categories"]["billing"]["f1"] == 1.0
    assert report["categories"]["micro"]["support"] == 1.0


def test_evaluate_labelled_without_category_annotations_has_no_category_table() -> None:
    clf = _ScriptedClassifier({"a": KeywordPrediction("neutral", 0.2, "en", {"billing": 0.9})})
    report = evaluate_labelled(clf, [LabelledText("a", "neutral")])  # type: ignore[arg-type]
    assert "categories" not in report


def test_evaluate_labelled_needs_texts() -> None:
    with pytest.raises(ValueError, match="no labelled texts"):
        evaluate_labelled(_ScriptedClassifier({}), [])  # type: ignore[arg-type]
