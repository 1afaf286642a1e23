"""Score a trained classifier on the held-out dev sets (see :mod:`models.training`) or on a team's
own labelled mentions (``emberwatch evaluate --labelled FILE``).

The published figures are measured on public corpora; a brand's own mentions (its products, its
market's slang, its customers' languages) can read differently. A JSON-lines file of labelled
mentions scores the same classifier end to end, per language, with the same confidence intervals,
and scores the crisis categories where the file names them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.classifier import MentionClassifier
from models.jsonlines import json_objects
from models.lexicon import CATEGORIES
from models.metrics import LABELS, score_table
from models.training import dev_sets, evaluate_classifier


def evaluate(data_dir: Path, model_path: Path | None = None) -> dict[str, Any]:
    """Metrics per dev set: ``{name: {n, macro_f1, negative_f1, ..._ci_low/high, accuracy}}``."""
    clf = MentionClassifier.load(model_path)
    return {name: evaluate_classifier(clf, ex) for name, ex in dev_sets(data_dir).items()}


@dataclass(frozen=True, slots=True)
class LabelledText:
    """One labelled mention: its sentiment and, if annotated, its crisis categories."""

    text: str
    label: str  # negative | neutral | positive
    lang: str | None = None  # a hint, as for `classify`; detected when absent
    categories: frozenset[str] | None = None  # None: categories not annotated for this text


def _parse_labelled(rec: dict[str, Any]) -> LabelledText | str:
    """A record as :class:`LabelledText`, or what is wrong with it."""
    text, label, lang = rec.get("text"), rec.get("label"), rec.get("lang")
    if not isinstance(text, str):
        return "missing or invalid 'text' (string)"
    if label not in LABELS:
        return f"missing or invalid 'label' (one of {', '.join(LABELS)})"
    if lang is not None and not isinstance(lang, str):
        return "invalid 'lang' (string or absent)"
    cats = rec.get("categories")
    if cats is None:
        return LabelledText(text, label, lang)
    if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
        return "invalid 'categories' (a list of category names, [] for none)"
    unknown = sorted(set(cats) - set(CATEGORIES))
    if unknown:
        return f"unknown categories {unknown} (known: {', '.join(CATEGORIES)})"
    return LabelledText(text, label, lang, frozenset(cats))


def read_labelled(lines: Iterable[str]) -> tuple[list[LabelledText], list[str]]:
    """Parse JSON lines ``{"text", "label", "lang"?, "categories"?}``.

    Returns the good records and one message per bad line (``"line N: ..."``); blank lines are
    skipped. ``categories`` lists the crisis categories a text belongs to (``[]`` for none); a
    text without the key is not scored for categories.
    """
    items: list[LabelledText] = []
    errors: list[str] = []
    for lineno, rec in json_objects(lines):
        parsed = rec if isinstance(rec, str) else _parse_labelled(rec)
        if isinstance(parsed, str):
            errors.append(f"line {lineno}: {parsed}")
        else:
            items.append(parsed)
    return items, errors


def confusion(y_true: Sequence[str], y_pred: Sequence[str]) -> list[list[int]]:
    """Counts with rows the true label and columns the predicted one, both in ``LABELS`` order."""
    index = {lab: i for i, lab in enumerate(LABELS)}
    out = [[0] * len(LABELS) for _ in LABELS]
    for t, p in zip(y_true, y_pred, strict=True):
        out[index[t]][index[p]] += 1
    return out


def category_scores(
    gold: Sequence[frozenset[str]], predicted: Sequence[Iterable[str]]
) -> dict[str, dict[str, float]]:
    """Per category (and ``micro`` over all): support, predicted, precision, recall, F1.

    Categories neither annotated nor predicted are left out; a score with no denominator is 0.
    """
    out: dict[str, dict[str, float]] = {}
    totals = [0, 0, 0]  # true positives, predicted, support
    pred_sets = [frozenset(p) for p in predicted]
    for cat in CATEGORIES:
        support = sum(1 for g in gold if cat in g)
        n_pred = sum(1 for p in pred_sets if cat in p)
        if not support and not n_pred:
            continue
        tp = sum(1 for g, p in zip(gold, pred_sets, strict=True) if cat in g and cat in p)
        out[cat] = _prf(tp, n_pred, support)
        totals[0] += tp
        totals[1] += n_pred
        totals[2] += support
    out["micro"] = _prf(*totals)
    return out


def _prf(tp: int, n_pred: int, support: int) -> dict[str, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / support if support else 0.0
    f1 = 2 * tp / (n_pred + support) if n_pred + support else 0.0
    return {
        "support": float(support),
        "predicted": float(n_pred),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


def evaluate_labelled(clf: MentionClassifier, items: Sequence[LabelledText]) -> dict[str, Any]:
    """Score ``clf`` on labelled texts, end to end as the pipeline classifies them.

    ``sentiment``: ``all`` and one entry per language the classifier read the texts as (the
    ``lang`` hint where given), each as :func:`models.metrics.score_table` (negative-F1 NaN, JSON
    ``null``, in a group with no negative text and no negative prediction); ``confusion``: the
    counts over all texts (rows true, columns predicted, in ``labels`` order); ``categories``:
    :func:`category_scores` over the texts that carry a ``categories`` list (absent if none do).
    """
    if not items:
        msg = "no labelled texts to score"
        raise ValueError(msg)
    preds = clf.predict([it.text for it in items], [it.lang for it in items])
    y_true = [it.label for it in items]
    y_pred = [p.label for p in preds]
    groups = {"all": list(range(len(items)))}
    for lang in sorted({p.lang for p in preds}):
        groups[lang] = [i for i, p in enumerate(preds) if p.lang == lang]
    sentiment: dict[str, dict[str, float]] = {}
    for name, rows in groups.items():
        truth, guess = [y_true[i] for i in rows], [y_pred[i] for i in rows]
        table = score_table(truth, guess, [preds[i].negative for i in rows])
        if "negative" not in truth and "negative" not in guess:
            # no negative text and none predicted: negative-F1 is undefined, not 0
            for key in ("negative_f1", "negative_f1_ci_low", "negative_f1_ci_high"):
                table[key] = math.nan
        sentiment[name] = table
    report: dict[str, Any] = {
        "sentiment": sentiment,
        "labels": list(LABELS),
        "confusion": confusion(y_true, y_pred),
    }
    annotated = [i for i, it in enumerate(items) if it.categories is not None]
    if annotated:
        report["categories"] = category_scores(
            [items[i].categories or frozenset() for i in annotated],
            [preds[i].categories for i in annotated],
        )
    return report
