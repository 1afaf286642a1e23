from __future__ import annotations

import orjson
import pytest
from fakes import KeywordClassifier

from pipeline.catalog import BrandCatalog
from pipeline.errors import ConfigError
from pipeline.processing import (
    IdlePartitions,
    Ingestor,
    RawMessage,
    decode_classified,
    encode_classified,
    encode_classified_chunks,
)
from pipeline.records import SourceCoordinates

CATALOG = BrandCatalog.from_mapping(
    {"brands": [{"id": "acme", "name": "Acme"}, {"id": "zeta", "name": "Zeta"}]}
)


def line(i: int, text: str, **extra: object) -> bytes:
    return orjson.dumps(
        {
            "id": str(i),
            "source": "t",
            "created_at": f"2026-01-01T00:00:{i:02d}Z",
            "text": text,
            **extra,
        }
    )


def make(strict: bool = False) -> Ingestor:
    catalog = BrandCatalog(CATALOG.brands.values(), strict=strict)
    return Ingestor(catalog, KeywordClassifier(), max_message_bytes=10_000, max_text_chars=500)


def test_every_message_is_accounted_for() -> None:
    messages = [
        RawMessage(line(1, "Acme is bad"), SourceCoordinates("raw", 0, 1)),
        RawMessage(line(2, "Acme and Zeta"), SourceCoordinates("raw", 1, 5)),
        RawMessage(line(3, "nobody"), SourceCoordinates("raw", 1, 6)),
        RawMessage(b"garbage", SourceCoordinates("raw", 0, 2)),
        RawMessage(line(4, "explicit", brand="ghost"), SourceCoordinates("raw", 0, 3)),
    ]
    result = make().process(messages)
    assert result.classified == 3 and result.unmatched == 1 and len(result.dead) == 1
    assert result.classified + result.unmatched + len(result.dead) == len(messages)
    assert sorted(result.by_brand) == ["acme", "ghost", "zeta"]
    assert [m.mention_id for m in result.by_brand["acme"]] == ["1", "2"]
    assert result.by_brand["acme"][0].label == "negative"
    assert result.dead[0].reason == "invalid_json"
    assert result.dead[0].coords == SourceCoordinates("raw", 0, 2)
    assert result.progress == {0: 1767225604.0, 1: 1767225603.0}


def test_strict_catalog_dead_letters_unknown_brands() -> None:
    result = make(strict=True).process([RawMessage(line(1, "x", brand="ghost"))])
    assert [d.reason for d in result.dead] == ["unknown_brand"]


def test_classified_wire_round_trip() -> None:
    result = make().process(
        [RawMessage(line(1, "Acme is bad", url="http://x", author={"id": "a", "followers": 5}))]
    )
    mentions = result.by_brand["acme"]
    brand, arrived, decoded = decode_classified(encode_classified("acme", mentions, 12.5))
    assert (brand, arrived) == ("acme", 12.5)
    assert decoded == mentions


def test_large_micro_batches_are_split_under_the_size_limit() -> None:
    messages = [RawMessage(line(i, "Acme is bad " + "x" * 400)) for i in range(60)]
    mentions = make().process(messages).by_brand["acme"]
    chunks = encode_classified_chunks("acme", mentions, 1.0, max_bytes=5_000)
    assert len(chunks) > 1 and all(len(c) <= 5_000 for c in chunks)
    decoded = [m for c in chunks for m in decode_classified(c)[2]]
    assert decoded == mentions


def test_brand_lexicon_adds_categories_for_that_brand_only() -> None:
    catalog = BrandCatalog.from_mapping(
        {
            "brands": [
                {"id": "acme", "name": "Acme", "lexicon": {"service_outage": ["app down"]}},
                {"id": "zeta", "name": "Zeta"},
            ]
        }
    )
    ingestor = Ingestor(catalog, KeywordClassifier(), max_message_bytes=10_000, max_text_chars=500)
    result = ingestor.process(
        [
            RawMessage(line(1, "Acme and Zeta: app down again")),
            RawMessage(line(2, "Acme breach, app down")),
            RawMessage(line(3, "Acme is fine")),
        ]
    )
    acme = {m.mention_id: m.categories for m in result.by_brand["acme"]}
    zeta = {m.mention_id: m.categories for m in result.by_brand["zeta"]}
    assert acme == {
        "1": {"service_outage": 0.75},
        "2": {"data_breach": 0.8, "service_outage": 0.75},  # the model's categories are kept
        "3": {},
    }
    assert zeta == {"1": {}}  # the same mention, seen for a brand without those terms


def test_brand_lexicon_with_unknown_category_is_a_config_error() -> None:
    catalog = BrandCatalog.from_mapping(
        {"brands": [{"id": "acme", "name": "Acme", "lexicon": {"weather": ["rain"]}}]}
    )
    with pytest.raises(ConfigError, match=r"acme.*weather"):
        Ingestor(catalog, KeywordClassifier(), max_message_bytes=10_000, max_text_chars=500)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_no_partition_is_idle_before_any_input_however_long_the_start_took() -> None:
    clock = FakeClock()
    quiet = IdlePartitions(30.0, clock)
    clock.now += 600
    assert quiet.silent([0, 1, 2, 3]) == []
    # the first batch comes from partition 0 only: the others' backlog is not idle yet
    quiet.seen([0])
    assert quiet.silent([0, 1, 2, 3]) == []
    clock.now += 29
    assert quiet.silent([0, 1, 2, 3]) == []


def test_a_partition_silent_while_others_deliver_becomes_idle_and_wakes_up_with_input() -> None:
    clock = FakeClock()
    quiet = IdlePartitions(30.0, clock)
    quiet.seen([0, 1])
    clock.now += 20
    quiet.seen([0])
    clock.now += 10
    assert quiet.silent([0, 1, 2]) == [1, 2]  # 1 since its last input, 2 since the first input
    quiet.seen([2, 2])
    assert quiet.silent([0, 1, 2]) == [1]
    assert quiet.silent([0, 2]) == []  # only assigned partitions are reported


def test_a_silent_partition_with_a_backlog_left_to_take_is_lagging_not_idle() -> None:
    clock = FakeClock()
    quiet = IdlePartitions(30.0, clock)
    quiet.seen([0, 1, 2, 3, 4])
    quiet.taken({0: 499, 1: 119, 4: 49})
    clock.now += 60
    silent = quiet.silent([0, 1, 2, 3, 4])
    assert silent == [0, 1, 2, 3, 4]
    positions = {0: 500, 1: 400, 2: 0, 3: 10, 4: 80}
    end_offsets = {0: 500, 1: 400, 2: 0, 3: 10, 4: 80}
    starts = {2: 0, 3: 10}
    # 0: all taken; 1: fetched up to the end but 280 still wait in the buffer; 2: empty;
    # 3: nothing taken, nothing new since the committed offset; 4: 30 fetched, not taken
    assert quiet.idle(silent, positions, end_offsets, starts) == [0, 2, 3]
    assert quiet.idle(silent, positions, end_offsets) == [0]  # starts unknown: lagging
    assert quiet.idle(silent, positions, {}, starts) == []
    # a backlog not even fetched is lagging too
    assert quiet.idle([3], {3: 4}, {3: 10}, {3: 4}) == []


def test_fetched_to_the_end_and_silent_for_long_is_caught_up_whatever_the_offsets() -> None:
    """Transaction markers leave the end offset past the last message: the next offset to take
    never reaches it. Fetched to the end and silent for ten idle times is caught up."""
    clock = FakeClock()
    quiet = IdlePartitions(30.0, clock)
    quiet.seen([0])
    quiet.taken({0: 98})  # 99 is a commit marker
    clock.now += 60
    assert quiet.idle([0], {0: 100}, {0: 100}) == []
    clock.now += 240
    assert quiet.idle([0], {0: 100}, {0: 100}) == [0]
    assert quiet.idle([0], {0: 99}, {0: 100}) == []  # not fetched to the end


def test_lag_counts_from_the_next_offset_to_take_and_forgets_revoked_partitions() -> None:
    quiet = IdlePartitions(30.0, FakeClock())
    quiet.taken({0: 99, 1: 9})
    quiet.taken({0: 49})  # an older batch (a redelivery) does not move the offset back
    positions = {0: 150, 1: 10, 2: 7}
    ends = {0: 160, 1: 10, 2: 12}
    # 0: taken up to 99, 60 to go (50 of them fetched); 1: caught up; 2: nothing taken yet
    assert quiet.lag(positions, ends) == {0: 60, 1: 0, 2: 5}
    assert quiet.lag({3: None}, {3: 4}) == {3: None}
    quiet.keep([1, 2])
    assert quiet.lag(positions, ends)[0] == 10  # revoked: back to the fetch position


def test_raw_partition_gauges_follow_the_assignment() -> None:
    from pipeline.metrics import Metrics

    metrics = Metrics()
    metrics.set_raw_partitions({0: 12, 1: 0, 2: None}, [1], [0, 1, 2])
    text = metrics.exposition().decode()
    assert 'emberwatch_raw_lag_messages{partition="0"} 12.0' in text
    assert 'emberwatch_raw_partition_idle{partition="1"} 1.0' in text
    assert 'emberwatch_raw_partition_idle{partition="0"} 0.0' in text
    assert 'emberwatch_raw_lag_messages{partition="2"}' not in text  # unknown, not 0
    metrics.set_raw_partitions({1: 3}, [], [1])  # 0 and 2 went to another worker
    text = metrics.exposition().decode()
    assert 'partition="0"' not in text and 'partition="2"' not in text
    assert 'emberwatch_raw_lag_messages{partition="1"} 3.0' in text
