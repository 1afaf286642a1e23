"""Mention classifier: language, sentiment with calibrated P(negative), crisis categories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.classifier import MentionClassifier, Prediction
from models.lexicon import CATEGORIES
from models.normalize import detect_language

__all__ = ["CATEGORIES", "MentionClassifier", "Prediction", "detect_language", "evaluate", "train"]


def train(data_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Train all pipelines from ``data_dir`` into ``out_dir``; returns the manifest with metrics."""
    from models.training import train as _train

    return _train(data_dir, out_dir)


def evaluate(data_dir: Path, model_path: Path | None) -> dict[str, Any]:
    """Score a classifier (default: the committed one) on the held-out dev sets."""
    from models.evaluation import evaluate as _evaluate

    return _evaluate(data_dir, model_path)
