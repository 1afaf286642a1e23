"""scikit-learn estimators for the classifier pipelines.

``Normalizer`` (raw text -> normalised text) -> ``NgramHasher`` (normalised text -> sparse hashed
character and word n-grams) -> ``CalibratedLinear`` (logistic regression plus a Platt-scaled
P(negative) fitted on out-of-fold scores).

``NgramHasher`` hashes the n-grams of a whole batch with numpy array arithmetic on the UTF-32 code
points of the joined batch, so there is no Python loop per text or per n-gram. That is what makes
>= 20,000 texts/s possible where sklearn's ``HashingVectorizer``/``TfidfVectorizer`` analyzers (a
Python generator per document) manage about 5,000/s with the same n-gram orders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from models.normalize import STEM_PREFIXES, normalize_batch, prefixed_forms

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_P = np.uint64(1_000_003)
_P_INVERSE = np.uint64(pow(1_000_003, -1, 1 << 64))  # _P * _P_INVERSE == 1 (mod 2**64)
_Q = np.uint64(0xC2B2AE3D27D4EB4F)
with np.errstate(over="ignore"):
    # P**0 .. P**63 (mod 2**64)
    _POWERS = np.concatenate(([np.uint64(1)], np.cumprod(np.full(63, _P, dtype=np.uint64))))


class Normalizer(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Raw texts -> normalised texts (see :mod:`models.normalize`). Stateless."""

    def fit(self, X: Sequence[str], y: Any = None) -> Normalizer:
        self.fitted_ = True
        return self

    def transform(self, X: Sequence[str]) -> list[str]:
        return normalize_batch(list(X))


def _mix(h: np.ndarray, salt: int, bits: int) -> np.ndarray:
    """Multiplicative (Fibonacci) hashing of uint64 keys to ``bits`` (<= 31) bits, as int32."""
    out = np.bitwise_xor(h, np.uint64(salt * 0x5851F42D4C957F2D & 0xFFFFFFFFFFFFFFFF))
    np.multiply(out, _GOLDEN, out=out)
    np.right_shift(out, np.uint64(64 - bits), out=out)
    codes: np.ndarray = out.astype(np.int32)
    return codes


N_LEXICON = 6  # polarity-lexicon columns appended after the hashed n-grams
NEGATION_FACTOR = 0.74  # as VADER: a negated word keeps -0.74 of its valence


def word_hash(word: str) -> int:
    """The hash :class:`NgramHasher` gives a (space-free, normalised) word."""
    h, power, p = 0, 1, int(_P)
    for i, ch in enumerate(word):
        h = (h + ord(ch) * power) & 0xFFFFFFFFFFFFFFFF
        if i < 63:
            power = (power * p) & 0xFFFFFFFFFFFFFFFF
    return h


POLARITY_DIR = Path(__file__).resolve().parent / "lexicons" / "polarity"


def polarity_table(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted word hashes and valences of a polarity lexicon, negated forms included.

    ``"vader"``: the VADER lexicon (Hutto & Gilbert 2014, MIT licence) read from the
    ``vaderSentiment`` package at training time. ``"he"``, ``"ar"``: the curated lexicons in
    ``models/lexicons/polarity/<lang>.json`` (same -4..+4 scale), each word normalised as texts are
    and expanded with its attached-prefix forms. The table is stored in the fitted hasher, so
    prediction needs neither the package nor the files. The normaliser writes ``not bad`` as
    ``not bad not_bad``: ``not_<word>`` gets ``-(1 + 0.74) * valence`` so the pair sums to VADER's
    ``-0.74 * valence``. The emoticon/emoji signal tokens ``xpos``/``xneg`` count +-2.
    """
    words: dict[str, float] = {}
    if name == "vader":
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # training-time only

        for word, valence in SentimentIntensityAnalyzer().lexicon.items():
            if re.fullmatch(r"[a-z][a-z']*", word):
                words[word] = float(valence)
    else:
        path = POLARITY_DIR / f"{name}.json"
        if not path.is_file():
            msg = f"unknown polarity lexicon {name!r}"
            raise ValueError(msg)
        terms = json.loads(path.read_text(encoding="utf-8"))["terms"]
        for term, valence in zip(normalize_batch(list(terms)), terms.values(), strict=True):
            core = term.strip()
            if not core or " " in core:
                msg = f"{path.name}: {term!r} is not one word once normalised"
                raise ValueError(msg)
            words[core] = float(valence)
        # Where forms of two words coincide, the longer word wins: מחבל ("terrorist") is also
        # מ + חבל ("pity"), and ומחבל is read as ו + מחבל, not as ומ + חבל.
        forms = sorted(
            (len(form) - len(core), form, valence)
            for core, valence in words.items()
            for form in prefixed_forms(core)[1:]
        )
        for _, form, valence in forms:
            words.setdefault(form, valence)
    table: dict[int, float] = {word_hash("xpos"): 2.0, word_hash("xneg"): -2.0}
    for word, valence in words.items():
        table[word_hash(word)] = valence
        table[word_hash(f"not_{word}")] = -(1.0 + NEGATION_FACTOR) * valence
    keys = np.array(sorted(table), dtype=np.uint64)
    values = np.array([table[int(k)] for k in keys], dtype=np.float32)
    return keys, values


def _inverse_norm(sq: np.ndarray) -> np.ndarray:
    scale = np.zeros(len(sq), dtype=np.float32)
    nz = sq > 0
    scale[nz] = 1.0 / np.sqrt(sq[nz])
    return scale


def _starts(counts: np.ndarray) -> np.ndarray:
    """Start offset of each run when runs of these lengths are laid end to end."""
    out = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=out[1:])
    return out


class TextBatch:
    """Code points, character n-gram hashes and word hashes of a batch of normalised texts.

    The texts are joined with ``"\\n"`` and analysed with numpy array arithmetic, with no Python
    loop per text or per n-gram. One batch serves every consumer of the same texts (the n-gram
    hasher of a language and the category matcher) so words are hashed once.
    """

    def __init__(self, texts: Sequence[str]) -> None:
        self.n_docs = len(texts)
        joined = "\n".join(texts)
        self.cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        length = len(self.cps)
        is_nl = self.cps == 10
        nl_pos = np.flatnonzero(is_nl)
        if len(nl_pos) != max(self.n_docs - 1, 0):
            msg = "normalised texts must not contain newlines"
            raise ValueError(msg)
        self.text_starts = np.concatenate(([0], nl_pos + 1)).astype(np.int64)
        self.text_ends = np.append(nl_pos, length).astype(np.int64)
        self._char_hashes: list[np.ndarray] = [self.cps]
        # words: maximal runs of characters other than space and newline
        is_word = ~(is_nl | (self.cps == 32))
        start_mask = is_word.copy()
        start_mask[1:] &= ~is_word[:-1]
        self.word_pos = np.flatnonzero(is_word)
        is_first = start_mask[self.word_pos]
        self.word_seg = np.flatnonzero(is_first)  # index in word_pos of each word's first char
        self.word_of_char = np.cumsum(is_first) - 1  # word id of each entry of word_pos
        starts = self.word_pos[self.word_seg]
        self.char_offset = self.word_pos - starts[self.word_of_char]  # position inside the word
        self.word_rows = np.searchsorted(nl_pos, starts)  # text of each word
        # polynomial word hash: sum of code point * P**min(offset, 63) (mod 2**64)
        self.char_terms = self.cps[self.word_pos] * _POWERS[np.minimum(self.char_offset, 63)]
        if len(self.word_seg):
            self.word_hashes = np.add.reduceat(self.char_terms, self.word_seg)
        else:
            self.word_hashes = np.zeros(0, dtype=np.uint64)
        self.word_counts = np.bincount(self.word_rows, minlength=self.n_docs)
        self.first_word = _starts(self.word_counts)
        self._prefix_sums: tuple[np.ndarray, np.ndarray] | None = None

    def char_hash(self, n: int) -> np.ndarray:
        """Rolling hash of the ``n`` characters starting at each position (order n extends
        order n - 1 by one multiply-add); positions whose n-gram crosses a text end are garbage."""
        cps = self.cps
        while len(self._char_hashes) < n:
            k = len(self._char_hashes) + 1
            m = len(cps) - k + 1
            self._char_hashes.append(self._char_hashes[-1][:m] * _P + cps[k - 1 : k - 1 + m])
        return self._char_hashes[n - 1]

    def prefix_hashes(self, at: np.ndarray) -> np.ndarray:
        """For entries ``at`` of ``word_pos``: the word hash of the word's characters up to and
        including that one (the first ``char_offset[at] + 1``). Running sums are cached, so the
        hasher's prefix stems and the category matcher's wildcard terms share them."""
        if self._prefix_sums is None:
            csum = np.cumsum(self.char_terms)
            self._prefix_sums = (csum, np.concatenate(([np.uint64(0)], csum))[self.word_seg])
        csum, before = self._prefix_sums
        out: np.ndarray = csum[at] - before[self.word_of_char[at]]
        return out


class NgramHasher(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Hashed character n-grams and word n-grams of normalised texts, as a CSR matrix.

    With ``use_idf`` each n-gram is weighted by its smoothed inverse document frequency in the
    training texts (as ``TfidfVectorizer``). Each row is scaled to unit L2 norm as if all its
    n-grams were distinct, so duplicates need not be merged at prediction time; the same scaling
    is used in training.
    Collisions are signed-free (plain counts); with 2**19 columns they are rare for tweets.

    ``stem_prefixes`` (a language code of ``models.normalize.STEM_PREFIXES``) adds, for each word
    that starts with one of that language's prefixes and keeps at least three letters without
    it, the stem as one more word feature (Arabic ``والحكومه`` also counts as ``حكومه``), so a
    word seen in training with one clitic is recognised with another. The prefix list is
    resolved at ``fit`` and stored in the fitted hasher.
    """

    def __init__(
        self,
        n_bits: int = 19,
        char_orders: tuple[int, ...] = (2, 3, 4, 5),
        word_orders: tuple[int, ...] = (1, 2),
        word_weight: float = 1.0,
        use_idf: bool = False,
        polarity_lexicon: str | None = None,
        lexicon_weight: float = 1.0,
        stem_prefixes: str | None = None,
    ) -> None:
        self.n_bits = n_bits
        self.char_orders = char_orders
        self.word_orders = word_orders
        self.word_weight = word_weight
        self.use_idf = use_idf
        self.polarity_lexicon = polarity_lexicon
        self.lexicon_weight = lexicon_weight
        self.stem_prefixes = stem_prefixes

    def fit(self, X: Sequence[str], y: Any = None) -> NgramHasher:
        self.lex_keys_: np.ndarray | None = None
        self.lex_values_: np.ndarray | None = None
        if self.polarity_lexicon is not None:
            self.lex_keys_, self.lex_values_ = polarity_table(self.polarity_lexicon)
        self.prefixes_: tuple[str, ...] = ()
        if self.stem_prefixes is not None:
            if self.stem_prefixes not in STEM_PREFIXES:
                msg = f"no stem prefixes for {self.stem_prefixes!r}: {sorted(STEM_PREFIXES)}"
                raise ValueError(msg)
            self.prefixes_ = STEM_PREFIXES[self.stem_prefixes]
        self.n_features_out_ = (1 << self.n_bits) + (0 if self.lex_keys_ is None else N_LEXICON)
        self.idf_: np.ndarray | None = None
        if self.use_idf:
            counts = self.transform(X)
            counts.sum_duplicates()
            df = np.bincount(counts.indices, minlength=self.n_features_out_)
            n = counts.shape[0]
            self.idf_ = (np.log((1.0 + n) / (1.0 + df)) + 1.0).astype(np.float32)
        return self

    def transform(self, X: Sequence[str]) -> sp.csr_matrix:
        return self.transform_batch(TextBatch(list(X)))

    def transform_batch(self, batch: TextBatch) -> sp.csr_matrix:
        """:meth:`transform` of an already analysed batch (shared with the category matcher)."""
        n_docs = batch.n_docs
        n_cols = 1 << self.n_bits
        lex_keys = getattr(self, "lex_keys_", None)
        n_out = n_cols + (0 if lex_keys is None else N_LEXICON)
        if n_docs == 0:
            return sp.csr_matrix((0, n_out), dtype=np.float32)
        # Every (text, part) pair is one contiguous run of a part's code array: the character
        # n-grams of order n of text r start at its first character, its words and bigrams at its
        # first word, its stems at its first stemmed word, its lexicon columns at its first
        # non-zero lexicon value. The CSR matrix is then one gather from the stacked code arrays,
        # rows in text order and, inside a row, the parts in this order: character orders
        # ascending, words, bigrams, stems, lexicon. (That order is part of the model: float32
        # sums depend on it.)
        codes: list[np.ndarray] = []
        seg_src: list[np.ndarray] = []
        seg_len: list[np.ndarray] = []
        seg_val: list[float] = []
        src_base = 0
        text_len = batch.text_ends - batch.text_starts
        for n in sorted(set(self.char_orders)):
            m = len(batch.cps) - n + 1
            if m <= 0:
                break
            codes.append(_mix(batch.char_hash(n), n, self.n_bits))
            seg_src.append(batch.text_starts + src_base)
            seg_len.append(np.maximum(text_len - n + 1, 0))
            seg_val.append(1.0)
            src_base += m
        wh, wrow = batch.word_hashes, batch.word_rows
        word_counts = batch.word_counts
        first_word = batch.first_word
        w = float(np.float32(self.word_weight))
        if 1 in self.word_orders and len(wh):
            codes.append(_mix(wh, 101, self.n_bits))
            seg_src.append(first_word + src_base)
            seg_len.append(word_counts)
            seg_val.append(w)
            src_base += len(wh)
        if 2 in self.word_orders and len(wh) > 1:
            codes.append(_mix(wh[:-1] * _Q + wh[1:], 102, self.n_bits))
            seg_src.append(first_word + src_base)
            seg_len.append(np.maximum(word_counts - 1, 0))
            seg_val.append(w)
            src_base += len(wh) - 1
        prefixes: tuple[str, ...] = getattr(self, "prefixes_", ())
        if prefixes and len(wh):
            stem_word, stem_hash = _prefix_stems(batch, prefixes)
            stem_count = np.bincount(wrow[stem_word], minlength=n_docs)
            codes.append(_mix(stem_hash, 103, self.n_bits))
            seg_src.append(_starts(stem_count) + src_base)
            seg_len.append(stem_count)
            seg_val.append(w)
            src_base += len(stem_hash)
        n_hash_parts = len(codes)
        lex_rows = lex_cols = lex_vals = None
        if lex_keys is not None:
            lexicon = self._lexicon_features(wh, wrow, n_docs) * np.float32(self.lexicon_weight)
            lex_rows, lex_cols = np.nonzero(lexicon)  # what ``csr_matrix(lexicon)`` keeps
            lex_vals = lexicon[lex_rows, lex_cols]
            lex_count = np.bincount(lex_rows, minlength=n_docs)
            codes.append((lex_cols + n_cols).astype(np.int32))
            seg_src.append(_starts(lex_count) + src_base)
            seg_len.append(lex_count)
            seg_val.append(1.0)
        if not seg_len:
            return sp.csr_matrix((n_docs, n_out), dtype=np.float32)
        lens = np.column_stack(seg_len).astype(np.int64)  # (n_docs, n_parts)
        counts = lens.sum(axis=1)
        indptr = np.zeros(n_docs + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        nnz = int(indptr[-1])
        flat = lens.ravel()
        out_start = np.zeros(len(flat), dtype=np.int64)
        np.cumsum(flat[:-1], out=out_start[1:])
        src = np.repeat(np.column_stack(seg_src).ravel() - out_start, flat)
        src += np.arange(nnz, dtype=np.int64)
        indices = np.concatenate(codes)[src] if codes else np.zeros(0, dtype=np.int32)

        # Unit L2 norm over the hashed parts (the lexicon columns are not scaled), computed as
        # the per-entry loop of the original CSR build did, so the float32 values are identical.
        hash_lens = lens[:, :n_hash_parts]
        idf = getattr(self, "idf_", None)
        if idf is None:
            sq: np.ndarray = np.zeros(n_docs, dtype=np.float64)
            for j in range(n_hash_parts):
                if hash_lens[:, j].any():
                    sq += hash_lens[:, j] * seg_val[j] ** 2
            scale = _inverse_norm(sq)
            per_seg = np.ones(lens.shape, dtype=np.float32)
            per_seg[:, :n_hash_parts] = np.asarray(seg_val[:n_hash_parts], dtype=np.float32)
            per_seg[:, :n_hash_parts] *= scale[:, None]
            data = np.repeat(per_seg.ravel(), flat)
        else:
            data = np.repeat(
                np.broadcast_to(np.asarray(seg_val, dtype=np.float32), lens.shape).ravel(), flat
            )
            is_hash = indices < n_cols
            data[is_hash] *= idf[indices[is_hash]]
            entry_rows = np.repeat(np.arange(n_docs), counts)
            d64 = data.astype(np.float64)
            sq = np.bincount(entry_rows, np.where(is_hash, d64 * d64, 0.0), minlength=n_docs)
            scale = _inverse_norm(sq)
            per_seg = np.ones(lens.shape, dtype=np.float32)
            per_seg[:, :n_hash_parts] = scale[:, None]
            data *= np.repeat(per_seg.ravel(), flat)
        if lex_vals is not None and len(lex_vals):
            assert lex_rows is not None  # noqa: S101 - set with lex_vals
            first = (out_start.reshape(lens.shape)[:, -1] - seg_src[-1])[lex_rows]
            data[first + src_base + np.arange(len(lex_rows))] = lex_vals
        return sp.csr_matrix((data, indices, indptr), shape=(n_docs, n_out), copy=False)

    def _lexicon_features(self, wh: np.ndarray, wrow: np.ndarray, n_docs: int) -> np.ndarray:
        """Per text: summed positive / negative valence, a squashed total, capped hit counts."""
        keys, values = self.lex_keys_, self.lex_values_
        assert keys is not None and values is not None  # noqa: S101 - fitted with a lexicon
        pos = np.minimum(np.searchsorted(keys, wh), len(keys) - 1)
        hit = keys[pos] == wh
        v = values[pos[hit]].astype(np.float64)
        rows = wrow[hit]
        plus = np.bincount(rows, weights=np.maximum(v, 0.0), minlength=n_docs)
        minus = np.bincount(rows, weights=np.minimum(v, 0.0), minlength=n_docs)
        n_plus = np.bincount(rows, weights=(v > 0).astype(np.float64), minlength=n_docs)
        n_minus = np.bincount(rows, weights=(v < 0).astype(np.float64), minlength=n_docs)
        total = plus + minus
        out = np.column_stack(
            [
                plus / 4.0,
                minus / 4.0,
                total / np.sqrt(total * total + 15.0),  # VADER's compound normalisation
                np.minimum(n_plus, 4.0) / 4.0,
                np.minimum(n_minus, 4.0) / 4.0,
                (n_plus + n_minus == 0).astype(np.float64),
            ]
        )
        return out.astype(np.float32)


def _prefix_stems(batch: TextBatch, prefixes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Words of ``batch`` that start with one of ``prefixes`` and keep >= 3 characters without
    it, and the word hash of that rest (as ``word_hash`` of the stem), ordered by word.

    The word hash is ``sum(cp[j] * P**j)``: dropping the first k terms and multiplying by the
    inverse of ``P**k`` (P is odd, so invertible mod 2**64) gives the stem's own hash, for words
    under 64 characters. A word matching several prefixes (``للبيت``: ``ل`` and ``لل``) yields
    one stem per prefix.
    """
    n_chars = np.diff(np.append(batch.word_seg, len(batch.word_pos)))
    first_char = batch.word_pos[batch.word_seg]
    last = len(batch.cps) - 1
    words: list[np.ndarray] = []
    hashes: list[np.ndarray] = []
    with np.errstate(over="ignore"):
        for prefix in prefixes:
            k = len(prefix)
            match = n_chars >= k + 3
            for j, ch in enumerate(prefix):
                match &= batch.cps[np.minimum(first_char + j, last)] == ord(ch)
            wi = np.flatnonzero(match)
            stem = batch.word_hashes[wi] - batch.prefix_hashes(batch.word_seg[wi] + k - 1)
            for _ in range(k):
                stem *= _P_INVERSE
            words.append(wi)
            hashes.append(stem)
    if not words:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    word = np.concatenate(words)
    order = np.argsort(word, kind="stable")
    return word[order], np.concatenate(hashes)[order]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))
    return out


class CalibratedLinear(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """Multinomial logistic regression with class-bias correction and a Platt-calibrated P(neg).

    ``fit`` first computes out-of-fold decision scores: leave-one-group-out when ``groups`` (the
    source corpus of each text) name three or more groups, else stratified ``cv``-fold. On those
    held-out scores it

    * tunes additive logit offsets for the non-negative classes (grid search) that maximise the
      mean per-group macro-F1 — a correction for the label-prior and domain shift between corpora,
      learned only from corpora the scoring model did not see;
    * fits a one-dimensional logistic (Platt) map from the biased negative-vs-rest log-odds to
      P(negative), so the probability is calibrated on unseen data.

    ``group_scores_`` keeps the per-group held-out macro-F1 / negative-F1 (after the bias) for the
    model card. Weights are stored as float32 (half the size; scores unaffected).
    """

    def __init__(
        self,
        C: float = 4.0,
        class_weight: str | dict[str, float] | None = "balanced",
        cv: int = 3,
        max_iter: int = 300,
        tune_bias: bool = True,
        random_state: int = 0,
        balance_groups: bool = False,
        n_jobs: int = 1,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.cv = cv
        self.max_iter = max_iter
        self.tune_bias = tune_bias
        self.random_state = random_state
        self.balance_groups = balance_groups
        self.n_jobs = n_jobs

    def _lr(self, weighted: bool = False) -> LogisticRegression:
        return LogisticRegression(
            C=self.C,
            class_weight=None if weighted else self.class_weight,
            max_iter=self.max_iter,
            tol=1e-3,
        )

    def fit(
        self, X: sp.csr_matrix, y: Sequence[str], groups: Sequence[str] | None = None
    ) -> CalibratedLinear:
        y_arr = np.asarray(y)
        X = X.tocsr()
        X.sum_duplicates()
        sw = None
        if self.balance_groups and groups is not None:
            sw = group_balanced_weights(y_arr, np.asarray(groups))
        weighted = sw is not None
        self.classes_ = np.unique(y_arr)
        self._neg = int(np.flatnonzero(self.classes_ == "negative")[0])
        held_out = np.ones(len(y_arr), dtype=bool)
        complete: list[str] = []
        if groups is not None:
            g_arr = np.asarray(groups)
            # A corpus that lacks a class (e.g. emotion tweets: no neutral) cannot be scored by
            # 3-class macro-F1: it is never held out and always stays in the training folds.
            complete = [
                g
                for g in sorted(set(g_arr.tolist()))
                if set(np.unique(y_arr[g_arr == g])) == set(self.classes_)
            ]
            held_out = np.isin(g_arr, complete)
        if groups is not None and len(complete) >= 3:
            folds = [(np.flatnonzero(g_arr != g), np.flatnonzero(g_arr == g)) for g in complete]
        else:
            skf = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
            folds = list(skf.split(X, y_arr))
            held_out[:] = True
            g_arr = np.empty(len(y_arr), dtype=object)
            for k, (_, te) in enumerate(folds):
                g_arr[te] = f"fold{k}"
        # the full model and the fold models are independent fits: run them side by side
        jobs = [(np.arange(len(y_arr)), None), *folds]
        fitted = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_lr)(self._lr(weighted), X, y_arr, sw, tr) for tr, _ in jobs
        )
        self.lr_ = fitted[0]
        oof = np.zeros((len(y_arr), len(self.classes_)))
        for lr, (_, te) in zip(fitted[1:], folds, strict=True):
            oof[te] = lr.decision_function(X[te])
        y_idx = np.searchsorted(self.classes_, y_arr)
        group_masks = {str(g): g_arr == g for g in sorted(set(g_arr[held_out].tolist()))}
        self.bias_ = np.zeros(len(self.classes_))
        if self.tune_bias:
            self.bias_ = _tune_bias(oof, y_idx, list(group_masks.values()), self._neg)
        z = oof + self.bias_
        pred = z.argmax(axis=1)
        self.group_scores_ = {
            g: {
                "n": int(m.sum()),
                "macro_f1": round(_macro_f1(y_idx[m], pred[m], len(self.classes_)), 4),
                "negative_f1": round(_class_f1(y_idx[m], pred[m], self._neg), 4),
            }
            for g, m in group_masks.items()
        }
        log_odds = self._neg_log_odds(z[held_out])
        is_neg = (y_idx[held_out] == self._neg).astype(int)
        platt = LogisticRegression(C=1e4).fit(log_odds.reshape(-1, 1), is_neg)
        self.platt_a_ = float(platt.coef_[0, 0])
        self.platt_b_ = float(platt.intercept_[0])
        self.lr_.coef_ = self.lr_.coef_.astype(np.float32)
        return self

    def _neg_log_odds(self, z: np.ndarray) -> np.ndarray:
        others = np.delete(z, self._neg, axis=1)
        top = others.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(others - top).sum(axis=1))
        out: np.ndarray = z[:, self._neg] - lse
        return out

    def decision_function(self, X: sp.csr_matrix) -> np.ndarray:
        """Class scores including the tuned bias."""
        scores: np.ndarray = X @ self.lr_.coef_.T + (self.lr_.intercept_ + self.bias_)
        return scores

    def predict_proba(self, X: sp.csr_matrix) -> np.ndarray:
        z = self.decision_function(X)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        out: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return out

    def negative_from_scores(self, z: np.ndarray) -> np.ndarray:
        """Calibrated P(negative) from :meth:`decision_function` scores."""
        return _sigmoid(self.platt_a_ * self._neg_log_odds(z) + self.platt_b_)

    def negative_proba(self, X: sp.csr_matrix) -> np.ndarray:
        return self.negative_from_scores(self.decision_function(X))

    def labels_from_scores(self, z: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.classes_[z.argmax(axis=1)]
        return out

    def predict(self, X: sp.csr_matrix) -> np.ndarray:
        return self.labels_from_scores(self.decision_function(X))


def _fit_lr(
    lr: LogisticRegression, X: sp.csr_matrix, y: np.ndarray, sw: np.ndarray | None, rows: np.ndarray
) -> LogisticRegression:
    weights = None if sw is None else sw[rows]
    fitted: LogisticRegression = lr.fit(X[rows], y[rows], sample_weight=weights)
    return fitted


def group_balanced_weights(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Sample weights giving every group (source corpus) the same total weight and, inside a
    group, every class the same weight (``class_weight="balanced"`` per corpus); mean 1.

    Without it the largest and most skewed corpus (airline complaints: 48% of the English texts,
    63% negative) sets the decision boundary for every domain.
    """
    w = np.zeros(len(y))
    group_names = np.unique(groups)
    for g in group_names:
        in_g = groups == g
        labels = np.unique(y[in_g])
        for lab in labels:
            cell = in_g & (y == lab)
            w[cell] = len(y) / (len(group_names) * len(labels) * cell.sum())
    return w


def _class_f1(y: np.ndarray, p: np.ndarray, c: int) -> float:
    tp = float(np.sum((p == c) & (y == c)))
    denom = float(np.sum(p == c) + np.sum(y == c))
    return 2 * tp / denom if denom else 0.0


def _macro_f1(y: np.ndarray, p: np.ndarray, n_classes: int) -> float:
    present = [c for c in range(n_classes) if np.any(y == c)]
    return float(np.mean([_class_f1(y, p, c) for c in present])) if present else 0.0


def _tune_bias(oof: np.ndarray, y: np.ndarray, groups: list[np.ndarray], neg: int) -> np.ndarray:
    """Offsets (negative class fixed at 0) maximising the mean per-group macro-F1."""
    grid = np.arange(-3.0, 3.01, 0.25)
    others = [c for c in range(oof.shape[1]) if c != neg]
    best, best_bias = -1.0, np.zeros(oof.shape[1])
    for a in grid:
        for b in grid if len(others) > 1 else [0.0]:
            bias = np.zeros(oof.shape[1])
            bias[others[0]] = a
            if len(others) > 1:
                bias[others[1]] = b
            pred = (oof + bias).argmax(axis=1)
            score = float(np.mean([_macro_f1(y[m], pred[m], oof.shape[1]) for m in groups]))
            # prefer the smaller correction on ties (stable, deterministic)
            if score > best + 1e-9 or (
                abs(score - best) <= 1e-9 and np.abs(bias).sum() < np.abs(best_bias).sum()
            ):
                best, best_bias = score, bias
    return best_bias
