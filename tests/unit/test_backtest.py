"""The offline backtest's summary: what the scorecard needs from it."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from fakes import KeywordClassifier

from pipeline import backtest
from pipeline.catalog import BrandCatalog
from pipeline.samples import CATALOG
from pipeline.settings import Settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def mention(n: int, minutes: int, text: str) -> bytes:
    created = datetime.fromtimestamp(T0.timestamp() + 60 * minutes, tz=UTC)
    row = {"id": str(n), "source": "x", "created_at": created.isoformat(), "text": text}
    return orjson.dumps(row)


def test_summary_records_each_brands_first_and_last_mention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backtest, "_BATCH", 2)  # the spans must merge across batches
    lines = [
        mention(1, 30, "Nimbus Air lost my bag"),
        mention(2, -10, "Koral Bank app is fine"),
        mention(3, 5, "no brand here"),
        mention(4, -45, "Flying Nimbus Air today"),
        mention(5, 90, "Koral Bank and Nimbus Air both"),
        mention(6, 0, "Koral Bank branch"),
    ]
    stream = tmp_path / "m.jsonl"
    stream.write_bytes(b"\n".join(lines) + b"\n")
    summary = backtest.run_backtest(
        stream, Settings(), BrandCatalog.load(CATALOG), KeywordClassifier(), io.BytesIO()
    )
    t0 = T0.timestamp()
    assert summary.brand_spans == {
        "nimbus-air": (t0 - 45 * 60, t0 + 90 * 60),
        "koral-bank": (t0 - 10 * 60, t0 + 90 * 60),
    }
    assert summary.unmatched == 1
