"""Feature extraction and training helpers of the classifier pipelines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import models.features as features
from models.features import (
    N_LEXICON,
    NgramHasher,
    group_balanced_weights,
    polarity_table,
    word_hash,
)
from models.normalize import normalize_batch


def test_polarity_features_follow_the_lexicon_and_negation() -> None:
    texts = normalize_batch(["good movie", "not good", "awful service", "the table", "great :)"])
    hasher = NgramHasher(n_bits=10, polarity_lexicon="vader").fit(texts)
    X = hasher.transform(texts)
    assert X.shape == (5, (1 << 10) + N_LEXICON)
    lex = X[:, 1 << 10 :].toarray()
    plus, minus, total, no_hit = lex[:, 0], lex[:, 1], lex[:, 2], lex[:, 5]
    assert total[0] > 0 and minus[0] == 0
    assert total[1] < 0  # "not good" -> -0.74 x valence of "good"
    assert total[2] < 0 and plus[2] == 0
    assert no_hit[3] == 1 and total[3] == 0
    assert total[4] > total[0]  # emoticon signal adds to the word


def test_word_hash_matches_the_vectorised_hash() -> None:
    keys, values = polarity_table("vader")
    assert np.all(np.diff(keys.astype(np.float64)) >= 0)
    assert len(keys) == len(values)
    pos = np.searchsorted(keys, np.uint64(word_hash("good")))
    assert keys[pos] == word_hash("good") and values[pos] > 0


@pytest.mark.parametrize(
    ("lang", "texts"),
    [
        # good / and-the-good (two prefixes, final letter) / not good / terrible / the table
        ("he", ["השירות טוב", "והטובים נשארו", "זה לא טוב", "שירות גרוע", "השולחן"]),
        # nice / and-the-nice (ة written ه) / not nice / bad (ئ written ي) / the table
        ("ar", ["الخدمة جميلة", "والجميلة هنا", "الخدمة مش جميلة", "الخدمة سيئة", "الطاولة"]),
    ],
)
def test_hebrew_and_arabic_lexicons_match_prefixed_normalised_and_negated_words(
    lang: str, texts: list[str]
) -> None:
    norm = normalize_batch(texts)
    X = NgramHasher(n_bits=10, polarity_lexicon=lang).fit(norm).transform(norm)
    total, no_hit = X[:, (1 << 10) + 2].toarray().ravel(), X[:, (1 << 10) + 5].toarray().ravel()
    assert total[0] > 0 and total[1] > 0
    assert total[2] < 0  # the negator marks the next word
    assert total[3] < 0
    assert no_hit[4] == 1


def test_a_listed_word_is_not_shadowed_by_a_prefixed_form_of_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # מחבל ("terrorist") is also מ + חבל ("pity"); listed after it, it keeps its own valence
    (tmp_path / "xx.json").write_text('{"terms": {"חבל": -1, "מחבל": -3}}', encoding="utf-8")
    monkeypatch.setattr(features, "POLARITY_DIR", tmp_path)
    keys, values = polarity_table("xx")
    for word, valence in (("מחבל", -3.0), ("ומחבל", -3.0), ("חבל", -1.0), ("ולחבל", -1.0)):
        pos = np.searchsorted(keys, np.uint64(word_hash(word)))
        assert values[pos] == valence, word


def test_lexicon_terms_must_stay_one_word(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "xx.json").write_text('{"terms": {"לא טוב": -2}}', encoding="utf-8")
    monkeypatch.setattr(features, "POLARITY_DIR", tmp_path)
    with pytest.raises(ValueError, match="not one word"):
        polarity_table("xx")


def test_unknown_lexicon_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown polarity lexicon"):
        polarity_table("nope")


def test_prefix_stems_are_the_hashes_of_the_stripped_words() -> None:
    # و + الحكومه; لل + بيت (also ل + لبيت); بكم keeps two letters without ب; Latin untouched
    batch = features.TextBatch(normalize_batch(["والحكومة بكم للبيت", "hello world"]))
    word, stem = features._prefix_stems(batch, ("و", "ب", "ل", "لل"))
    assert word.tolist() == [0, 2, 2]
    assert sorted(stem.tolist()[1:]) == sorted([word_hash("لبيت"), word_hash("بيت")])
    assert stem[0] == word_hash("الحكومه")


def test_words_with_different_clitics_share_their_stem_column() -> None:
    texts = normalize_batch(["والحكومه", "بالحكومه", "حكومه"])
    plain = NgramHasher(n_bits=18).fit(texts).transform(texts)
    stems = NgramHasher(n_bits=18, stem_prefixes="ar").fit(texts).transform(texts)
    added = [set(stems[i].indices) - set(plain[i].indices) for i in range(3)]
    assert len(added[0]) == 1 and added[0] == added[1]  # the stem column of الحكومه
    assert added[2] == set()  # no prefix: no stem
    assert stems[2].nnz == plain[2].nnz


def test_unknown_stem_language_is_rejected() -> None:
    with pytest.raises(ValueError, match="no stem prefixes"):
        NgramHasher(stem_prefixes="xx").fit(["a b"])


def test_without_lexicon_the_width_is_the_hash_space() -> None:
    texts = normalize_batch(["good movie", ""])
    X = NgramHasher(n_bits=8).fit(texts).transform(texts)
    assert X.shape == (2, 256)


def test_group_balanced_weights_equalise_corpora_and_classes() -> None:
    y = np.array(["negative"] * 6 + ["positive"] * 2 + ["negative", "neutral"])
    g = np.array(["big"] * 8 + ["small"] * 2)
    w = group_balanced_weights(y, g)
    assert w.mean() == pytest.approx(1.0)
    assert w[g == "big"].sum() == pytest.approx(w[g == "small"].sum())
    big_neg = w[(g == "big") & (y == "negative")].sum()
    big_pos = w[(g == "big") & (y == "positive")].sum()
    assert big_neg == pytest.approx(big_pos)
