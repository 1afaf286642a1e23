"""Score a trained classifier on the held-out dev sets (see :mod:`models.training`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.classifier import MentionClassifier
from models.training import dev_sets, evaluate_classifier


def evaluate(data_dir: Path, model_path: Path | None = None) -> dict[str, Any]:
    """Metrics per dev set: ``{name: {n, macro_f1, negative_f1, ..._ci_low/high, accuracy}}``."""
    clf = MentionClassifier.load(model_path)
    return {name: evaluate_classifier(clf, ex) for name, ex in dev_sets(data_dir).items()}
