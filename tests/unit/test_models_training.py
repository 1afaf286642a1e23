"""Training helpers that need no data: the category model's class weights."""

from __future__ import annotations

import math

import pytest

from models.training import tempered_class_weights


def test_tempered_weights_are_square_roots_of_balanced_with_none_at_one() -> None:
    labels = ["none"] * 80 + ["billing"] * 5 + ["customer_service"] * 15
    weights = tempered_class_weights(labels)
    assert weights["none"] == pytest.approx(1.0)
    # balanced weights are inversely proportional to the counts; tempered: their square roots
    assert weights["billing"] == pytest.approx(math.sqrt(80 / 5))
    assert weights["customer_service"] == pytest.approx(math.sqrt(80 / 15))
    assert weights["billing"] > weights["customer_service"] > weights["none"]


def test_tempered_weights_without_a_none_class() -> None:
    weights = tempered_class_weights(["a", "a", "a", "b"], none="none")
    # balanced: a 4/6, b 4/2; square roots, unscaled
    assert weights == pytest.approx({"a": math.sqrt(4 / 6), "b": math.sqrt(2.0)})
