from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest

from pipeline.errors import RecordError
from pipeline.records import SourceCoordinates, dead_letter, decode_mention, parse_timestamp

LIMITS = {"max_bytes": 10_000, "max_text_chars": 100}


def raw(**fields: object) -> bytes:
    base: dict[str, object] = {
        "id": "1",
        "source": "Twitter",
        "created_at": "2026-03-01T10:00:00Z",
        "text": " Hello ",
    }
    base.update(fields)
    return orjson.dumps({k: v for k, v in base.items() if v is not None})


def reason_of(data: bytes) -> str:
    with pytest.raises(RecordError) as info:
        decode_mention(data, **LIMITS)
    return info.value.reason


def test_valid_mention_is_normalised_and_keeps_unknown_fields() -> None:
    mention = decode_mention(
        raw(
            extra_field={"a": 1},
            author={"id": 7, "followers": 10, "verified": True},
            metrics={"likes": 3},
        ),
        **LIMITS,
    )
    assert mention.source == "twitter"
    assert mention.text == "Hello"
    assert mention.created_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert mention.author.id == "7" and mention.author.followers == 10 and mention.author.verified
    assert mention.likes == 3 and mention.shares == 0
    assert mention.extra == {"extra_field": {"a": 1}}


def test_offsets_are_converted_to_utc() -> None:
    assert parse_timestamp("2026-03-01T12:00:00+02:00") == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert parse_timestamp("2026-03-01T10:00:00.250z").microsecond == 250_000


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xfe not utf-8", "invalid_utf8"),
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (raw(text=None), "missing_field"),
        (raw(id=""), "missing_field"),
        (raw(text=5), "wrong_type"),
        (raw(author={"followers": -1}), "wrong_type"),
        (raw(author={"verified": "yes"}), "wrong_type"),
        (raw(metrics={"likes": True}), "wrong_type"),
        (raw(metrics=[1]), "wrong_type"),
        (raw(created_at="2026-03-01T10:00:00"), "bad_timestamp"),
        (raw(created_at="yesterday"), "bad_timestamp"),
        (raw(created_at="2026-13-01T10:00:00Z"), "bad_timestamp"),
        (raw(created_at="1066-10-14T10:00:00Z"), "bad_timestamp"),
        (raw(text="x" * 101), "text_too_long"),
        (b" " * 10_001, "message_too_large"),
    ],
)
def test_bad_input_has_a_reason(data: bytes, reason: str) -> None:
    assert reason_of(data) == reason


def test_dead_letter_keeps_the_original_bytes_and_coordinates() -> None:
    original = b"\xff\x00 broken"
    record = orjson.loads(
        dead_letter(original, "invalid_utf8", "boom", SourceCoordinates("raw", 2, 41), 0.0)
    )
    assert base64.b64decode(record["original_b64"]) == original
    assert record["original_text"] is None
    assert record["source"] == {"topic": "raw", "partition": 2, "offset": 41}
    assert record["reason"] == "invalid_utf8"
