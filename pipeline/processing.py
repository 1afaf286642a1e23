"""Ingest, shared by the live agent and the backtest: decode, validate, match brands, classify.

``Ingestor.process`` takes a batch of raw messages and returns, per brand, the scored mentions for
the detector, plus the dead letters. It does no I/O: the agent sends what it returns, the backtest
writes it to files.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from pipeline.catalog import BrandCatalog
from pipeline.core.types import ScoredMention
from pipeline.errors import ConfigError, RecordError
from pipeline.records import Mention, SourceCoordinates, decode_mention

logger = logging.getLogger(__name__)

CLASSIFIED_SCHEMA = "emberwatch.classified/v1"
MAX_CLASSIFIED_TEXT = 1000  # characters of text carried to the detector for evidence
MAX_CLASSIFIED_MESSAGE_BYTES = 512 * 1024  # well under Kafka's default 1 MB request/message size


class PredictionLike(Protocol):
    label: str
    negative: float
    lang: str
    categories: dict[str, float]


class ClassifierLike(Protocol):
    def predict(
        self, texts: Sequence[str], langs: Sequence[str | None] | None = None
    ) -> Sequence[PredictionLike]: ...

    def term_scorer(
        self, extra: Mapping[str, Sequence[str]]
    ) -> Callable[[Sequence[str]], list[dict[str, float]]]: ...


@dataclass(frozen=True, slots=True)
class RawMessage:
    value: bytes
    coords: SourceCoordinates | None = None
    arrived_at: float | None = None  # Kafka timestamp of the raw message, seconds


@dataclass(frozen=True, slots=True)
class DeadLetter:
    raw: bytes
    reason: str
    error: str
    coords: SourceCoordinates | None


@dataclass(slots=True)
class IngestResult:
    by_brand: dict[str, list[ScoredMention]] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)
    classified: int = 0  # valid mentions that named at least one brand
    unmatched: int = 0  # valid mentions that named none
    first_arrival: float | None = None
    progress: dict[int, float] = field(default_factory=dict)  # raw partition -> newest event time

    @property
    def valid(self) -> int:
        return self.classified + self.unmatched


class Ingestor:
    """Turns raw bytes into per-brand scored mentions; bad input becomes dead letters."""

    def __init__(
        self,
        catalog: BrandCatalog,
        classifier: ClassifierLike,
        *,
        max_message_bytes: int,
        max_text_chars: int,
    ) -> None:
        self.catalog = catalog
        self.classifier = classifier
        self.max_message_bytes = max_message_bytes
        self.max_text_chars = max_text_chars
        # A brand's own category terms (catalog ``lexicon``) are scored only on its mentions.
        self._brand_terms: dict[str, Callable[[Sequence[str]], list[dict[str, float]]]] = {}
        for brand in catalog.brands.values():
            if not brand.lexicon:
                continue
            try:
                self._brand_terms[brand.id] = classifier.term_scorer(brand.lexicon)
            except ValueError as exc:
                msg = f"catalog brand {brand.id!r}: lexicon: {exc}"
                raise ConfigError(msg) from exc

    def brands_for(self, mention: Mention) -> list[str]:
        if mention.brand is not None:
            if mention.brand not in self.catalog and self.catalog.strict:
                msg = f"brand {mention.brand!r} is not in the catalog"
                raise RecordError("unknown_brand", msg)
            return [mention.brand]
        return self.catalog.match(mention.text)

    def process(self, messages: Sequence[RawMessage]) -> IngestResult:
        result = IngestResult()
        matched: list[tuple[Mention, list[str]]] = []
        for message in messages:
            if message.arrived_at is not None and (
                result.first_arrival is None or message.arrived_at < result.first_arrival
            ):
                result.first_arrival = message.arrived_at
            try:
                mention = decode_mention(
                    message.value,
                    max_bytes=self.max_message_bytes,
                    max_text_chars=self.max_text_chars,
                )
                brands = self.brands_for(mention)
            except RecordError as exc:
                result.dead.append(DeadLetter(message.value, exc.reason, str(exc), message.coords))
                continue
            if message.coords is not None:
                part = message.coords.partition
                if mention.ts > result.progress.get(part, float("-inf")):
                    result.progress[part] = mention.ts
            if brands:
                matched.append((mention, brands))
            else:
                result.unmatched += 1
        if not matched:
            return result
        predictions = self.classifier.predict(
            [m.text for m, _ in matched], [m.lang for m, _ in matched]
        )
        brand_categories = self._brand_categories(matched)
        for i, ((mention, brands), prediction) in enumerate(zip(matched, predictions, strict=True)):
            result.classified += 1
            for brand in brands:
                categories = dict(prediction.categories)
                for category, score in brand_categories.get((brand, i), {}).items():
                    categories[category] = max(score, categories.get(category, 0.0))
                result.by_brand.setdefault(brand, []).append(
                    ScoredMention(
                        brand=brand,
                        source=mention.source,
                        mention_id=mention.id,
                        ts=mention.ts,
                        text=mention.text[:MAX_CLASSIFIED_TEXT],
                        label=prediction.label,
                        p_negative=round(float(prediction.negative), 4),
                        lang=prediction.lang,
                        categories={k: round(float(v), 3) for k, v in categories.items()},
                        author_id=mention.author.id,
                        followers=mention.author.followers,
                        verified=mention.author.verified,
                        likes=mention.likes,
                        shares=mention.shares,
                        replies=mention.replies,
                        url=mention.url,
                    )
                )
        return result

    def _brand_categories(
        self, matched: Sequence[tuple[Mention, list[str]]]
    ) -> dict[tuple[str, int], dict[str, float]]:
        """(brand, index in ``matched``) -> category scores from that brand's own terms."""
        out: dict[tuple[str, int], dict[str, float]] = {}
        for brand, score in self._brand_terms.items():
            rows = [i for i, (_, brands) in enumerate(matched) if brand in brands]
            if not rows:
                continue
            scores = score([matched[i][0].text for i in rows])
            for i, cats in zip(rows, scores, strict=True):
                if cats:
                    out[(brand, i)] = cats
        return out


# --- the classified-mentions wire format (internal topic, one message per brand per batch) ------


def _scored_to_wire(m: ScoredMention) -> dict[str, Any]:
    out: dict[str, Any] = {
        "i": m.mention_id,
        "s": m.source,
        "t": m.ts,
        "x": m.text,
        "l": m.label,
        "n": m.p_negative,
        "g": m.lang,
    }
    if m.categories:
        out["c"] = dict(m.categories)
    if m.author_id is not None:
        out["a"] = m.author_id
    if m.followers:
        out["f"] = m.followers
    if m.verified:
        out["v"] = True
    if m.likes:
        out["k"] = m.likes
    if m.shares:
        out["h"] = m.shares
    if m.replies:
        out["r"] = m.replies
    if m.url is not None:
        out["u"] = m.url
    return out


def encode_classified(
    brand: str, mentions: Sequence[ScoredMention], arrived_at: float | None
) -> bytes:
    """One micro-batch of a brand's scored mentions, as sent on the classified topic."""
    return orjson.dumps(
        {
            "schema": CLASSIFIED_SCHEMA,
            "brand": brand,
            "arrived_at": arrived_at,
            "mentions": [_scored_to_wire(m) for m in mentions],
        }
    )


def encode_classified_chunks(
    brand: str,
    mentions: Sequence[ScoredMention],
    arrived_at: float | None,
    max_bytes: int = MAX_CLASSIFIED_MESSAGE_BYTES,
) -> list[bytes]:
    """``encode_classified`` split into messages of at most ``max_bytes`` each (when one mention
    alone is larger, it travels alone), so a big batch never exceeds the producer's request size."""
    encoded = encode_classified(brand, mentions, arrived_at)
    if len(encoded) <= max_bytes or len(mentions) <= 1:
        return [encoded]
    half = len(mentions) // 2
    return encode_classified_chunks(
        brand, mentions[:half], arrived_at, max_bytes
    ) + encode_classified_chunks(brand, mentions[half:], arrived_at, max_bytes)


def decode_classified(raw: bytes) -> tuple[str, float | None, list[ScoredMention]]:
    """Inverse of ``encode_classified``; raises ``RecordError`` on anything else."""
    try:
        obj = orjson.loads(raw)
        brand = obj["brand"]
        mentions = [
            ScoredMention(
                brand=brand,
                source=d["s"],
                mention_id=d["i"],
                ts=float(d["t"]),
                text=d["x"],
                label=d["l"],
                p_negative=float(d["n"]),
                lang=d.get("g", "other"),
                categories=d.get("c", {}),
                author_id=d.get("a"),
                followers=d.get("f", 0),
                verified=d.get("v", False),
                likes=d.get("k", 0),
                shares=d.get("h", 0),
                replies=d.get("r", 0),
                url=d.get("u"),
            )
            for d in obj["mentions"]
        ]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        msg = f"not a classified micro-batch: {exc}"
        raise RecordError("invalid_json", msg) from exc
    return brand, obj.get("arrived_at"), mentions


_STALE_FACTOR = 10


class IdlePartitions:
    """Which raw partitions have gone quiet while others kept delivering.

    A quiet partition must not hold the event-time watermark back for ever (Flink's idle-source
    rule). A partition is idle when two things hold:

    - it has been silent for ``idle_seconds`` (wall clock) while input was flowing: silence is
      measured from its own last input or, if it has had none, from the worker's first input on
      any partition (measured from the worker's start, every partition whose backlog is not
      fetched yet would count as idle on the first batch after a slow start);
    - it is caught up: the next offset the agent will take has reached the partition's end
      offset. A partition with a backlog not taken yet (a loaded worker busy with another
      partition's backlog, fetched or not) is lagging, not idle: declaring it idle would move
      the watermark past its events, and they would arrive late.
    """

    def __init__(self, idle_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._first_input: float | None = None
        self._last_seen: dict[int, float] = {}
        self._next_offset: dict[int, int] = {}

    def seen(self, partitions: Iterable[int]) -> None:
        """Input arrived on these partitions now."""
        now = self._clock()
        for part in partitions:
            if self._first_input is None:
                self._first_input = now
            self._last_seen[part] = now

    def taken(self, offsets: Mapping[int, int]) -> None:
        """The agent took messages up to these offsets (inclusive), by partition, now."""
        self.seen(offsets)
        for part, offset in offsets.items():
            self._next_offset[part] = max(self._next_offset.get(part, 0), offset + 1)

    def keep(self, assigned: Iterable[int]) -> None:
        """Forget the offsets of partitions no longer assigned (they may come back elsewhere)."""
        keep = set(assigned)
        for part in set(self._next_offset) - keep:
            del self._next_offset[part]

    def lag(
        self, positions: Mapping[int, int | None], end_offsets: Mapping[int, int | None]
    ) -> dict[int, int | None]:
        """Messages per partition not taken yet: the end offset minus the next offset to take
        (the fetch position while nothing was taken); None where an offset is unknown."""
        lag: dict[int, int | None] = {}
        for part in sorted(set(positions) | set(end_offsets)):
            end = end_offsets.get(part)
            nxt = self._next_offset.get(part, positions.get(part))
            lag[part] = None if end is None or nxt is None else max(0, end - nxt)
        return lag

    def silent(self, assigned: Iterable[int]) -> list[int]:
        """The assigned partitions silent for ``idle_seconds`` while input has been flowing."""
        if self._first_input is None:
            return []
        now = self._clock()
        return sorted(
            part
            for part in set(assigned)
            if now - self._last_seen.get(part, self._first_input) >= self.idle_seconds
        )

    def idle(
        self,
        silent: Iterable[int],
        positions: Mapping[int, int | None],
        end_offsets: Mapping[int, int | None],
        starts: Mapping[int, int | None] | None = None,
    ) -> list[int]:
        """Those of the ``silent`` partitions that are also caught up: the next offset the agent
        will take has reached the end offset. For a partition nothing was taken from yet, that
        is its start (``starts``: the committed offset, else the earliest). The fetch position
        is not enough: fetched messages can wait in the consumer's buffer while the agent works
        on another partition. An unknown offset counts as lagging. A partition whose fetch
        position reached the end, silent for ``_STALE_FACTOR`` idle times, is caught up
        whatever the offsets say (transaction markers leave the end past the last message)."""
        now = self._clock()
        starts = starts or {}
        idle = []
        for part in sorted(set(silent)):
            end = end_offsets.get(part)
            nxt = self._next_offset.get(part, starts.get(part))
            position = positions.get(part)
            if end is None:
                continue
            if nxt is not None and nxt >= end:
                idle.append(part)
                continue
            since = self._last_seen.get(part, self._first_input)
            stale = since is not None and now - since >= _STALE_FACTOR * self.idle_seconds
            if position is not None and position >= end and stale:
                idle.append(part)
        return idle
