"""`python -m models classify` end to end on a file, as a user runs it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from models.cli import run_classify

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def _write_input(path: Path) -> None:
    lines = [
        json.dumps({"id": "1", "text": "@united lost my luggage and nobody answers the phone"}),
        json.dumps({"id": 2, "text": "השירות מעולה, תודה רבה!", "lang": "he"}),
        "this is not json",
        json.dumps({"id": "4", "text": "نصابين وحرامية"}),
        json.dumps({"text": "no id here"}),
        "",
        json.dumps({"id": "6", "text": "😂"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_classify_file_end_to_end(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_input(src)
    proc = subprocess.run(
        [sys.executable, "-m", "models", "classify", "--input", str(src), "--output", str(dst)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "line 3" in proc.stderr and "line 5" in proc.stderr
    rows = [json.loads(line) for line in dst.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["1", 2, "4", "6"]
    for r in rows:
        assert set(r) == {"id", "label", "negative", "lang", "categories"}
        assert 0.0 <= r["negative"] <= 1.0
    assert rows[0]["label"] == "negative" and rows[0]["lang"] == "en"
    assert "customer_service" in rows[0]["categories"]
    assert rows[1]["lang"] == "he" and rows[1]["label"] == "positive"
    assert rows[2]["lang"] == "ar" and "fraud_scam" in rows[2]["categories"]
    assert rows[3]["lang"] == "other"


def test_run_classify_clean_input_exits_zero() -> None:
    out = io.StringIO()
    rc = run_classify(io.StringIO('{"id": "a", "text": "great service, thanks!"}\n'), out, None)
    assert rc == 0
    row = json.loads(out.getvalue())
    assert row["id"] == "a" and row["label"] == "positive"


def test_missing_model_exits_two(tmp_path: Path) -> None:
    rc = run_classify(io.StringIO('{"id": "a", "text": "x"}\n'), io.StringIO(), tmp_path)
    assert rc == 2
