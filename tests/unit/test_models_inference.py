"""The fast batch path gives exactly what the fitted scikit-learn pipelines give, text by text.

Two references, independent of the vectorised code:

* a per-text pure-Python hasher written from the feature definition (character n-grams, words,
  bigrams, polarity-lexicon columns, IDF, L2 norm) must produce the same CSR matrix bit for bit as
  ``NgramHasher.transform`` (entry order included: float32 sums depend on it);
* ``MentionClassifier.predict`` on a few hundred mixed-language texts must equal the plain
  Pipeline calls (``transform`` -> ``CalibratedLinear.predict`` / ``negative_proba``,
  ``LogisticRegression.predict_proba``, lexicon matcher) made one text at a time.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.pipeline import Pipeline

from models import MentionClassifier, Prediction
from models.classifier import CATEGORY_THRESHOLD
from models.features import NgramHasher, word_hash
from models.lexicon import CATEGORIES, CategoryMatcher
from models.normalize import detect_language, normalize, normalize_batch

_MASK = (1 << 64) - 1
_P = 1_000_003
_Q = 0xC2B2AE3D27D4EB4F
_GOLDEN = 0x9E3779B97F4A7C15

_SEEDS = [
    "@united lost my bag AGAIN and customer service hung up on me",
    "Loving the new phone, battery is amazing :)",
    "not bad at all, thanks!!! #GreatService http://t.co/abc",
    "worst airline ever... never again :( 😡",
    "my card was charged twice, is this a scam? refund please",
    "data breach?? they leaked my password www.example.com",
    "soooo slow, the app is down again 🙄",
    "the staff were rude and the manager didn't care",
    "Qué servicio tan malo, no funciona nada",
    "ok",
    "",
    "😂😂👍",
    "השירות פשוט מחפיר, חויבתי פעמיים",
    "לא טוב בכלל, השירות לא עובד",
    "שירות מעולה, תודה רבה! 🙏",
    "#הונאה גנבו לי את הכסף",
    "خدمة العملاء سيئة جدا",
    "نصابين وحرامية والله",
    "مش كويس أبدا، التطبيق معطل",
    "شكرا على الخدمة الممتازة ❤",
    "Привет, всё работает",
    "iPhone 15 Pro חדש",
    "@AmericanAir flight AA100 delayed 3hrs, no food, no info",
    "can't log in, won't load, doesn't work",
]


def _texts() -> list[str]:
    pairs = itertools.product(_SEEDS, repeat=2)
    return [*_SEEDS, *(f"{a} {b}".strip() for i, (a, b) in enumerate(pairs) if i % 2 == 0)]


# --- reference hasher -------------------------------------------------------------------------


def _mix(h: int, salt: int, bits: int) -> int:
    return (((h ^ (salt * 0x5851F42D4C957F2D & _MASK)) * _GOLDEN) & _MASK) >> (64 - bits)


def _char_hash(gram: str) -> int:
    h = 0
    for ch in gram:
        h = (h * _P + ord(ch)) & _MASK
    return h


def _reference_row(hasher: NgramHasher, text: str) -> list[tuple[int, float]]:
    """The row of one normalised text, entries in the order the model sums them."""
    bits, ww = hasher.n_bits, np.float32(hasher.word_weight)
    parts: list[tuple[list[int], np.float32]] = []
    for n in sorted(set(hasher.char_orders)):
        grams = [text[p : p + n] for p in range(len(text) - n + 1)]
        parts.append(([_mix(_char_hash(g), n, bits) for g in grams], np.float32(1.0)))
    words = [w for w in text.split(" ") if w]
    hashes = [word_hash(w) for w in words]
    if 1 in hasher.word_orders:
        parts.append(([_mix(h, 101, bits) for h in hashes], ww))
    if 2 in hasher.word_orders:
        pairs = itertools.pairwise(hashes)
        parts.append(([_mix((a * _Q + b) & _MASK, 102, bits) for a, b in pairs], ww))
    idf = getattr(hasher, "idf_", None)
    cols = [c for part, _ in parts for c in part]
    vals = [v for part, v in parts for _ in part]
    if idf is None:
        sq = 0.0
        for part, v in parts:
            sq += len(part) * float(v) ** 2
    else:
        vals = [v * idf[c] for c, v in zip(cols, vals, strict=True)]
        sq = 0.0
        for v in vals:
            sq += float(v) ** 2
    scale = np.float32(1.0 / np.sqrt(sq)) if sq > 0 else np.float32(0.0)
    row = [(c, float(np.float32(v) * scale)) for c, v in zip(cols, vals, strict=True)]
    if getattr(hasher, "lex_keys_", None) is not None:
        wh = np.array(hashes, dtype=np.uint64)
        lex = hasher._lexicon_features(wh, np.zeros(len(wh), dtype=np.int64), 1)[0]
        lex = lex * np.float32(hasher.lexicon_weight)
        row += [((1 << bits) + j, float(v)) for j, v in enumerate(lex) if v != 0]
    return row


def _assert_same_matrix(X: sp.csr_matrix, hasher: NgramHasher, texts: list[str]) -> None:
    assert X.dtype == np.float32
    for i, text in enumerate(texts):
        lo, hi = X.indptr[i], X.indptr[i + 1]
        expected = _reference_row(hasher, text)
        assert X.indices[lo:hi].tolist() == [c for c, _ in expected], (i, text)
        assert X.data[lo:hi].tolist() == [v for _, v in expected], (i, text)


@pytest.mark.parametrize(
    "params",
    [
        {"char_orders": (1, 3, 5), "polarity_lexicon": "vader", "lexicon_weight": 3.0},
        {"char_orders": (2, 3, 4, 5), "use_idf": True},
        {"char_orders": (5, 2), "word_orders": (2,), "word_weight": 0.7, "use_idf": True},
        {"char_orders": (), "word_orders": (1,), "polarity_lexicon": "vader", "use_idf": True},
    ],
)
def test_hasher_matrix_equals_the_per_text_reference(params: dict[str, object]) -> None:
    texts = normalize_batch(_texts())
    hasher = NgramHasher(n_bits=14, **params).fit(texts[::3])
    X = hasher.transform(texts)
    assert X.shape == (len(texts), hasher.n_features_out_)
    _assert_same_matrix(X, hasher, texts)


def test_hasher_handles_tiny_batches() -> None:
    hasher = NgramHasher(n_bits=10, polarity_lexicon="vader").fit(["good"])
    for texts in ([""], ["", ""], ["a"], [" a ", ""]):
        _assert_same_matrix(hasher.transform(texts), hasher, texts)
    assert hasher.transform([]).shape == (0, hasher.n_features_out_)


def test_hasher_rejects_texts_with_newlines() -> None:
    hasher = NgramHasher(n_bits=10).fit(["a"])
    with pytest.raises(ValueError, match="newlines"):
        hasher.transform(["a\nb"])


# --- classifier against the pipelines ---------------------------------------------------------


def _reference_predictions(
    sentiment: dict[str, Pipeline],
    categories: Pipeline | None,
    matcher: CategoryMatcher,
    texts: list[str],
    hints: list[str | None],
) -> list[Prediction]:
    out = []
    for text, hint in zip(texts, hints, strict=True):
        lang = hint if hint in ("en", "he", "ar", "other") else detect_language(text)
        assert lang is not None
        pipe = sentiment["en" if lang == "other" else lang]
        X = pipe[:-1].transform([text])
        clf = pipe.named_steps["clf"]
        scores = matcher.scores([normalize(text)])[0]
        if categories is not None and lang in ("en", "other"):
            cat_clf = categories.named_steps["clf"]
            proba = cat_clf.predict_proba(categories[:-1].transform([text]))[0]
            for j, cat in enumerate(cat_clf.classes_):
                if cat in CATEGORIES:
                    k = CATEGORIES.index(cat)
                    scores[k] = max(scores[k], proba[j])
        cats = {
            c: round(float(s), 4)
            for c, s in zip(CATEGORIES, scores, strict=True)
            if s >= CATEGORY_THRESHOLD
        }
        out.append(Prediction(str(clf.predict(X)[0]), float(clf.negative_proba(X)[0]), lang, cats))
    return out


def _assert_same_predictions(got: list[Prediction], expected: list[Prediction]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert (g.label, g.lang, g.categories) == (e.label, e.lang, e.categories)
        assert abs(g.negative - e.negative) <= 1e-9


@pytest.fixture(scope="module")
def clf() -> MentionClassifier:
    return MentionClassifier.load()


@pytest.mark.parametrize("with_hints", [False, True])
def test_batch_predictions_equal_the_pipelines(clf: MentionClassifier, with_hints: bool) -> None:
    texts = _texts()
    cycle = ["en", "he", "ar", None, "other"]
    hints: list[str | None] = [cycle[i % 5] if with_hints else None for i in range(len(texts))]
    got = clf.predict(texts, hints if with_hints else None)
    expected = _reference_predictions(clf._sentiment, clf._categories, clf._matcher, texts, hints)
    assert {p.lang for p in got} == {"en", "he", "ar", "other"}
    assert any(p.categories for p in got)
    _assert_same_predictions(got, expected)


def test_category_model_with_its_own_hasher_is_scored_separately(clf: MentionClassifier) -> None:
    assert clf._categories is not None
    categories = copy.deepcopy(clf._categories)
    categories.named_steps["hash"].set_params(lexicon_weight=1.0)  # no longer sentiment-en's
    other = MentionClassifier(clf._sentiment, categories, clf._matcher)
    texts = [t for t in _texts() if detect_language(t) == "en"][:60]
    hints: list[str | None] = [None] * len(texts)
    expected = _reference_predictions(clf._sentiment, categories, clf._matcher, texts, hints)
    _assert_same_predictions(other.predict(texts), expected)
