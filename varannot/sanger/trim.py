"""Trace cleanup before placement: Mott quality trimming and dye-blob-free peak heights.

Mott's modified algorithm gives the high-quality range used for substitution calls and coverage;
:func:`blob_free_heights` removes features broader than ~6 bases (unincorporated dye blobs) so a
secondary peak is measured against the local signal, not a hump in one channel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ..readers.trace import BASES, Trace
from .model import _TRIM_ERROR

# ------------------------------------------------------------------------------- trimming


def mott_trim(
    qualities: Sequence[int] | npt.NDArray[np.int16], error_limit: float = _TRIM_ERROR
) -> tuple[int, int]:
    """Modified Mott trimming: the maximum-sum stretch of ``error_limit - P(error)``.

    Returns the 0-based half-open range kept (``(0, 0)`` when nothing is good enough). Unlike a
    fixed quality threshold it tolerates isolated poor bases (heterozygous sites) inside a good
    read.
    """
    q = np.asarray(qualities, dtype=np.float64)
    if q.size == 0:
        return (0, 0)
    score = error_limit - np.power(10.0, -q / 10.0)
    return _max_subarray(score)


def _max_subarray(score: npt.NDArray[np.float64]) -> tuple[int, int]:
    best, best_rng = 0.0, (0, 0)
    run, run_start = 0.0, 0
    for i, s in enumerate(score.tolist()):
        if run <= 0.0:
            run, run_start = s, i
        else:
            run += s
        if run > best:
            best, best_rng = run, (run_start, i + 1)
    return best_rng


# ------------------------------------------------------------------------------- signal


def _running(x: npt.NDArray[np.float64], w: int, fn: str) -> npt.NDArray[np.float64]:
    half = w // 2
    padded = np.pad(x, half, mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    out: npt.NDArray[np.float64] = win.min(axis=1) if fn == "min" else win.max(axis=1)
    return out


def blob_free_heights(trace: Trace) -> npt.NDArray[np.float64]:
    """(n_bases, 4) peak heights with features broader than ~6 bases removed.

    A grey-scale opening (running min, then running max, over six peak spacings) follows dye
    blobs and baseline drift but not peaks, nor homopolymer runs of up to five bases; subtracting
    it (a top-hat filter) leaves the peaks. Used for the *secondary* peak of a substitution call,
    so that a dye blob under a run of bases does not read as a string of heterozygous calls.
    """
    n = len(trace)
    spacing = float(np.median(np.diff(trace.peak_locations))) if n > 2 else 12.0
    w = max(15, int(round(6 * max(spacing, 3.0))))
    cleaned = {}
    for b in BASES:
        ch = trace.channels[b]
        cleaned[b] = ch - _running(_running(ch, w, "min"), w, "max")
    view = Trace(
        name=trace.name,
        bases=trace.bases,
        qualities=trace.qualities,
        peak_locations=trace.peak_locations,
        channels=cleaned,
        source=trace.source,
    )
    return view.peak_heights()
