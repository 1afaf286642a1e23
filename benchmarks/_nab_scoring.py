"""NAB scoring (Lavin & Ahmad 2015, numenta/NAB ``sweeper.py``), re-implemented from the method.

* Each labelled anomaly window is scored once: the earliest detection inside it earns
  ``A_TP * sigma(y) / sigma(-1)`` with the scaled sigmoid ``sigma(y) = 2 / (1 + exp(5 y)) - 1`` of
  the relative position ``y = -(right - i + 1) / width`` (-1 at the window start, ~0 at its end);
  later detections in the same window count for nothing.
* A detection outside every window costs ``A_FP * sigma(y)`` with ``y`` the distance past the
  previous window's right edge in window widths (``sigma = -1`` with no window before it), so a
  detection just after a window is penalised less than one far from any.
* A window without detection costs ``A_FN``.
* Rows in the probationary period (the first ``min(15 % of the file, 750)`` rows) are ignored.
* Standard profile: A_TP = 1, A_FP = -0.11, A_FN = -1 (A_TN = 1 does not enter the score).
* The corpus score is normalised: ``100 * (raw - null) / (perfect - null)`` where the null detector
  never fires (every window a FN) and the perfect one fires at each window's first row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

PROBATION_PERCENT = 0.15


@dataclass(frozen=True)
class Profile:
    tp: float = 1.0
    fp: float = 0.11  # applied as a cost
    fn: float = 1.0  # applied as a cost


STANDARD = Profile()


def scaled_sigmoid(position: float) -> float:
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


@dataclass(frozen=True)
class FileScore:
    raw: float
    tp: int
    fp: int
    fn: int
    windows: int


def window_indices(
    timestamps: Sequence[str], windows: Sequence[tuple[str, str]]
) -> list[tuple[int, int]]:
    """Row indices of each window's first and last rows (exact timestamp match, as NAB)."""
    pos = {t: i for i, t in enumerate(timestamps)}
    out = []
    for start, end in windows:
        out.append((pos[start], pos[end]))
    return out


def score_file(
    detections: Sequence[bool],
    windows: Sequence[tuple[int, int]],
    profile: Profile = STANDARD,
) -> FileScore:
    n = len(detections)
    probation = min(math.floor(PROBATION_PERCENT * n), PROBATION_PERCENT * 5000)
    max_tp = scaled_sigmoid(-1.0)
    wins = sorted(windows)
    best: list[float | None] = [None] * len(wins)
    fp_total = 0.0
    fps = 0
    w = 0  # next window not yet passed
    prev: tuple[int, int] | None = None
    for i in range(n):
        while w < len(wins) and i > wins[w][1]:
            prev = wins[w]
            w += 1
        if not detections[i] or i < probation:
            continue
        if w < len(wins) and wins[w][0] <= i <= wins[w][1]:
            left, right = wins[w]
            width = right - left + 1
            s = profile.tp * scaled_sigmoid(-(right - i + 1) / width) / max_tp
            if best[w] is None:
                best[w] = s
        else:
            if prev is None:
                unweighted = -1.0
            else:
                pw = prev[1] - prev[0] + 1
                unweighted = scaled_sigmoid(abs(prev[1] - i) / (pw - 1))
            fp_total += profile.fp * unweighted
            fps += 1
    tp_total = sum(b for b in best if b is not None)
    tps = sum(1 for b in best if b is not None)
    fns = len(wins) - tps
    return FileScore(tp_total + fp_total - profile.fn * fns, tps, fps, fns, len(wins))


def normalised(scores: Sequence[FileScore], profile: Profile = STANDARD) -> float:
    total = sum(s.raw for s in scores)
    n_windows = sum(s.windows for s in scores)
    null = -profile.fn * n_windows
    perfect = profile.tp * n_windows
    return 100.0 * (total - null) / (perfect - null)


def best_threshold(
    per_file_scores: Sequence[Sequence[float]],
    per_file_windows: Sequence[Sequence[tuple[int, int]]],
    profile: Profile = STANDARD,
    grid: int = 200,
) -> tuple[float, float]:
    """NAB's threshold optimisation: one threshold for the whole corpus, maximising its score."""
    values = sorted({v for scores in per_file_scores for v in scores if v > 0})
    step = max(1, len(values) // grid)
    candidates = values[::step] + values[-grid // 4 :]
    best = (-math.inf, 1.0)
    for thr in candidates:
        files = [
            score_file([s >= thr for s in scores], wins, profile)
            for scores, wins in zip(per_file_scores, per_file_windows, strict=True)
        ]
        val = normalised(files, profile)
        if val > best[0]:
            best = (val, thr)
    return best
