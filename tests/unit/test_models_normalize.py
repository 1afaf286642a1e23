"""Normalisation and language detection of social-media text."""

from __future__ import annotations

import pytest

from models import detect_language
from models.normalize import detect_languages, normalize, normalize_batch


def test_urls_handles_and_hashtags_become_tokens() -> None:
    out = normalize("@United see https://t.co/abc and www.example.com #EpicFailToday")
    assert "xuser" in out
    assert out.count("xurl") == 2
    assert "# epic fail today" in out
    assert "united" not in out and "t.co" not in out


def test_repeated_letters_are_cut_and_flagged() -> None:
    out = normalize("soooo goooood")
    assert " soo " in out and " good " in out
    assert out.count("xelong") == 2


def test_emoticons_and_emoji_are_signals() -> None:
    assert "xpos" in normalize("great :)")
    assert "xneg" in normalize("great :(")
    pos = normalize("love it 😍")
    assert "xpos" in pos and "😍" in pos
    assert "xneg" in normalize("again 😡")


def test_negation_marks_the_next_word() -> None:
    assert "not_bad" in normalize("not bad at all")
    assert "not_good" in normalize("it isn't good")
    assert "not_אוהב" in normalize("אני לא אוהב")


def test_hebrew_final_letters_and_niqqud_are_folded() -> None:
    assert normalize("שָׁלוֹם").strip() == "שלומ"
    assert normalize("שלום") == normalize("שלומ")


def test_arabic_variants_and_diacritics_are_folded() -> None:
    assert normalize("أَحْمَد") == normalize("احمد")
    assert normalize("مدرسة") == normalize("مدرسه")
    assert normalize("مستشفى") == normalize("مستشفي")
    assert normalize("جـــميل") == normalize("جميل")


def test_batch_equals_single_and_keeps_order() -> None:
    texts = ["first\nline", "", "second :)", "שלום", "مرحبا", "carriage\r\nreturn"]
    assert normalize_batch(texts) == [normalize(t) for t in texts]
    assert normalize_batch(texts[1:4]) == [normalize(t) for t in texts[1:4]]  # no line breaks
    assert normalize("first\nline") == normalize("first line")
    assert normalize("carriage\r\nreturn") == normalize("carriage  return")
    assert len(normalize_batch(texts)) == len(texts)
    assert normalize_batch([]) == []


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("My flight got cancelled again, thanks for nothing", "en"),
        ("ok", "en"),
        ("@delta lol", "en"),
        ("השירות של החברה הזאת פשוט מחפיר", "he"),
        ("שירות גרוע של @Partner_IL https://t.co/x", "he"),
        ("קניתי iPhone חדש והוא מעולה", "he"),
        ("خدمة العملاء سيئة جدا", "ar"),
        ("أحب هذا المنتج 😍", "ar"),
        ("الـ iPhone الجديد رائع", "ar"),
        ("😂😂😂", "other"),
        ("", "other"),
        ("   ", "other"),
        ("12345 !!!", "other"),
        ("https://t.co/abc @someone", "other"),
        ("el servicio es muy malo y no me ayudan", "other"),
        ("Привет, как дела", "other"),
        ("این سرویس خیلی بد است و پشتیبانی جواب نمی‌دهد", "other"),
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_detect_languages_batch_matches_single() -> None:
    texts = ["hello there", "שלום לכולם", "مرحبا بكم", "", "🙂"]
    assert detect_languages(texts) == [detect_language(t) for t in texts]


def test_mixed_batch_normalises_each_text_as_alone() -> None:
    # Hebrew/Arabic folding runs only on lines that need it; emoji use one ranged pattern
    texts = [
        "it’s \u200fgreat ❤️ 👎",
        "שָׁלוֹם לא טוב",
        "مُمْتاز جداً",
        "  tabs\tand   spaces ",
        "'not bad' said he",
        "",
    ]
    assert normalize_batch(texts) == [normalize(t) for t in texts]
    first = normalize(texts[0])
    assert "it's" in first and "\u200f" not in first and "\ufe0f" not in first
    assert "❤ xpos" in first and "👎 xneg" in first
    assert "not_bad" in normalize(texts[4])
    assert normalize(texts[3]) == " tabs and spaces "
