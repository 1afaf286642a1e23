"""Crisis-category lexicons (English, Hebrew, Arabic data files) matched on normalised text.

A lexicon maps a category to terms. ``term`` is strong evidence (weight 1), ``term~`` weak evidence
(weight 0.5), a trailing ``*`` matches any word ending. Hebrew terms also match behind up to two
attached prefix letters (ו ה ב ל מ ש כ), Arabic terms behind و ف ب ل ك and the article ال. Terms are
normalised exactly like the texts (final letters, alef variants, lower case...).

The score of a category is ``1 - 0.5 ** evidence`` where ``evidence`` is the summed weight of the
distinct terms found: one strong term gives 0.5, two 0.75, three 0.875 — monotone in the evidence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from models.normalize import normalize

CATEGORIES: tuple[str, ...] = (
    "data_breach",
    "product_safety",
    "service_outage",
    "customer_service",
    "billing",
    "staff_misconduct",
    "legal_regulatory",
    "discrimination_offensive",
    "fraud_scam",
)
LEXICON_DIR = Path(__file__).resolve().parent / "lexicons"
_HE_PREFIX = "(?:[והבלמשכ]{0,2})"
_AR_PREFIX = "(?:(?:[وفبلك]?ال|[وفبلك]|لل)?)"


def load_lexicons(directory: Path = LEXICON_DIR) -> dict[str, list[str]]:
    """All ``*.json`` lexicon files merged: category -> terms (with ``~`` / ``*`` markers)."""
    merged: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for cat, terms in data.items():
            if cat.startswith("_"):
                continue
            if cat not in merged:
                msg = f"{path.name}: unknown category {cat!r}"
                raise ValueError(msg)
            merged[cat].extend(terms)
    return merged


def _term_pattern(term: str) -> tuple[str, float]:
    weight = 1.0
    if term.endswith("~"):
        term, weight = term[:-1], 0.5
    wildcard = term.endswith("*")
    core = normalize(term.rstrip("*")).strip()
    if not core:
        return "", 0.0
    body = r"[^\S\n]".join(re.escape(w) for w in core.split())
    if wildcard:
        body += r"\w*"
    first = core[0]
    if "\u05d0" <= first <= "\u05ea":
        body = _HE_PREFIX + body
    elif "\u0620" <= first <= "\u06d3":
        body = _AR_PREFIX + body
    return rf"(?<![\w_]){body}(?![\w_])", weight


class CategoryMatcher:
    """Scores the crisis categories of a batch of normalised texts with one regex pass."""

    def __init__(self, terms: Mapping[str, Sequence[str]]) -> None:
        unknown = set(terms) - set(CATEGORIES)
        if unknown:
            msg = f"unknown crisis categories: {sorted(unknown)}"
            raise ValueError(msg)
        self.terms = {c: list(terms.get(c, ())) for c in CATEGORIES}
        alternatives: list[str] = []
        self._group_info: list[tuple[int, float]] = []
        for ci, cat in enumerate(CATEGORIES):
            for term in dict.fromkeys(self.terms[cat]):
                pattern, weight = _term_pattern(term)
                if pattern:
                    alternatives.append(f"({pattern})")
                    self._group_info.append((ci, weight))
        self._regex = re.compile("|".join(alternatives)) if alternatives else None

    def extended(self, extra: Mapping[str, Sequence[str]]) -> CategoryMatcher:
        merged = {c: [*self.terms[c], *extra.get(c, ())] for c in CATEGORIES}
        unknown = set(extra) - set(CATEGORIES)
        if unknown:
            msg = f"unknown crisis categories: {sorted(unknown)}"
            raise ValueError(msg)
        return CategoryMatcher(merged)

    def scores(self, normalized: Sequence[str]) -> np.ndarray:
        """``(n_texts, n_categories)`` scores in [0, 1]."""
        n = len(normalized)
        evidence = np.zeros((n, len(CATEGORIES)))
        if n == 0 or self._regex is None:
            return evidence
        joined = "\n".join(normalized)
        starts = np.cumsum([0] + [len(t) + 1 for t in normalized[:-1]])
        seen: set[tuple[int, int]] = set()
        for m in self._regex.finditer(joined):
            group = m.lastindex
            if group is None:
                continue
            doc = int(np.searchsorted(starts, m.start(), side="right") - 1)
            if (doc, group) in seen:
                continue
            seen.add((doc, group))
            ci, weight = self._group_info[group - 1]
            evidence[doc, ci] += weight
        return 1.0 - np.power(0.5, evidence)
