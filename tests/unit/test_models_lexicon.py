"""Crisis-category lexicons: English, Hebrew and Arabic terms, brand extensions, scoring."""

from __future__ import annotations

import pytest

from models import CATEGORIES
from models.lexicon import CategoryMatcher, load_lexicons
from models.normalize import normalize_batch


@pytest.fixture(scope="module")
def matcher() -> CategoryMatcher:
    return CategoryMatcher(load_lexicons())


def _cats(matcher: CategoryMatcher, text: str) -> dict[str, float]:
    row = matcher.scores(normalize_batch([text]))[0]
    return {c: float(s) for c, s in zip(CATEGORIES, row, strict=True) if s >= 0.5}


def test_every_category_has_terms_in_each_language() -> None:
    import json

    from models.lexicon import LEXICON_DIR

    for lang in ("en", "he", "ar"):
        data = json.loads((LEXICON_DIR / f"{lang}.json").read_text(encoding="utf-8"))
        for cat in CATEGORIES:
            assert data.get(cat), f"{lang} lexicon has no terms for {cat}"


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Our customer data was hacked and leaked online", "data_breach"),
        ("They recalled the stroller after it caught fire", "product_safety"),
        ("App is down again, outage for 3 hours", "service_outage"),
        ("on hold for 2 hours and then they hung up", "customer_service"),
        ("I was double charged and still no refund", "billing"),
        ("The flight attendant yelled at my kid", "staff_misconduct"),
        ("Class action lawsuit filed against them", "legal_regulatory"),
        ("That ad is racist and offensive", "discrimination_offensive"),
        ("This giveaway is a scam, total fraud", "fraud_scam"),
        ("Brand under fire as backlash grows over the new ad", "public_backlash"),
        ("#BoycottAcme trending after the CEO's comments", "public_backlash"),
    ],
)
def test_english_terms(matcher: CategoryMatcher, text: str, category: str) -> None:
    assert category in _cats(matcher, text)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("המידע של הלקוחות דלף אחרי שהאתר נפרץ", "data_breach"),
        ("חויבתי פעמיים ועדיין אין החזר", "billing"),
        ("האפליקציה לא עובדת כבר שעתיים, קריסה מוחלטת", "service_outage"),
        ("שירות לקוחות מחפיר, ניתקו לי את השיחה", "customer_service"),
        ("הפרסומת הזאת גזענית ומעליבה", "discrimination_offensive"),
        ("נוכלים! זה עוקץ", "fraud_scam"),
        ("הגישו נגדם תביעה ייצוגית", "legal_regulatory"),
        ("וכשהתפוצץ המטען", "product_safety"),
        ("קוראים להחרים את החברה אחרי השערורייה", "public_backlash"),
    ],
)
def test_hebrew_terms_with_prefixes_and_final_letters(
    matcher: CategoryMatcher, text: str, category: str
) -> None:
    assert category in _cats(matcher, text)


def test_arabic_terms(matcher: CategoryMatcher) -> None:
    assert "fraud_scam" in _cats(matcher, "دي شركة نصابين وبتاعة احتيال")
    assert "customer_service" in _cats(matcher, "خدمة العملاء سيئة جدا")
    assert "public_backlash" in _cats(matcher, "حملة مقاطعة بعد الفضيحة")


def test_neutral_text_has_no_category(matcher: CategoryMatcher) -> None:
    assert _cats(matcher, "Enjoying a coffee in the sun with friends") == {}
    assert _cats(matcher, "") == {}


def test_weak_terms_need_company(matcher: CategoryMatcher) -> None:
    assert "legal_regulatory" not in _cats(matcher, "the court was sunny")
    assert "legal_regulatory" in _cats(matcher, "court fine for the company")


def test_scores_are_monotone_in_evidence(matcher: CategoryMatcher) -> None:
    texts = ["a scam", "a scam and fraud", "a scam and fraud, they cheated and lied, ponzi"]
    scores = matcher.scores(normalize_batch(texts))[:, CATEGORIES.index("fraud_scam")]
    assert 0.5 <= scores[0] < scores[1] < scores[2] <= 1.0


def test_brand_extra_terms(matcher: CategoryMatcher) -> None:
    text = "the new Zephyr update bricked my phone"
    assert "product_safety" not in _cats(matcher, text)
    extended = matcher.extended({"product_safety": ["bricked"]})
    assert "product_safety" in _cats(extended, text)
    assert "product_safety" not in _cats(matcher, text)  # original untouched


def test_unknown_category_is_rejected(matcher: CategoryMatcher) -> None:
    with pytest.raises(ValueError, match="unknown crisis categories"):
        matcher.extended({"weather": ["rain"]})
