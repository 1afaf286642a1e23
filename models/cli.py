"""Command-line entrypoints of the classifier (called by ``pipeline/cli.py`` and ``__main__``).

These functions talk to the user: tables go to stdout, problems to stderr (no ``print``; the
streams are written explicitly).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import orjson

from models.jsonlines import json_objects
from pipeline.errors import ModelError

_BATCH = 4096


def _err(message: str) -> None:
    sys.stderr.write(message + "\n")


def run_classify(input: TextIO, output: TextIO, model_path: Path | None) -> int:
    """JSON lines ``{"id", "text", "lang"?}`` in, ``{"id","label","negative","lang","categories"}``
    out. Bad lines are reported on stderr with their line number and skipped; the exit code is 1
    if any line was bad, 2 if the model cannot be loaded, else 0."""
    from models.classifier import MentionClassifier

    try:
        clf = MentionClassifier.load(model_path)
    except ModelError as exc:
        _err(f"error: {exc}")
        return 2
    bad = 0
    ids: list[Any] = []
    texts: list[str] = []
    langs: list[str | None] = []

    def flush() -> None:
        preds = clf.predict(texts, langs)
        for ident, p in zip(ids, preds, strict=True):
            row = {
                "id": ident,
                "label": p.label,
                "negative": round(p.negative, 4),
                "lang": p.lang,
                "categories": p.categories,
            }
            output.write(orjson.dumps(row).decode() + "\n")
        ids.clear()
        texts.clear()
        langs.clear()

    for lineno, rec in json_objects(input):
        if isinstance(rec, str):
            _err(f"line {lineno}: {rec}")
            bad += 1
            continue
        text, lang = rec.get("text"), rec.get("lang")
        if "id" not in rec or not isinstance(rec["id"], str | int):
            _err(f"line {lineno}: missing or invalid 'id' (string or integer)")
            bad += 1
            continue
        if not isinstance(text, str):
            _err(f"line {lineno}: missing or invalid 'text' (string)")
            bad += 1
            continue
        if lang is not None and not isinstance(lang, str):
            _err(f"line {lineno}: invalid 'lang' (string or absent)")
            bad += 1
            continue
        ids.append(rec["id"])
        texts.append(text)
        langs.append(lang)
        if len(texts) >= _BATCH:
            flush()
    if texts:
        flush()
    output.flush()
    if bad:
        _err(f"{bad} bad line(s) skipped")
        return 1
    return 0


def format_table(metrics: dict[str, dict[str, float]]) -> str:
    header = (
        f"{'data set':44} {'n':>6} {'macro-F1 [95% CI]':>22} {'neg-F1 [95% CI]':>22} {'acc':>6}"
    )
    lines = [header, "-" * len(header)]
    for name, m in metrics.items():
        macro = f"{m['macro_f1']:.3f} [{m['macro_f1_ci_low']:.3f},{m['macro_f1_ci_high']:.3f}]"
        neg = (
            f"{m['negative_f1']:.3f} [{m['negative_f1_ci_low']:.3f},{m['negative_f1_ci_high']:.3f}]"
            if not math.isnan(m["negative_f1"])
            else "-"  # undefined: no negative text and none predicted
        )
        lines.append(f"{name:44} {int(m['n']):>6} {macro:>22} {neg:>22} {m['accuracy']:>6.3f}")
    return "\n".join(lines)


def run_train(data_dir: Path, out_dir: Path, *, source_cv: bool = False) -> int:
    """Train into ``out_dir`` and print the held-out metrics table."""
    from models.training import train

    t = time.perf_counter()
    try:
        manifest = train(data_dir, out_dir, source_cv=source_cv)
    except ModelError as exc:
        _err(f"error: {exc}")
        return 2
    sys.stdout.write(format_table(manifest["metrics"]["dev"]) + "\n")
    if "leave_one_source_out_en" in manifest["metrics"]:
        sys.stdout.write("\nEnglish, leave one source out:\n")
        sys.stdout.write(format_table(manifest["metrics"]["leave_one_source_out_en"]) + "\n")
    sys.stdout.write(
        f"\nartifact: {out_dir} (training {manifest['train_seconds']}s, "
        f"total {time.perf_counter() - t:.0f}s)\n"
    )
    return 0


def format_confusion(labels: list[str], counts: list[list[int]]) -> str:
    """The confusion matrix as text: one row per true label, one column per predicted label."""
    width = max(len(x) for x in labels) + 2
    lines = ["true / predicted".ljust(18) + "".join(f"{x:>{width}}" for x in labels)]
    for label, row in zip(labels, counts, strict=True):
        lines.append(f"{label:<18}" + "".join(f"{n:>{width}}" for n in row))
    return "\n".join(lines)


def format_categories(scores: dict[str, dict[str, float]]) -> str:
    header = (
        f"{'category':26} {'support':>8} {'predicted':>10} {'precision':>10} {'recall':>8} "
        f"{'F1':>6}"
    )
    lines = [header, "-" * len(header)]
    for cat, m in scores.items():
        lines.append(
            f"{cat:26} {int(m['support']):>8} {int(m['predicted']):>10} {m['precision']:>10.3f} "
            f"{m['recall']:>8.3f} {m['f1']:>6.3f}"
        )
    return "\n".join(lines)


def run_evaluate(
    data_dir: Path,
    model_path: Path | None,
    labelled: Path | None = None,
    *,
    as_json: bool = False,
    extra_terms: Mapping[str, Sequence[str]] | None = None,
) -> int:
    """Score a classifier and print the tables (or one JSON object with ``as_json``).

    Without ``labelled``: the held-out dev sets under ``data_dir``. With it: the JSON lines
    ``{"text", "label", "lang"?, "categories"?}`` of that file (see
    :func:`models.evaluation.read_labelled`). Exit code 1 if the file had bad lines (reported on
    stderr, the rest scored), 2 if the model or data cannot be read or no line is usable.
    ``extra_terms`` (a brand's catalog ``lexicon``) adds category terms, as the pipeline does
    for that brand's mentions.
    """
    from models.classifier import MentionClassifier
    from models.evaluation import evaluate, evaluate_labelled, read_labelled

    errors: list[str] = []
    try:
        if labelled is None:
            result: dict[str, Any] = evaluate(data_dir, model_path)
        else:
            with labelled.open(encoding="utf-8") as handle:
                items, errors = read_labelled(handle)
            for message in errors:
                _err(message)
            if not items:
                _err(f"error: no usable labelled lines in {labelled}")
                return 2
            clf = MentionClassifier.load(model_path)
            if extra_terms:
                clf = clf.with_extra_terms(extra_terms)
            result = evaluate_labelled(clf, items)
    except (ModelError, OSError, UnicodeDecodeError, ValueError) as exc:
        _err(f"error: {exc}")
        return 2
    if as_json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_SORT_KEYS).decode() + "\n")
    elif labelled is None:
        sys.stdout.write(format_table(result) + "\n")
    else:
        sys.stdout.write(format_table(result["sentiment"]) + "\n\n")
        sys.stdout.write(format_confusion(result["labels"], result["confusion"]) + "\n")
        if "categories" in result:
            sys.stdout.write("\n" + format_categories(result["categories"]) + "\n")
    if errors:
        _err(f"{len(errors)} bad line(s) skipped")
        return 1
    return 0
