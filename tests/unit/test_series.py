"""`emberwatch series`: volume-only scoring of a count series through the detector core."""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.series import parse_time, run_series, score_series

T0 = 1_425_000_000 - 1_425_000_000 % 86400  # 2015-02-27T00:00:00Z


def series(
    days: float, spike_at: float | None = None, seed: int = 3
) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)
    times: list[float] = []
    values: list[float] = []
    for k in range(int(days * 288)):
        t = T0 + 300.0 * k
        hod = (k // 12) % 24
        lam = 60.0 * (0.5 + math.sin(math.pi * hod / 24.0) ** 2)
        v = max(0.0, rng.gauss(lam, math.sqrt(lam) * 1.5))
        if spike_at is not None and spike_at <= t < spike_at + 1800:
            v *= 12
        times.append(t)
        values.append(float(round(v)))
    return times, values


def test_spike_raises_an_alert_quiet_series_does_not() -> None:
    spike = T0 + 5 * 86400 + 14 * 3600
    times, values = series(6, spike_at=spike)
    scores, alerts = score_series(times, values)
    assert len(scores) == len(alerts) == len(times)
    assert all(0.0 <= s <= 1.0 for s in scores)
    fired = [t for t, a in zip(times, alerts, strict=True) if a]
    assert fired and all(spike <= t <= spike + 1800 for t in fired)
    _, quiet_alerts = score_series(*series(6))
    assert sum(quiet_alerts) == 0


def test_one_surge_is_one_alert() -> None:
    """Two bursts two hours apart are one surge: one alert row, at the first burst."""
    first = T0 + 5 * 86400 + 12 * 3600
    times, values = series(6)
    for k, t in enumerate(times):
        if first <= t < first + 1800 or first + 7200 <= t < first + 9000:
            values[k] *= 12
    _, alerts = score_series(times, values)
    fired = [t for t, a in zip(times, alerts, strict=True) if a]
    assert len(fired) == 1
    assert first <= fired[0] <= first + 1800


def test_scores_are_causal() -> None:
    times, values = series(3)
    full, _ = score_series(times, values)
    head, _ = score_series(times[:500], values[:500])
    assert full[:500] == head


def test_run_series_reads_nab_style_csv_and_writes_scores(tmp_path: Path) -> None:
    times, values = series(4, spike_at=T0 + 3 * 86400 + 12 * 3600)
    src = tmp_path / "counts.csv"
    with src.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "value"])
        for t, v in zip(times, values, strict=True):
            from datetime import UTC, datetime

            w.writerow([datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M:%S"), int(v)])
    out = tmp_path / "scores.csv"
    assert run_series(src, out) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["timestamp"] for r in rows][:2] == ["2015-02-27 00:00:00", "2015-02-27 00:05:00"]
    assert set(rows[0]) == {"timestamp", "anomaly_score", "alert"}
    assert any(r["alert"] == "1" for r in rows)


def test_bad_input_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,value\n2015-01-01 00:00:00,abc\n")
    with pytest.raises(ConfigError):
        run_series(bad, tmp_path / "out.csv")
    with pytest.raises(ConfigError):
        run_series(tmp_path / "missing.csv", tmp_path / "out.csv")
    with pytest.raises(ConfigError):
        score_series([2.0, 1.0], [1.0, 1.0])


def test_parse_time_naive_is_utc() -> None:
    assert parse_time("2015-02-26 21:42:53") == 1424986973.0
    assert parse_time("2015-02-26T21:42:53Z") == 1424986973.0
