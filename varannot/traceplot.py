"""Chromatogram snapshots (PNG) around one base: the evidence behind a trace call.

Uses the object-oriented matplotlib API on the Agg canvas (no pyplot global state: safe in
worker processes and threads) and a small figure, so one plot costs a few tens of milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .readers.trace import BASES, Trace

# The colours every Sanger viewer uses, so readers need no legend to orient themselves.
COLOURS = {"A": "#2ca02c", "C": "#1f77b4", "G": "#111111", "T": "#d62728"}


def plot_trace_site(
    trace: Trace,
    center: int,
    out: Path,
    *,
    ref_bases: dict[int, str] | None = None,
    title: str = "",
    half_window: int = 10,
) -> Path:
    """Write a PNG of the four channels around base ``center`` of ``trace`` (as given).

    ``ref_bases`` maps read base index -> aligned reference base ('-' for a gap); the row of
    reference bases under the calls lets a reviewer see the change without another tool.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(trace)
    lo, hi = max(0, center - half_window), min(n - 1, center + half_window)
    locs = trace.peak_locations
    x0 = int(locs[lo]) - 6
    x1 = int(locs[hi]) + 7
    x0, x1 = max(0, x0), min(trace.n_scans, x1)
    xs = np.arange(x0, x1)
    fig = Figure(figsize=(7.0, 2.6), dpi=90)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.06, 0.30, 0.92, 0.58))
    top = 1.0
    for b in BASES:
        y = trace.channels[b][x0:x1]
        if y.size:
            top = max(top, float(y.max()))
        ax.plot(xs, y, color=COLOURS[b], linewidth=1.0)
    ax.axvline(int(locs[center]), color="#ff7f0e", linewidth=6, alpha=0.25, zorder=0)
    ax.set_xlim(x0, x1)
    ax.set_ylim(0, top * 1.05)
    ax.set_xticks([])
    ax.tick_params(axis="y", labelsize=6)
    ref_bases = ref_bases or {}
    for i in range(lo, hi + 1):
        x = int(locs[i])
        call = trace.bases[i]
        ax.text(x, -0.10, call, transform=ax.get_xaxis_transform(), ha="center", va="top",
                fontsize=8, color=COLOURS.get(call, "#777777"), fontweight="bold")  # fmt: skip
        rb = ref_bases.get(i)
        if rb is not None:
            colour = "#777777" if rb == call else "#ff7f0e"
            ax.text(x, -0.30, rb, transform=ax.get_xaxis_transform(), ha="center", va="top",
                    fontsize=8, color=colour)  # fmt: skip
    ax.text(x0, -0.10, "call", transform=ax.get_xaxis_transform(), ha="right", va="top",
            fontsize=6)  # fmt: skip
    if ref_bases:
        ax.text(x0, -0.30, "ref", transform=ax.get_xaxis_transform(), ha="right", va="top",
                fontsize=6)  # fmt: skip
    strand = " (reverse-complemented)" if trace.reversed else ""
    ax.set_title((title or trace.file_name) + strand, fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out
