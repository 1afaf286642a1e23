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


def _write_labelled(path: Path) -> list[dict[str, object]]:
    records: list[dict[str, object]] = [
        {
            "text": "@united lost my luggage and nobody answers the phone",
            "label": "negative",
            "categories": ["customer_service"],
        },
        {"text": "great service, thanks!", "label": "positive", "categories": []},
        {"text": "the store opens at nine on monday", "label": "neutral"},
        {"text": "השירות מעולה, תודה רבה!", "label": "positive", "lang": "he"},
        {"text": "נציג השירות היה גס רוח ולא עזר בכלום", "label": "negative", "lang": "he"},
        {"text": "نصابين وحرامية", "label": "negative", "categories": ["fraud_scam"]},
        {"text": "they charged my card twice for one order", "label": "neutral"},
    ]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    lines.insert(2, json.dumps({"text": "missing label"}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return records


def test_evaluate_labelled_file_end_to_end(tmp_path: Path) -> None:
    labelled = tmp_path / "labelled.jsonl"
    records = _write_labelled(labelled)
    proc = subprocess.run(
        [sys.executable, "-m", "models", "evaluate", "--labelled", str(labelled), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr  # one bad line, reported, the rest scored
    assert "line 3: missing or invalid 'label'" in proc.stderr
    report = json.loads(proc.stdout)

    # the same texts through `classify`: the report must score exactly those predictions
    out = io.StringIO()
    lines = [
        json.dumps({"id": i, "text": r["text"], "lang": r.get("lang")}, ensure_ascii=False)
        for i, r in enumerate(records)
    ]
    assert run_classify(io.StringIO("\n".join(lines) + "\n"), out, None) == 0
    preds = [json.loads(line) for line in out.getvalue().splitlines()]
    hits = [p["label"] == r["label"] for p, r in zip(preds, records, strict=True)]
    assert report["sentiment"]["all"]["n"] == len(records)
    assert report["sentiment"]["all"]["accuracy"] == round(sum(hits) / len(hits), 4)
    by_lang: dict[str, list[bool]] = {}
    for p, hit in zip(preds, hits, strict=True):
        by_lang.setdefault(p["lang"], []).append(hit)
    assert set(report["sentiment"]) == {"all", *by_lang}
    for lang, lang_hits in by_lang.items():
        assert report["sentiment"][lang]["n"] == len(lang_hits)
        assert report["sentiment"][lang]["accuracy"] == round(sum(lang_hits) / len(lang_hits), 4)
    assert sum(map(sum, report["confusion"])) == len(records)
    assert [report["confusion"][i][i] for i in range(3)] == [
        sum(1 for p, r in zip(preds, records, strict=True) if r["label"] == lab == p["label"])
        for lab in report["labels"]
    ]
    annotated = [(p, r) for p, r in zip(preds, records, strict=True) if "categories" in r]
    for cat in ("customer_service", "fraud_scam"):
        row = report["categories"][cat]
        assert row["support"] == 1
        assert row["predicted"] == sum(1 for p, _ in annotated if cat in p["categories"])


def test_evaluate_labelled_prints_tables(cli, tmp_path: Path) -> None:
    labelled = tmp_path / "labelled.jsonl"
    _write_labelled(labelled)
    result = cli("evaluate", "--labelled", str(labelled))
    assert result.returncode == 1, result.stderr
    assert "1 bad line(s) skipped" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["data", "set"]
    assert lines[2].split()[:2] == ["all", "7"]
    assert any(line.startswith("true / predicted") for line in lines)
    assert any(line.split()[:2] == ["customer_service", "1"] for line in lines)


def test_evaluate_labelled_with_no_usable_line_exits_two(cli, tmp_path: Path) -> None:
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text('{"text": "no label"}\n', encoding="utf-8")
    result = cli("evaluate", "--labelled", str(labelled))
    assert result.returncode == 2
    assert "no usable labelled lines" in result.stderr
    result = cli("evaluate", "--labelled", str(tmp_path / "missing.jsonl"))
    assert result.returncode == 2
    assert "missing.jsonl" in result.stderr


def test_evaluate_labelled_with_a_brands_catalog_terms(cli, tmp_path: Path) -> None:
    labelled = tmp_path / "labelled.jsonl"
    rows = [
        {"text": "my zorblax charger melted overnight", "label": "negative"},
        {"text": "the zorblax app opens fine", "label": "neutral"},
    ]
    labelled.write_text(
        "\n".join(json.dumps({**r, "categories": []}) for r in rows[1:])
        + "\n"
        + json.dumps({**rows[0], "categories": ["product_safety"]})
        + "\n",
        encoding="utf-8",
    )
    catalog = tmp_path / "brands.yaml"
    catalog.write_text(
        "brands:\n  - id: zorblax\n    name: Zorblax\n    lexicon: {product_safety: ['melted']}\n",
        encoding="utf-8",
    )
    plain = cli("evaluate", "--labelled", str(labelled), "--json")
    branded = cli(
        "evaluate",
        "--labelled",
        str(labelled),
        "--json",
        "--brands",
        str(catalog),
        "--brand",
        "zorblax",
    )
    assert plain.returncode == 0 and branded.returncode == 0, plain.stderr + branded.stderr
    before = json.loads(plain.stdout)["categories"]
    after = json.loads(branded.stdout)["categories"]
    assert before["product_safety"]["predicted"] == 0
    assert after["product_safety"] == {
        "support": 1,
        "predicted": 1,
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
    }
    unknown = cli("evaluate", "--labelled", str(labelled), "--brands", str(catalog), "--brand", "x")
    assert unknown.returncode == 2 and "'x' is not in" in unknown.stderr
