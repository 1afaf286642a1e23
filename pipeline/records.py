"""The canonical mention record: decoding, validation and normalisation of raw bytes.

``decode_mention`` is the single gate every input passes: anything it rejects raises ``RecordError``
with a bounded ``reason`` and goes to the dead-letter topic with its original bytes.
"""

from __future__ import annotations

import base64
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from pipeline.errors import RecordError

MENTION_SCHEMA_ID: Final = "emberwatch.mention/v1"

# Bounded set of dead-letter reasons; metrics are created for each of them up front.
DEAD_LETTER_REASONS: Final = (
    "message_too_large",
    "invalid_utf8",
    "invalid_json",
    "not_an_object",
    "missing_field",
    "wrong_type",
    "bad_timestamp",
    "text_too_long",
    "unknown_brand",
    "internal_error",
)

_REQUIRED: Final = ("id", "source", "created_at", "text")
_KNOWN: Final = frozenset(
    ("id", "source", "created_at", "text", "brand", "lang", "url", "author", "metrics")
)
_MIN_YEAR: Final = 1990
_MAX_YEAR: Final = 2200


@dataclass(frozen=True, slots=True)
class Author:
    id: str | None = None
    name: str | None = None
    followers: int = 0
    verified: bool = False


@dataclass(frozen=True, slots=True)
class Mention:
    """A validated, normalised mention. ``ts`` is ``created_at`` as UTC epoch seconds."""

    id: str
    source: str
    created_at: datetime
    text: str
    brand: str | None = None
    lang: str | None = None
    url: str | None = None
    author: Author = field(default_factory=Author)
    likes: int = 0
    shares: int = 0
    replies: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ts(self) -> float:
        return self.created_at.timestamp()


def _field_str(obj: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            msg = f"required field {name!r} is missing"
            raise RecordError("missing_field", msg)
        return None
    if not isinstance(value, str):
        msg = f"field {name!r} must be a string, got {type(value).__name__}"
        raise RecordError("wrong_type", msg)
    return value


def _field_int(obj: dict[str, Any], name: str, where: str) -> int:
    value = obj.get(name)
    if value is None:
        return 0
    # bool is an int subclass; a boolean count is a producer bug, not a number.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"field {where}.{name} must be a non-negative integer, got {value!r}"
        raise RecordError("wrong_type", msg)
    return value


def parse_timestamp(value: str) -> datetime:
    """Parse an RFC 3339 timestamp with an offset or ``Z``; naive times are rejected."""
    text = value.strip()
    if len(text) < 20 or text[10] not in "Tt ":  # shortest full RFC 3339 form
        msg = f"created_at {value!r} is not an RFC 3339 timestamp"
        raise RecordError("bad_timestamp", msg)
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text)
    except ValueError as exc:
        msg = f"created_at {value!r} is not an RFC 3339 timestamp: {exc}"
        raise RecordError("bad_timestamp", msg) from exc
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        msg = f"created_at {value!r} has no UTC offset"
        raise RecordError("bad_timestamp", msg)
    if not _MIN_YEAR <= parsed.year <= _MAX_YEAR:
        msg = f"created_at {value!r} is outside {_MIN_YEAR}-{_MAX_YEAR}"
        raise RecordError("bad_timestamp", msg)
    return parsed.astimezone(UTC)


def decode_mention(raw: bytes, *, max_bytes: int, max_text_chars: int) -> Mention:
    """Decode one raw message into a ``Mention`` or raise ``RecordError``."""
    if len(raw) > max_bytes:
        msg = f"message is {len(raw)} bytes, the limit is {max_bytes}"
        raise RecordError("message_too_large", msg)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"message is not valid UTF-8: {exc}"
        raise RecordError("invalid_utf8", msg) from exc
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        msg = f"message is not valid JSON: {exc}"
        raise RecordError("invalid_json", msg) from exc
    if not isinstance(obj, dict):
        msg = f"message must be a JSON object, got {type(obj).__name__}"
        raise RecordError("not_an_object", msg)
    return mention_from_dict(obj, max_text_chars=max_text_chars)


def mention_from_dict(obj: dict[str, Any], *, max_text_chars: int) -> Mention:
    for name in _REQUIRED:
        _field_str(obj, name, required=True)
    mention_id = str(obj["id"]).strip()
    source = str(obj["source"]).strip().lower()
    if not mention_id or not source:
        msg = "fields 'id' and 'source' must not be empty"
        raise RecordError("missing_field", msg)
    text = unicodedata.normalize("NFC", obj["text"]).strip()
    if len(text) > max_text_chars:
        msg = f"text has {len(text)} characters, the limit is {max_text_chars}"
        raise RecordError("text_too_long", msg)
    created_at = parse_timestamp(obj["created_at"])
    brand = _field_str(obj, "brand", required=False)
    lang = _field_str(obj, "lang", required=False)
    url = _field_str(obj, "url", required=False)

    author = Author()
    raw_author = obj.get("author")
    if raw_author is not None:
        if not isinstance(raw_author, dict):
            msg = "field 'author' must be an object"
            raise RecordError("wrong_type", msg)
        verified = raw_author.get("verified", False)
        if not isinstance(verified, bool):
            msg = "field author.verified must be a boolean"
            raise RecordError("wrong_type", msg)
        author_id = raw_author.get("id")
        if author_id is not None and not isinstance(author_id, str | int):
            msg = "field author.id must be a string"
            raise RecordError("wrong_type", msg)
        author = Author(
            id=None if author_id is None else str(author_id),
            name=_field_str(raw_author, "name", required=False),
            followers=_field_int(raw_author, "followers", "author"),
            verified=verified,
        )
    raw_metrics = obj.get("metrics")
    if raw_metrics is not None and not isinstance(raw_metrics, dict):
        msg = "field 'metrics' must be an object"
        raise RecordError("wrong_type", msg)
    metrics = raw_metrics or {}
    return Mention(
        id=mention_id,
        source=source,
        created_at=created_at,
        text=text,
        brand=brand.strip() if brand else None,
        lang=lang.strip().lower()[:8] if lang else None,
        url=url,
        author=author,
        likes=_field_int(metrics, "likes", "metrics"),
        shares=_field_int(metrics, "shares", "metrics"),
        replies=_field_int(metrics, "replies", "metrics"),
        extra={k: v for k, v in obj.items() if k not in _KNOWN},
    )


def format_time(ts: float) -> str:
    """Epoch seconds to RFC 3339 UTC with ``Z`` (second precision unless fractional)."""
    moment = datetime.fromtimestamp(ts, tz=UTC)
    if moment.microsecond:
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class SourceCoordinates:
    topic: str
    partition: int
    offset: int


def dead_letter(
    raw: bytes, reason: str, message: str, coords: SourceCoordinates | None, now: float
) -> bytes:
    """The dead-letter record: the original bytes (base64, plus text when it is UTF-8) and why."""
    try:
        as_text: str | None = raw.decode("utf-8")
    except UnicodeDecodeError:
        as_text = None
    record: dict[str, Any] = {
        "schema": "emberwatch.dead_letter/v1",
        "reason": reason,
        "error": message[:2000],
        "original_b64": base64.b64encode(raw).decode("ascii"),
        "original_text": as_text if as_text is not None and len(as_text) <= 100_000 else None,
        "source": None
        if coords is None
        else {"topic": coords.topic, "partition": coords.partition, "offset": coords.offset},
        "dead_lettered_at": format_time(now),
    }
    return orjson.dumps(record)
