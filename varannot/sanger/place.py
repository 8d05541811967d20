"""Placement: where on which reference region (and strand) a trace lies.

12-mer seeds between the trimmed calls and each region pick a diagonal; a local alignment of the
read written with IUPAC codes (so heterozygous sites and the mixed tail of a heterozygous indel
stay on the reference allele) gives the span, clipped back to clean columns at its ends. The seed
index per region and the aligner are cached (``lru_cache``) because every trace reuses them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt

from ..models import ReferenceRegion
from ..readers.trace import BASES, Trace
from .model import (
    _CLIP_RUN,
    _CODE_SETS,
    _IUPAC,
    _K,
    _MAX_SEED_OCC,
    _MIN_ALIGNED,
    _MIN_EXPLAINED,
    _MIN_IDENTITY,
    _MIN_SEEDS,
    _PARTIAL_IDENTITY,
    _UNIQUE_RATIO,
    Placement,
)

# ------------------------------------------------------------------------------- placement


def iupac_read(heights: npt.NDArray[np.float64], ratio: float) -> str:
    """Per base: the tallest peak, or the IUPAC code of the two tallest when both pass ``ratio``."""
    order = np.argsort(heights, axis=1)
    first, second = order[:, -1], order[:, -2]
    h1 = heights[np.arange(len(heights)), first]
    h2 = heights[np.arange(len(heights)), second]
    out = []
    for a, b, x, y in zip(first.tolist(), second.tolist(), h1.tolist(), h2.tolist(), strict=True):
        if x <= 0:
            out.append("N")
        elif y >= ratio * x:
            out.append(_IUPAC[frozenset((BASES[a], BASES[b]))])
        else:
            out.append(BASES[a])
    return "".join(out)


_ENC = np.full(256, -1, dtype=np.int64)
for _k, _b in enumerate("ACGT"):
    _ENC[ord(_b)] = _k
    _ENC[ord(_b.lower())] = _k


def _kmers(seq: str, k: int = _K) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """2-bit k-mer codes and their start positions (k-mers with N/ambiguity codes dropped)."""
    arr = _ENC[np.frombuffer(seq.encode("latin-1"), dtype=np.uint8)]
    n = len(arr) - k + 1
    if n <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    win = np.lib.stride_tricks.sliding_window_view(arr, k)
    ok = (win >= 0).all(axis=1)
    codes = (win.clip(0) * (4 ** np.arange(k - 1, -1, -1, dtype=np.int64))).sum(axis=1)
    pos = np.nonzero(ok)[0]
    return codes[ok], pos


@lru_cache(maxsize=64)
def _region_index(sequence: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Sorted k-mer codes of a region and their positions (built once per process)."""
    codes, pos = _kmers(sequence.upper())
    order = np.argsort(codes, kind="stable")
    return codes[order], pos[order]


def _revcomp(seq: str) -> str:
    return seq.translate(str.maketrans("ACGTRYKMSWN", "TGCAYRMKSWN"))[::-1]


def _best_diagonals(read: str, sequence: str) -> list[tuple[int, int]]:
    """(seed count, diagonal ref-read offset) of the two densest diagonal bands, best first.

    The second band is the best one at least a read length away from the first: a repeat
    (paralogous exon, Alu) the read could equally belong to.
    """
    r_codes, r_pos = _kmers(read)
    if r_codes.size == 0:
        return []
    codes, pos = _region_index(sequence)
    lo = np.searchsorted(codes, r_codes, side="left")
    hi = np.searchsorted(codes, r_codes, side="right")
    cnt = hi - lo
    use = (cnt > 0) & (cnt <= _MAX_SEED_OCC)
    if not use.any():
        return []
    diags = np.concatenate(
        [pos[a:b] - rp for a, b, rp in zip(lo[use], hi[use], r_pos[use], strict=True)]
    )
    diags.sort()
    out: list[tuple[int, int]] = []
    for _ in range(2):
        if diags.size == 0:
            break
        # densest window of width 24 (allows a few small indels along one diagonal)
        right = np.searchsorted(diags, diags + 24, side="right")
        counts = right - np.arange(len(diags))
        best = int(np.argmax(counts))
        band = diags[best : right[best]]
        d = int(np.median(band))
        out.append((int(counts[best]), d))
        diags = diags[np.abs(diags - d) > len(read)]
    return out


@lru_cache(maxsize=1)
def _aligner() -> object:
    from Bio.Align import PairwiseAligner, substitution_matrices

    letters = "ACGTRYKMSWN"
    m = substitution_matrices.Array(alphabet=letters, dims=2)
    for a in letters:
        for b in letters:
            sa, sb = _CODE_SETS.get(a, frozenset()), _CODE_SETS.get(b, frozenset())
            if a == "N" or b == "N":
                m[a, b] = -1.0
            elif len(sa) == 1 and len(sb) == 1:
                m[a, b] = 2.0 if a == b else -3.0
            else:
                m[a, b] = 1.0 if sa & sb else -3.0
    al = PairwiseAligner()
    al.mode = "local"
    al.substitution_matrix = m
    al.open_gap_score = -7.0
    al.extend_gap_score = -2.0
    return al


def _align(
    read: str, ref: str
) -> tuple[float, npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """Local alignment; returns score and alignment columns (read index, ref index, -1 = gap)."""
    al = _aligner()
    try:
        aln = al.align(ref, read)[0]  # type: ignore[attr-defined]
    except (IndexError, ValueError, OverflowError):
        return None
    t_blocks, q_blocks = aln.aligned
    cols_read: list[int] = []
    cols_ref: list[int] = []
    prev_t = prev_q = None
    for (ts, te), (qs, qe) in zip(t_blocks.tolist(), q_blocks.tolist(), strict=True):
        if prev_t is not None and prev_q is not None:
            cols_ref.extend(range(prev_t, ts))
            cols_read.extend([-1] * (ts - prev_t))
            cols_read.extend(range(prev_q, qs))
            cols_ref.extend([-1] * (qs - prev_q))
        cols_ref.extend(range(ts, te))
        cols_read.extend(range(qs, qe))
        prev_t, prev_q = te, qe
    if not cols_ref:
        return None
    return float(aln.score), np.asarray(cols_read, np.int64), np.asarray(cols_ref, np.int64)


def place_trace(
    trace: Trace,
    references: Sequence[ReferenceRegion],
    *,
    ratio: float = 0.25,
    read_range: tuple[int, int] | None = None,
    heights: npt.NDArray[np.float64] | None = None,
) -> tuple[Placement | None, str]:
    """Best placement of ``trace`` (file orientation) on any region, either strand.

    Returns ``(placement, reason)``; placement is None with a reason when nothing fits. A
    placement must span ``_MIN_ALIGNED`` reference bases at identity ``_MIN_IDENTITY``, explain
    most of the read's high-quality bases (or align near-perfectly: an exon read on a cDNA
    reference) and be unique: a second location scoring within ``_UNIQUE_RATIO`` of the best
    makes the read ambiguous. A failed read's reason names the best candidate, so a user can
    tell an off-target read from a wrong reference. ``read_range`` (file orientation)
    restricts seeding to the usable part of the read.
    """
    if heights is None:
        heights = trace.peak_heights()
    n = len(trace)
    lo, hi = read_range if read_range is not None else (0, n)
    if hi - lo < _MIN_ALIGNED:
        return None, f"only {hi - lo} usable bases after trimming"
    codes_fwd = iupac_read(heights, ratio)
    calls_fwd = "".join(BASES[k] for k in np.argmax(heights, axis=1).tolist())
    candidates: list[tuple[int, int, ReferenceRegion, Literal["+", "-"]]] = []
    for region in references:
        seq = region.sequence.upper()
        for strand in ("+", "-"):
            calls = calls_fwd[lo:hi] if strand == "+" else _revcomp(calls_fwd[lo:hi])
            for seeds, diag in _best_diagonals(calls, seq):
                if seeds >= _MIN_SEEDS:
                    candidates.append((seeds, diag, region, strand))  # type: ignore[arg-type]
    if not candidates:
        return None, "no 12-base seed matches any reference region"
    candidates.sort(key=lambda c: -c[0])
    top = candidates[0][0]
    tried: list[tuple[Placement, str]] = []
    for c in candidates[:2]:
        if c is candidates[0] or c[0] >= max(_MIN_SEEDS, 0.5 * top):
            t = _align_candidate(codes_fwd, (lo, hi), *c)
            if t is not None:
                tried.append(t)
    if not tried:
        return None, "seeds found but local alignment failed"
    tried.sort(key=lambda t: -t[0].score)
    best, why = tried[0]
    if why:
        return None, f"{why}; best candidate {_describe(best)}"
    if len(tried) > 1:
        other = tried[1][0]
        if other.score >= _UNIQUE_RATIO * best.score:
            return None, (
                f"placement not unique: {_describe(best)} (score {best.score:.0f}) and "
                f"{_describe(other)} (score {other.score:.0f})"
            )
        best.runner_up = f"{_describe(other)} (score {other.score:.0f})"
    return best, ""


def _describe(pl: Placement) -> str:
    return (
        f"{pl.region.name} ({pl.strand}) {pl.region.chrom}:{pl.genomic_start}-{pl.genomic_end}, "
        f"{pl.ref_end - pl.ref_start} bp at identity {pl.identity:.2f}"
    )


def _align_candidate(
    codes_fwd: str,
    trimmed: tuple[int, int],
    seeds: int,
    diag: int,
    region: ReferenceRegion,
    strand: Literal["+", "-"],
) -> tuple[Placement, str] | None:
    """Align the read at one seeded diagonal: (placement, why it fails or '') or None."""
    n = len(codes_fwd)
    lo, hi = trimmed
    # Align the whole read, not just the trimmed part: local alignment stops by itself where the
    # read turns to noise, and the mixed tail of a heterozygous indel is needed downstream.
    codes = codes_fwd if strand == "+" else _revcomp(codes_fwd)
    diag = diag - (lo if strand == "+" else n - hi)
    seq = region.sequence.upper()
    w0 = max(0, diag - 60)
    w1 = min(len(seq), diag + len(codes) + 60)
    res = _align(codes, seq[w0:w1])
    if res is None:
        return None
    score, cols_read, cols_ref = res
    cols_ref = np.where(cols_ref >= 0, cols_ref + w0, -1)
    match = np.array(
        [
            i >= 0 and j >= 0 and seq[j] in _CODE_SETS.get(codes[i], frozenset())
            for i, j in zip(cols_read.tolist(), cols_ref.tolist(), strict=True)
        ],
        dtype=bool,
    )
    # Clip each end back to a run of _CLIP_RUN matching columns: a local alignment happily
    # extends a few bases past an exon boundary or into a read's noisy end, and the mismatches
    # there would otherwise become homozygous "variants".
    if match.size < _CLIP_RUN:
        return None
    windows = np.lib.stride_tricks.sliding_window_view(match, _CLIP_RUN)
    runs = np.asarray(windows.all(axis=1), dtype=bool)
    if not runs.any():
        return None
    k0 = int(np.argmax(runs))
    k1 = int(len(runs) - 1 - np.argmax(runs[::-1])) + _CLIP_RUN
    cols_read, cols_ref, match = cols_read[k0:k1], cols_ref[k0:k1], match[k0:k1]
    both = (cols_read >= 0) & (cols_ref >= 0)
    ref_idx = cols_ref[both]
    if ref_idx.size == 0:
        return None
    identity = float(match.mean())
    pl = Placement(
        region=region,
        strand=strand,
        ref_start=int(ref_idx.min()),
        ref_end=int(ref_idx.max()) + 1,
        read_start=int(cols_read[cols_read >= 0].min()),
        read_end=int(cols_read[cols_read >= 0].max()) + 1,
        identity=round(identity, 4),
        score=score,
        cols_read=cols_read,
        cols_ref=cols_ref,
        seeds=seeds,
    )
    ref_span = pl.ref_end - pl.ref_start
    if ref_span < _MIN_ALIGNED:
        return pl, f"best local alignment spans only {ref_span} reference bases (< {_MIN_ALIGNED})"
    if identity < _MIN_IDENTITY:
        return pl, f"best local alignment identity {identity:.2f} < {_MIN_IDENTITY}"
    # Mostly explained: share of the high-quality bases (plus-strand view) inside the alignment.
    v0, v1 = (lo, hi) if strand == "+" else (n - hi, n - lo)
    explained = max(0, min(v1, pl.read_end) - max(v0, pl.read_start)) / max(v1 - v0, 1)
    if explained < _MIN_EXPLAINED and identity < _PARTIAL_IDENTITY:
        return pl, (
            f"only {explained:.0%} of the read's high-quality bases align "
            f"(identity {identity:.2f} < {_PARTIAL_IDENTITY} required for a partial alignment)"
        )
    pl.explained = round(explained, 3)
    return pl, ""
