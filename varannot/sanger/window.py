"""Chromatogram windows as data: the four dye channels around a site, for client-side drawing.

The browser page draws the evidence behind a trace call itself (zoomable, no image files), so
the result document carries, per site and per trace covering it, only the scans of about 25
bases: channels scaled to 0..1000 over the window (relative peak heights, which is what a
reviewer judges a heterozygous call by, are kept), the called bases with their qualities and
peak positions, and the reference base and genomic position each base is aligned to.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..readers.trace import BASES
from .model import TraceCall, TraceResult

HALF_WINDOW = 12  # bases either side of the site
MAX_WINDOWS = 80  # per sample: the document stays small however many residues a KB names
SCALE = 1000


def _aligned(res: TraceResult) -> dict[int, int]:
    """Plus-view read index -> region index (-1 where the read has an inserted base)."""
    pl = res.placement
    assert pl is not None
    return {
        int(i): int(j) for i, j in zip(pl.cols_read.tolist(), pl.cols_ref.tolist(), strict=True)
        if i >= 0
    }  # fmt: skip


def _read_index(res: TraceResult, aligned: dict[int, int], ref_index: int) -> int | None:
    hits = [i for i, j in aligned.items() if j == ref_index]
    return min(hits) if hits else None


def site_window(
    res: TraceResult, start: int, end: int, half: int = HALF_WINDOW
) -> dict[str, object] | None:
    """Channels of one placed trace around genomic ``start..end`` (None if the read misses it)."""
    pl = res.placement
    if pl is None or res.covered is None:
        return None
    if end < res.covered[0] or start > res.covered[1]:
        return None
    aligned = _aligned(res)
    first = _read_index(res, aligned, start - pl.region.start)
    last = _read_index(res, aligned, end - pl.region.start)
    if first is None or last is None:
        return None
    first, last = min(first, last), max(first, last)
    tr = res.trace
    lo, hi = max(0, first - half), min(len(tr) - 1, last + half)
    locs = tr.peak_locations
    x0 = max(0, int(locs[lo]) - 6)
    x1 = min(tr.n_scans, int(locs[hi]) + 7)
    raw = {b: np.asarray(tr.channels[b][x0:x1], dtype=np.float64) for b in BASES}
    top = max((float(v.max()) for v in raw.values() if v.size), default=0.0) or 1.0
    seq = pl.region.sequence.upper()
    ref: list[str] = []
    pos: list[int | None] = []
    for i in range(lo, hi + 1):
        j = aligned.get(i)
        if j is None or j < 0:
            ref.append("-")
            pos.append(None)
        else:
            ref.append(seq[j])
            pos.append(pl.region.start + j)
    return {
        "trace": tr.file_name,
        "reverse_complemented": tr.reversed,
        "x0": x0,
        "channels": {b: np.rint(v * (SCALE / top)).astype(int).tolist() for b, v in raw.items()},
        "peaks": [int(locs[i]) - x0 for i in range(lo, hi + 1)],
        "bases": tr.bases[lo : hi + 1],
        "qualities": [int(q) for q in tr.qualities[lo : hi + 1]],
        "ref": "".join(ref),
        "positions": pos,
        "trace_positions": [tr.file_position(lo), tr.file_position(hi)],
        "site": [first - lo, last - lo],
    }


def trace_windows(
    results: Sequence[TraceResult],
    best_calls: Sequence[tuple[int, TraceCall]],
    residues: Sequence[tuple[str, str, int, int]],
    half: int = HALF_WINDOW,
) -> list[dict[str, object]]:
    """Windows for every called variant and every residue (label, chrom, start, end).

    Each site gets one window per placed trace that covers it (forward and reverse read side by
    side confirm a call); called variants come first, then residues, up to ``MAX_WINDOWS``.
    """
    sites: list[dict[str, object]] = []
    for _, c in best_calls:
        sites.append(
            {
                "kind": "variant",
                "label": f"{c.region.chrom}:{c.pos} {c.ref}>{c.alt}",
                "variant": f"{c.region.chrom}:{c.pos}:{c.ref}>{c.alt}",
                "chrom": c.region.chrom,
                "start": c.pos,
                "end": c.pos + max(len(c.ref), 1) - 1,
            }
        )
    for label, chrom, start, end in residues:
        sites.append(
            {"kind": "residue", "label": label, "chrom": chrom, "start": start, "end": end}
        )
    out: list[dict[str, object]] = []
    for site in sites:
        for res in results:
            if res.placement is None or res.placement.region.chrom != site["chrom"]:
                continue
            w = site_window(res, int(site["start"]), int(site["end"]), half)  # type: ignore[call-overload]
            if w is not None:
                out.append({**site, **w})
                if len(out) >= MAX_WINDOWS:
                    return out
    return out
