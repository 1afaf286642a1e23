"""The published JSON Schemas describe what the project really produces and accepts."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import orjson
import pytest
from fakes import KeywordClassifier

from pipeline.backtest import run_backtest
from pipeline.catalog import BrandCatalog
from pipeline.samples import CATALOG, demo_mentions
from pipeline.settings import Settings

SCHEMAS = Path(__file__).resolve().parents[2] / "pipeline" / "schemas"


def schema(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(loaded)
    return loaded


def test_sample_mentions_match_the_mention_schema() -> None:
    validator = jsonschema.Draft202012Validator(schema("mention.schema.json"))
    for row in list(demo_mentions())[:500]:
        validator.validate(row)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"id": "1", "source": "x", "text": "no time"})


def test_backtest_alerts_match_the_alert_schema(tmp_path: Path) -> None:
    stream = tmp_path / "m.jsonl"
    stream.write_bytes(b"\n".join(orjson.dumps(r) for r in demo_mentions()) + b"\n")
    out = io.BytesIO()
    run_backtest(stream, Settings(), BrandCatalog.load(CATALOG), KeywordClassifier(), out)
    records = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert records
    validator = jsonschema.Draft202012Validator(schema("alert.schema.json"))
    for record in records:
        validator.validate(record)
