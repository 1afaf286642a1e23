"""NAB realTweets benchmark: the emberwatch series detector vs a windowedGaussian baseline.

    .venv/bin/python benchmarks/bench_nab.py [--data-dir ../shared/data]

Scores the five Twitter_volume_* files of NAB with NAB's standard profile (see _nab_scoring.py).
The emberwatch detector runs with its live defaults (volume-only, one bucket per 5-minute row),
nothing tuned per file, and is scored on its own alert decisions (the ``alert`` column of
``emberwatch series``: the row where a surge first becomes a warning+ alert, see
``pipeline.series``). Its
``anomaly_score`` is a sustained risk level, not a per-row spike score, so NAB's per-row threshold
sweep does not apply to it; the windowedGaussian baseline is scored, as in NAB, at its best single
corpus threshold.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _nab_scoring import FileScore, best_threshold, normalised, score_file, window_indices

from pipeline.core.detector import DetectorConfig
from pipeline.series import parse_time, score_series
from pipeline.settings import Settings

FILES = ("AAPL", "AMZN", "CRM", "CVS", "UPS")
REFERENCE = {"ARTime": 87.6, "Skyline": 76.5, "HTM": 66.4, "windowedGaussian": 56.3}


def windowed_gaussian(values: Sequence[float], window: int = 6400, step: int = 100) -> list[float]:
    """NAB's windowedGaussian: 1 - two-sided tail of a Gaussian fitted to the last ``window``
    values, refitted every ``step`` values."""
    data: list[float] = []
    buffer: list[float] = []
    mean, std = 0.0, 1.0
    out = []
    for v in values:
        score = 0.0
        if data:
            z = abs(v - mean) / std
            score = 1.0 - 0.5 * math.erfc(z / math.sqrt(2.0))
        if len(data) < window:
            data.append(v)
            mean, std = float(np.mean(data)), float(np.std(data)) or 1e-6
        else:
            buffer.append(v)
            if len(buffer) == step:
                data = data[step:] + buffer
                buffer = []
                mean, std = float(np.mean(data)), float(np.std(data)) or 1e-6
        out.append(score)
    return out


def load(data_dir: Path) -> list[tuple[str, list[str], list[float], list[tuple[int, int]]]]:
    root = data_dir / "nab-realtweets"
    windows = json.loads((root / "windows.json").read_text(encoding="utf-8"))
    out = []
    for name in FILES:
        fname = f"Twitter_volume_{name}.csv"
        lines = (root / fname).read_text(encoding="utf-8").splitlines()[1:]
        stamps = [ln.split(",")[0] for ln in lines]
        values = [float(ln.split(",")[1]) for ln in lines]
        wins = [(a[:19], b[:19]) for a, b in windows[f"realTweets/{fname}"]]
        out.append((name, stamps, values, window_indices(stamps, wins)))
    return out


def line(name: str, fs: FileScore) -> str:
    return f"{name:<6} TP {fs.tp}/{fs.windows}  FP {fs.fp:>3}  raw {fs.raw:+6.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Settings().data_dir)
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="detector override"
    )
    args = parser.parse_args(argv)
    overrides = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    base = DetectorConfig.from_mapping(DetectorConfig(), overrides)
    files = load(args.data_dir)
    t0 = time.monotonic()
    ours_alerts: list[list[int]] = []
    gauss: list[list[float]] = []
    for _, stamps, values, _ in files:
        _, a = score_series([parse_time(t) for t in stamps], values, base)
        ours_alerts.append(a)
        gauss.append(windowed_gaussian(values))
    elapsed = time.monotonic() - t0
    wins = [f[3] for f in files]
    fixed = [score_file([bool(x) for x in a], w) for a, w in zip(ours_alerts, wins, strict=True)]
    g_val, g_thr = best_threshold(gauss, wins)
    gfiles = [score_file([x >= g_thr for x in s], w) for s, w in zip(gauss, wins, strict=True)]

    n_windows = sum(len(w) for w in wins)
    print(
        f"NAB realTweets ({len(files)} files, {n_windows} windows), standard profile "
        "(A_TP=1, A_FP=-0.11, A_FN=-1)"
    )
    print(f"{'':<48}{'score':>8}")
    print(f"{'emberwatch, own alerts (defaults, no threshold fit)':<48}{normalised(fixed):8.1f}")
    print(f"{'windowedGaussian (this run), optimised ' + f'{g_thr:.3f}':<48}{g_val:8.1f}")
    for ref, val in REFERENCE.items():
        print(f"{ref + ' (published, these five files)':<48}{val:8.1f}")
    print()
    print(f"{'file':<6} {'emberwatch own alerts':<36} windowedGaussian (optimised)")
    for i, name in enumerate(FILES):
        print(f"{line(name, fixed[i]):<43} {line('', gfiles[i])[7:]}")
    print(f"\nemberwatch scoring time: {elapsed:.1f} s for {sum(len(f[1]) for f in files)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
