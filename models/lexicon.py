"""Crisis-category lexicons (English, Hebrew, Arabic data files) matched on normalised text.

A lexicon maps a category to terms. ``term`` is strong evidence (weight 1), ``term~`` weak evidence
(weight 0.5), a trailing ``*`` matches any word ending. Hebrew terms also match behind up to three
attached prefix letters (ו ה ב ל מ ש כ), Arabic terms behind و ف ب ل ك and the article ال. Terms are
normalised exactly like the texts (final letters, alef variants, lower case...).

The score of a category is ``1 - 0.5 ** evidence`` where ``evidence`` is the summed weight of the
distinct terms found: one strong term gives 0.5, two 0.75, three 0.875 — monotone in the evidence.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from models.features import _Q, TextBatch, word_hash
from models.normalize import normalize, prefixed_forms

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
    "public_backlash",
)
LEXICON_DIR = Path(__file__).resolve().parent / "lexicons"


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


_MASK = (1 << 64) - 1
_Q_INT = int(_Q)


def _phrase_key(words: Sequence[str], kind: int) -> int:
    h = word_hash(words[0])
    for w in words[1:]:
        h = (h * _Q_INT + word_hash(w)) & _MASK
    return int(_key(np.array([h], dtype=np.uint64), kind)[0])


def _key(h: np.ndarray, kind: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        mixed: np.ndarray = (h ^ np.uint64(kind * 0x9E3779B97F4A7C15 & (2**64 - 1))) * _Q
    return mixed


class CategoryMatcher:
    """Scores the crisis categories of a batch of normalised texts.

    Terms are compiled to 64-bit hashes of word n-grams (and of word prefixes for ``*`` terms); a
    batch is hashed with numpy in one pass and looked up with ``np.isin``, so the cost does not grow
    with the number of terms (a regex alternation of ~700 terms was 20x slower).
    """

    def __init__(self, terms: Mapping[str, Sequence[str]]) -> None:
        unknown = set(terms) - set(CATEGORIES)
        if unknown:
            msg = f"unknown crisis categories: {sorted(unknown)}"
            raise ValueError(msg)
        self.terms = {c: list(terms.get(c, ())) for c in CATEGORIES}
        # key -> list of (term id, category index, weight)
        self._index: dict[int, list[tuple[int, int, float]]] = {}
        self._phrase_lengths: set[int] = set()
        self._prefix_lengths: set[int] = set()
        term_id = 0
        for ci, cat in enumerate(CATEGORIES):
            for raw in dict.fromkeys(self.terms[cat]):
                term, weight = raw, 1.0
                if term.endswith("~"):
                    term, weight = term[:-1], 0.5
                wildcard = term.endswith("*")
                core = normalize(term.rstrip("*")).strip()
                if not core:
                    continue
                for form in prefixed_forms(core):
                    words = form.split()
                    if wildcard and len(words) == 1:
                        n_chars = len(words[0])
                        key = _phrase_key(words, 100 + min(n_chars, 64))
                        self._prefix_lengths.add(n_chars)
                    else:
                        key = _phrase_key(words, len(words))
                        self._phrase_lengths.add(len(words))
                    self._index.setdefault(key, []).append((term_id, ci, weight))
                term_id += 1
        self._keys = np.array(sorted(self._index), dtype=np.uint64)
        # char offset (in a word) -> "a wildcard term of length offset + 1 exists", and the salt
        # of its key (``_key`` with kind 100 + min(length, 64)); offsets past the longest: False
        self._max_prefix = max(self._prefix_lengths, default=0)
        self._prefix_at = np.zeros(self._max_prefix + 1, dtype=bool)
        self._prefix_at[[n - 1 for n in self._prefix_lengths]] = True
        kinds = 100 + np.minimum(np.arange(self._max_prefix + 1) + 1, 64)
        with np.errstate(over="ignore"):
            self._prefix_salt = kinds.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        self._bitmap = np.zeros(1 << 24, dtype=bool)
        self._bitmap[(self._keys >> np.uint64(40)).astype(np.int64)] = True

    def extended(self, extra: Mapping[str, Sequence[str]]) -> CategoryMatcher:
        unknown = set(extra) - set(CATEGORIES)
        if unknown:
            msg = f"unknown crisis categories: {sorted(unknown)}"
            raise ValueError(msg)
        return CategoryMatcher({c: [*self.terms[c], *extra.get(c, ())] for c in CATEGORIES})

    def scores(self, normalized: Sequence[str]) -> np.ndarray:
        """``(n_texts, n_categories)`` scores in [0, 1]."""
        return self.scores_batch(TextBatch(normalized))

    def scores_batch(self, batch: TextBatch) -> np.ndarray:
        """:meth:`scores` of an analysed batch (its word hashes are shared with the hasher)."""
        n = batch.n_docs
        evidence = np.zeros((n, len(CATEGORIES)))
        wh, wrow = batch.word_hashes, batch.word_rows
        if n == 0 or not self._index or len(wh) == 0:
            return evidence
        with np.errstate(over="ignore"):
            rows: list[np.ndarray] = []
            keys: list[np.ndarray] = []
            for length in self._phrase_lengths:
                if len(wh) < length:
                    continue
                m = len(wh) - length + 1
                h = wh[:m].copy()
                for k in range(1, length):
                    h = h * _Q + wh[k : k + m]
                same = wrow[length - 1 : length - 1 + m] == wrow[:m]
                rows.append(wrow[:m][same])
                keys.append(_key(h[same], length))
            if self._prefix_lengths:
                # all wildcard lengths in one pass: the running hash of each word at the
                # characters that end a prefix of a wildcard term's length
                wid = batch.word_of_char
                at = np.flatnonzero(
                    self._prefix_at[np.minimum(batch.char_offset, self._max_prefix)]
                )
                prefix_hash = batch.prefix_hashes(at)  # hash of the word's first offset+1 chars
                rows.append(wrow[wid[at]])
                keys.append((prefix_hash ^ self._prefix_salt[batch.char_offset[at]]) * _Q)
        all_rows = np.concatenate(rows)
        all_keys = np.concatenate(keys)
        # bitmap prefilter (one gather per key), exact check only for the few candidates
        cand = np.flatnonzero(self._bitmap[(all_keys >> np.uint64(40)).astype(np.int64)])
        pos = np.minimum(np.searchsorted(self._keys, all_keys[cand]), len(self._keys) - 1)
        hit = cand[self._keys[pos] == all_keys[cand]]
        seen: set[tuple[int, int]] = set()
        for doc, key in zip(all_rows[hit].tolist(), all_keys[hit].tolist(), strict=True):
            for term_id, ci, weight in self._index[key]:
                if (doc, term_id) not in seen:
                    seen.add((doc, term_id))
                    evidence[doc, ci] += weight
        return 1.0 - np.power(0.5, evidence)
