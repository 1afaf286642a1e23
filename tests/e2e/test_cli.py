"""The emberwatch command line as a user runs it: real processes, real files, a real broker."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from pipeline.samples import CATALOG, CRISIS_BRAND, CRISIS_ONSET, write_demo_stream

pytestmark = pytest.mark.e2e


def plain_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBERWATCH_")}
    env.update(extra)
    return env


def test_backtest_is_deterministic_and_finds_the_sample_crisis(cli, tmp_path: Path) -> None:
    stream = tmp_path / "mentions.jsonl"
    write_demo_stream(stream)
    with stream.open("ab") as handle:
        handle.write(b"not json at all\n")
    outputs = []
    for run in range(2):
        alerts = tmp_path / f"alerts-{run}.jsonl"
        dead = tmp_path / f"dead-{run}.jsonl"
        result = cli(
            "backtest",
            str(stream),
            "--brands",
            str(CATALOG),
            "--alerts-out",
            str(alerts),
            "--dead-letters-out",
            str(dead),
            env=plain_env(),
        )
        assert result.returncode == 0, result.stderr
        assert "1 dead-lettered" in result.stdout
        outputs.append(alerts.read_bytes())
        assert orjson.loads(dead.read_bytes())["reason"] == "invalid_json"
    assert outputs[0] == outputs[1]
    records = [orjson.loads(line) for line in outputs[0].splitlines()]
    opened = [r for r in records if r["status"] == "opened"]
    assert opened and all(r["brand"] == CRISIS_BRAND for r in opened)
    assert any(r["severity"] in ("warning", "critical") for r in records)
    assert len({r["alert_id"] for r in records}) == len(opened)


def test_backtest_reports_a_bad_catalog(cli, tmp_path: Path) -> None:
    stream = tmp_path / "m.jsonl"
    stream.write_text("", encoding="utf-8")
    result = cli(
        "backtest",
        str(stream),
        "--brands",
        str(tmp_path / "missing.yaml"),
        "--alerts-out",
        str(tmp_path / "a.jsonl"),
        env=plain_env(),
    )
    assert result.returncode == 2
    assert "cannot read brand catalog" in result.stderr


def test_backtest_scores_known_incidents(cli, tmp_path: Path) -> None:
    stream = tmp_path / "mentions.jsonl"
    write_demo_stream(stream)
    incidents = tmp_path / "incidents.csv"
    peak = CRISIS_ONSET + timedelta(minutes=90)  # the sample crisis's rate peaks 90 min in
    incidents.write_text(
        "brand,onset,peak,end\n"
        f"{CRISIS_BRAND},{CRISIS_ONSET.isoformat()},{peak.isoformat()},\n"
        "koral-bank,2026-11-03T14:00:00+02:00,,\n",  # made up: a quiet afternoon
        encoding="utf-8",
    )
    report_path = tmp_path / "report.json"
    result = cli(
        "backtest",
        str(stream),
        "--brands",
        str(CATALOG),
        "--alerts-out",
        str(tmp_path / "alerts.jsonl"),
        "--incidents",
        str(incidents),
        "--grace",
        "30",
        "--report-out",
        str(report_path),
        env=plain_env(),
    )
    assert result.returncode == 0, result.stderr
    report = orjson.loads(report_path.read_bytes())
    assert (report["grace_minutes"], report["detect_within_minutes"]) == (30, 60)
    assert report["incidents"][0]["span_start"] == "2026-11-04T08:30:00Z"
    assert "alarms from 30 min before onset count" in result.stdout
    assert list(report) == [
        "detect_within_minutes",
        "false_alarms",
        "grace_minutes",
        "incidents",
        "summary",
    ]
    summary = report["summary"]
    assert sorted(summary) == [
        "brand_days",
        "detected",
        "false_alarms",
        "false_alarms_per_brand_day",
        "incidents",
        "late",
        "median_lead_minutes",
        "median_time_to_detect_minutes",
        "missed",
    ]
    crisis, made_up = report["incidents"]
    assert crisis["brand"] == CRISIS_BRAND and crisis["onset"] == "2026-11-04T09:00:00Z"
    assert crisis["outcome"] == "detected"
    assert 0 < crisis["minutes"] <= 45
    assert crisis["lead_minutes"] == 90 - crisis["minutes"]
    assert made_up["brand"] == "koral-bank" and made_up["onset"] == "2026-11-03T12:00:00Z"
    assert made_up["outcome"] == "missed" and made_up["brand_seen"] is True
    assert (summary["incidents"], summary["detected"], summary["missed"]) == (2, 1, 1)
    assert summary["median_time_to_detect_minutes"] == crisis["minutes"]
    assert 4.5 < summary["brand_days"] < 5.5  # two brands over 2 days and 13 h of event time
    assert summary["false_alarms"] == len(report["false_alarms"])

    # the printed table says the same
    out = result.stdout
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("  ")}
    assert rows[CRISIS_BRAND][1:6] == [
        "2026-11-04T09:00:00Z",
        "detected",
        f"{crisis['minutes']:.1f}",
        f"{crisis['lead_minutes']:+.1f}",
        crisis["alarm"]["alert_id"],
    ]
    assert rows["koral-bank"][1:5] == ["2026-11-03T12:00:00Z", "missed", "-", "-"]
    assert "detected 1/2 within 60 min (late 0, missed 1)" in out
    assert f"median time to detect: {summary['median_time_to_detect_minutes']:.1f} min" in out
    assert f"median lead before peak: {summary['median_lead_minutes']:.1f} min" in out
    assert (
        f"false alarms: {summary['false_alarms']} "
        f"({summary['false_alarms_per_brand_day']:.3f} per brand-day over "
        f"{summary['brand_days']:.2f} brand-days)"
    ) in out


def test_backtest_sweeps_a_detector_setting_over_the_same_mentions(cli, tmp_path: Path) -> None:
    stream = tmp_path / "mentions.jsonl"
    write_demo_stream(stream)
    incidents = tmp_path / "incidents.csv"
    incidents.write_text(f"brand,onset\n{CRISIS_BRAND},{CRISIS_ONSET.isoformat()}\n")
    report_path = tmp_path / "report.json"
    args = ["backtest", str(stream), "--brands", str(CATALOG), "--incidents", str(incidents)]
    result = cli(
        *args,
        "--alerts-out",
        str(tmp_path / "alerts.jsonl"),
        "--set",
        "critical_threshold=100",
        "--sweep",
        "warning_threshold=55,99",
        "--detect-within",
        "15",
        "--report-out",
        str(report_path),
        env=plain_env(),
    )
    assert result.returncode == 0, result.stderr
    assert "detector settings changed for every brand: critical_threshold=100" in result.stdout
    report = orjson.loads(report_path.read_bytes())
    assert report["settings"] == {"critical_threshold": 100}
    assert report["sweep"]["setting"] == "warning_threshold"
    low, high = report["sweep"]["runs"]
    assert (low["value"], high["value"]) == (55, 99)
    # the base run is the default warning threshold: the same as the sweep's 55
    assert low["summary"] == report["summary"]
    assert low["summary"]["detected"] == 1
    # at 99 the warning comes only when the score tops out, 16 minutes after the onset: late
    assert (high["summary"]["detected"], high["summary"]["late"]) == (0, 1)
    lines = result.stdout.splitlines()
    at = lines.index("sweep of warning_threshold (every brand; a brand's catalog override wins):")
    assert [line.split()[:4] for line in lines[at + 2 : at + 4]] == [
        ["55", "1/1", "0", "0"],
        ["99", "0/1", "1", "0"],
    ]

    bad = cli(*args, "--alerts-out", str(tmp_path / "a.jsonl"), "--sweep", "no_such=1,2")
    assert bad.returncode == 2 and "unknown detector setting 'no_such'" in bad.stderr
    bad = cli(*args, "--alerts-out", str(tmp_path / "a.jsonl"), "--set", "warning_threshold=x")
    assert bad.returncode == 2 and "wrong type" in bad.stderr


def test_backtest_reports_a_bad_incidents_file(cli, tmp_path: Path) -> None:
    stream = tmp_path / "m.jsonl"
    stream.write_text("", encoding="utf-8")
    incidents = tmp_path / "incidents.csv"
    incidents.write_text(
        "brand,onset\nnimbus-air,2026-11-04T09:00:00Z\nkoral-bank,2026-11-03 12:00\n",
        encoding="utf-8",
    )
    result = cli(
        "backtest",
        str(stream),
        "--brands",
        str(CATALOG),
        "--alerts-out",
        str(tmp_path / "a.jsonl"),
        "--incidents",
        str(incidents),
        env=plain_env(),
    )
    assert result.returncode == 2
    assert f"{incidents}:3: onset '2026-11-03 12:00' has no UTC offset" in result.stderr
    assert "Traceback" not in result.stderr
    alone = cli(
        "backtest",
        str(stream),
        "--brands",
        str(CATALOG),
        "--alerts-out",
        str(tmp_path / "a.jsonl"),
        "--grace",
        "30",
        env=plain_env(),
    )
    assert alone.returncode == 2
    assert "--grace needs --incidents" in alone.stderr


def test_replay_worker_and_alerts_tail(cli, kafka_bootstrap, fresh_env, worker_factory, tmp_path):
    stream = tmp_path / "mentions.jsonl"
    write_demo_stream(stream)
    env = fresh_env(kafka_bootstrap, EMBERWATCH_BRANDS_PATH=str(CATALOG))
    worker = worker_factory(env)
    replayed = cli("replay", str(stream), "--max", env=env)
    assert replayed.returncode == 0, replayed.stderr
    sent = int(replayed.stdout.split()[1])
    assert sent == len(stream.read_bytes().splitlines())
    worker.wait_for(lambda: worker.total("emberwatch_alerts_total") >= 1, 180, "a first alert")
    tail = cli(
        "alerts", "tail", "--from-beginning", "--timeout", "10", "--max-messages", "1", env=env
    )
    assert tail.returncode == 0, tail.stderr
    assert CRISIS_BRAND in tail.stdout and "opened" in tail.stdout
    as_json = cli(
        "alerts",
        "tail",
        "--from-beginning",
        "--json",
        "--timeout",
        "5",
        "--max-messages",
        "1",
        env=env,
    )
    record = orjson.loads(as_json.stdout.splitlines()[0])
    assert record["schema"] == "emberwatch.alert/v1" and record["brand"] == CRISIS_BRAND


def test_demo_runs_to_its_summary(cli, kafka_bootstrap, tmp_path: Path) -> None:
    env = plain_env(
        EMBERWATCH_BOOTSTRAP_SERVERS=kafka_bootstrap, EMBERWATCH_STATE_DIR=str(tmp_path / "state")
    )
    result = cli("demo", env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "== summary ==" in out
    assert "dead-lettered 3" in out
    assert f"first warning-or-above for {CRISIS_BRAND}" in out
    assert "/metrics" in out


def test_broker_commands_manage_the_embedded_broker(cli, tmp_path: Path) -> None:
    env = plain_env(EMBERWATCH_STATE_DIR=str(tmp_path / "state"))
    try:
        started = cli("broker", "start", env=env, timeout=180)
        assert started.returncode == 0, started.stderr
        assert "broker running at 127.0.0.1:" in started.stdout
        status = cli("broker", "status", env=env)
        assert status.returncode == 0 and status.stdout.startswith("running")
    finally:
        stopped = cli("broker", "stop", env=env, timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    after = cli("broker", "status", env=env)
    assert after.returncode == 3 and after.stdout.startswith("stopped")


def test_series_scores_a_count_series(cli, tmp_path: Path) -> None:
    counts = tmp_path / "counts.csv"
    rows = ["timestamp,value"]
    for i in range(8 * 24 * 12):  # eight days of 5-minute counts, a spike on the last day
        minute = i * 5
        value = 20 + (i % 7) + (400 if 7 * 288 + 100 <= i < 7 * 288 + 110 else 0)
        day, rest = divmod(minute, 24 * 60)
        rows.append(f"2015-03-{1 + day:02d} {rest // 60:02d}:{rest % 60:02d}:00,{value}")
    counts.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "scores.csv"
    result = cli("series", str(counts), "--out", str(out), env=plain_env())
    assert result.returncode == 0, result.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "timestamp,anomaly_score,alert"
    assert len(lines) == len(rows)
    parsed = [line.split(",") for line in lines[1:]]
    assert all(0.0 <= float(score) <= 1.0 for _, score, _ in parsed)
    alerts = [i for i, (_, _, alert) in enumerate(parsed) if alert == "1"]
    assert alerts and all(7 * 288 + 100 <= i < 7 * 288 + 130 for i in alerts)
