"""Classification metrics with percentile-bootstrap confidence intervals (pure numpy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LABELS = ("negative", "neutral", "positive")


def _f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denom = 2 * tp + fp + fn
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return f1


def _scores(y: np.ndarray, p: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """(macro-F1 over the classes present in ``y``, negative-vs-rest F1) for integer codes."""
    w = np.ones(len(y)) if weights is None else weights
    present = np.unique(y)
    f1s = []
    for c in present:
        tp = np.sum(w * ((p == c) & (y == c)))
        fp = np.sum(w * ((p == c) & (y != c)))
        fn = np.sum(w * ((p != c) & (y == c)))
        f1s.append(_f1_from_counts(np.array(tp), np.array(fp), np.array(fn)))
    tp = np.sum(w * ((p == 0) & (y == 0)))
    fp = np.sum(w * ((p == 0) & (y != 0)))
    fn = np.sum(w * ((p != 0) & (y == 0)))
    return float(np.mean(f1s)), float(_f1_from_counts(np.array(tp), np.array(fp), np.array(fn)))


def score_table(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    p_neg: Sequence[float] | None = None,
    n_boot: int = 500,
    seed: int = 0,
) -> dict[str, float]:
    """macro-F1, negative-F1, accuracy (and Brier score of P(negative)) with 95% bootstrap CIs."""
    code = {lab: i for i, lab in enumerate(LABELS)}
    y = np.array([code[v] for v in y_true])
    p = np.array([code[v] for v in y_pred])
    macro, neg = _scores(y, p)
    rng = np.random.default_rng(seed)
    boots = np.empty((n_boot, 2))
    n = len(y)
    for b in range(n_boot):
        weights = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        boots[b] = _scores(y, p, weights)
    lo, hi = np.percentile(boots, [2.5, 97.5], axis=0)
    out = {
        "n": float(n),
        "macro_f1": round(macro, 4),
        "macro_f1_ci_low": round(float(lo[0]), 4),
        "macro_f1_ci_high": round(float(hi[0]), 4),
        "negative_f1": round(neg, 4),
        "negative_f1_ci_low": round(float(lo[1]), 4),
        "negative_f1_ci_high": round(float(hi[1]), 4),
        "accuracy": round(float(np.mean(y == p)), 4),
    }
    if p_neg is not None:
        pn = np.asarray(p_neg, dtype=float)
        out["brier_negative"] = round(float(np.mean((pn - (y == 0)) ** 2)), 4)
    return out
