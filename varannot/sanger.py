"""Variant calling from Sanger traces of amplicons: trim, place, call, decompose, combine.

Pure functions on :class:`~varannot.readers.trace.Trace` objects; only :func:`call_traces` touches
files (reading traces, writing optional plots). Every trace is analysed on the plus strand of the
reference region it places on (reverse reads are reverse-complemented first), so coordinates,
alleles and the indel decomposition are strand-agnostic after placement.

Method, in order:

1. **Trimming.** Mott's modified algorithm on the basecaller's qualities gives the high-quality
   range used for substitution calls and coverage. Placement still aligns the whole read: the
   mixed tail after a heterozygous indel has poor basecaller qualities but is exactly what the
   indel decomposition needs, and a local alignment stops by itself where a read turns to noise
   (its ends are then clipped back to 8 clean columns, e.g. at exon boundaries of cDNA
   references).
2. **Placement.** 12-mer seeds between the trimmed calls and each region (both orientations) pick
   a diagonal; a local alignment (Biopython ``PairwiseAligner``) of the read, written with IUPAC
   codes where a secondary peak passes the ratio, against a window around it gives the span. IUPAC
   reads keep the alignment on the reference allele through heterozygous sites and through the
   mixed tail of a heterozygous indel.
3. **Substitutions.** At each aligned base the four peak heights decide: a second peak at least
   ``ratio`` of the reference peak -> heterozygous; an alternative base without reference signal
   -> homozygous. The secondary peak is measured after removing features broader than ~6 bases
   (dye blobs) and must be a peak under the called one (not the flank of an off-register peak).
   Call quality is phred-scaled against the *local* secondary-peak background, so a noisy stretch
   does not produce confident calls. Homozygous indels are clean alignment gaps.
4. **Heterozygous indels** (as Tracy/Indigo do): downstream of a heterozygous indel the trace is
   the reference superposed on the reference shifted by the indel length. For each shift we score
   how well ``ref[j + shift]`` explains the secondary peaks and choose the breakpoint that best
   separates "reference only" from "reference + shifted reference". The junction bases are read
   from the trace, so inserted sequence and delins (CRISPR edits) come out exactly.
5. **Forward + reverse.** Calls of the traces of one sample are merged into one observation per
   variant. A variant called in one trace but absent from another clean trace covering it is
   filtered ``trace_disagreement``; if the other trace is noisy there, it is flagged
   ``other_trace_inconclusive``. Both cases are listed in ``details['disagreements']``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from .models import CoveredInterval, InputBatch, Observation, ReferenceRegion, SkipReport
from .readers.trace import BASES, Trace, read_trace

NOT_PLACED = "trace not placed on any reference region"
VAF_SOURCE = "trace peak ratio"

_K = 12  # seed length: unique enough in a 200 kb gene region, short enough for noisy reads
_MAX_SEED_OCC = 16  # ignore seeds this repetitive in a region
_MIN_SEEDS = 3
_MIN_ALIGNED = 30  # reference bases a placement must span
_MIN_IDENTITY = 0.80
_CLIP_RUN = 8  # alignment ends are clipped back to this many consecutive matching columns
_NOISE_WINDOW = 10  # bases either side for the local noise estimate
_NOISE_FLOOR = 0.04
_MAX_SHIFT = 30  # largest heterozygous indel searched (bases)
_TRIM_ERROR = 0.05  # Mott error-probability limit (phred's default, Q13)

_IUPAC = {
    frozenset("A"): "A", frozenset("C"): "C", frozenset("G"): "G", frozenset("T"): "T",
    frozenset("AG"): "R", frozenset("CT"): "Y", frozenset("GT"): "K", frozenset("AC"): "M",
    frozenset("CG"): "S", frozenset("AT"): "W",
}  # fmt: skip
_CODE_SETS = {v: k for k, v in _IUPAC.items()}
_BASE_INDEX = {b: k for k, b in enumerate(BASES)}


# ------------------------------------------------------------------------------- data types


@dataclass(slots=True)
class Placement:
    """Where one (plus-strand view of a) trace aligns on one reference region.

    ``cols_read``/``cols_ref`` are the alignment columns (0-based read / region indexes; -1 marks
    a gap on that side).
    """

    region: ReferenceRegion
    strand: Literal["+", "-"]
    ref_start: int  # 0-based, inclusive, in region.sequence
    ref_end: int  # exclusive
    read_start: int  # plus-strand view index, inclusive
    read_end: int
    identity: float
    score: float
    cols_read: npt.NDArray[np.int64]
    cols_ref: npt.NDArray[np.int64]
    seeds: int
    runner_up: str | None = None  # next-best region/strand when it was close

    @property
    def genomic_start(self) -> int:
        return self.region.start + self.ref_start

    @property
    def genomic_end(self) -> int:
        return self.region.start + self.ref_end - 1


@dataclass(slots=True)
class TraceCall:
    """One variant seen in one trace, in region coordinates (VCF-style, plus strand)."""

    region: ReferenceRegion
    ref_index: int  # 0-based index of the VCF POS base in region.sequence
    ref: str
    alt: str
    genotype: str
    vaf: float
    quality: float
    read_index: int  # plus-strand view index of the (first) affected base
    kind: Literal["snv", "het_indel", "hom_indel"]
    evidence: dict[str, object] = field(default_factory=dict)

    @property
    def pos(self) -> int:
        return self.region.start + self.ref_index

    @property
    def key(self) -> tuple[str, int, str, str]:
        return (self.region.chrom, self.pos, self.ref, self.alt)


@dataclass(slots=True)
class TraceResult:
    """Everything learnt from one trace (used for merging and for the JSON details)."""

    trace: Trace  # plus-strand view when placed on '-'
    trim: tuple[int, int]  # 0-based half-open, file orientation
    placement: Placement | None
    reason: str | None
    calls: list[TraceCall] = field(default_factory=list)
    low_quality: list[TraceCall] = field(default_factory=list)
    indel_scan: dict[str, object] = field(default_factory=dict)
    covered: tuple[int, int] | None = None  # genomic, inclusive
    heights: npt.NDArray[np.float64] | None = None
    columns: _Columns | None = None


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


def _best_diagonal(read: str, sequence: str) -> tuple[int, int]:
    """(seed count, diagonal ref-read offset) of the densest diagonal band."""
    r_codes, r_pos = _kmers(read)
    if r_codes.size == 0:
        return 0, 0
    codes, pos = _region_index(sequence)
    lo = np.searchsorted(codes, r_codes, side="left")
    hi = np.searchsorted(codes, r_codes, side="right")
    cnt = hi - lo
    use = (cnt > 0) & (cnt <= _MAX_SEED_OCC)
    if not use.any():
        return 0, 0
    diags = np.concatenate(
        [pos[a:b] - rp for a, b, rp in zip(lo[use], hi[use], r_pos[use], strict=True)]
    )
    diags.sort()
    # densest window of width 24 (allows a few small indels along one diagonal)
    right = np.searchsorted(diags, diags + 24, side="right")
    counts = right - np.arange(len(diags))
    best = int(np.argmax(counts))
    band = diags[best : right[best]]
    return int(counts[best]), int(np.median(band))


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

    Returns ``(placement, reason)``; placement is None with a reason when nothing fits.
    ``read_range`` (file orientation) restricts the read to its usable part.
    """
    if heights is None:
        heights = trace.peak_heights()
    lo, hi = read_range if read_range is not None else (0, len(trace))
    if hi - lo < _MIN_ALIGNED:
        return None, f"only {hi - lo} usable bases after trimming"
    codes_fwd = iupac_read(heights, ratio)
    calls_fwd = "".join(BASES[k] for k in np.argmax(heights, axis=1).tolist())
    n = len(trace)
    candidates: list[tuple[int, int, ReferenceRegion, Literal["+", "-"]]] = []
    for region in references:
        seq = region.sequence.upper()
        for strand in ("+", "-"):
            calls = calls_fwd[lo:hi] if strand == "+" else _revcomp(calls_fwd[lo:hi])
            seeds, diag = _best_diagonal(calls, seq)
            if seeds >= _MIN_SEEDS:
                candidates.append((seeds, diag, region, strand))  # type: ignore[arg-type]
    if not candidates:
        return None, "no 12-base seed matches any reference region"
    candidates.sort(key=lambda c: -c[0])
    seeds, diag, region, strand = candidates[0]
    runner = None
    if len(candidates) > 1 and candidates[1][0] >= 0.8 * seeds:
        runner = f"{candidates[1][2].name}({candidates[1][3]})"
    # Align the whole read, not just the trimmed part: local alignment stops by itself where the
    # read turns to noise, and the mixed tail of a heterozygous indel is needed downstream.
    read = codes_fwd if strand == "+" else _revcomp(codes_fwd)
    diag = diag - (lo if strand == "+" else n - hi)
    seq = region.sequence.upper()
    w0 = max(0, diag - 60)
    w1 = min(len(seq), diag + len(read) + 60)
    res = _align(read, seq[w0:w1])
    if res is None:
        return None, "seeds found but local alignment failed"
    score, cols_read, cols_ref = res
    codes = codes_fwd if strand == "+" else _revcomp(codes_fwd)
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
        return None, "no stretch of the alignment is clean enough to anchor the read"
    windows = np.lib.stride_tricks.sliding_window_view(match, _CLIP_RUN)
    runs = np.asarray(windows.all(axis=1), dtype=bool)
    if not runs.any():
        return None, "no stretch of the alignment is clean enough to anchor the read"
    k0 = int(np.argmax(runs))
    k1 = int(len(runs) - 1 - np.argmax(runs[::-1])) + _CLIP_RUN
    cols_read, cols_ref, match = cols_read[k0:k1], cols_ref[k0:k1], match[k0:k1]
    both = (cols_read >= 0) & (cols_ref >= 0)
    ref_idx = cols_ref[both]
    ref_span = int(ref_idx.max() - ref_idx.min() + 1) if ref_idx.size else 0
    if ref_span < _MIN_ALIGNED:
        return None, f"best local alignment spans only {ref_span} reference bases"
    identity = float(match.mean())
    if identity < _MIN_IDENTITY:
        return None, f"best local alignment identity {identity:.2f} < {_MIN_IDENTITY}"
    return (
        Placement(
            region=region,
            strand=strand,  # type: ignore[arg-type]
            ref_start=int(ref_idx.min()),
            ref_end=int(ref_idx.max()) + 1,
            read_start=int(cols_read[cols_read >= 0].min()),
            read_end=int(cols_read[cols_read >= 0].max()) + 1,
            identity=round(identity, 4),
            score=score,
            cols_read=cols_read,
            cols_ref=cols_ref,
            seeds=seeds,
            runner_up=runner,
        ),
        "",
    )


# ------------------------------------------------------------------------------- calling


@dataclass(slots=True)
class _Columns:
    """Match columns of a placement with the signal at each (arrays indexed by column)."""

    read: npt.NDArray[np.int64]
    ref: npt.NDArray[np.int64]
    ref_base: npt.NDArray[np.int64]  # 0-3, -1 for N/ambiguity in the reference
    h: npt.NDArray[np.float64]  # (n, 4) peak heights
    hb: npt.NDArray[np.float64]  # (n, 4) peak heights without broad background (dye blobs)
    x: npt.NDArray[np.float64]  # heights / column max
    noise: npt.NDArray[np.float64]  # local secondary-peak level around each column


def _columns(
    view: Trace,
    heights: npt.NDArray[np.float64],
    pl: Placement,
    blob_free: npt.NDArray[np.float64],
) -> _Columns:
    both = (pl.cols_read >= 0) & (pl.cols_ref >= 0)
    ri, rj = pl.cols_read[both], pl.cols_ref[both]
    seq = np.frombuffer(pl.region.sequence.upper().encode("latin-1"), dtype=np.uint8)
    rb = _ENC[seq[rj]]
    h = heights[ri]
    top = h.max(axis=1)
    x = h / np.maximum(top, 1e-9)[:, None]
    second = np.sort(x, axis=1)[:, -2]
    n = len(second)
    w = _NOISE_WINDOW
    if n > 2 * w:
        padded = np.pad(second, w, mode="reflect")
        win = np.lib.stride_tricks.sliding_window_view(padded, 2 * w + 1)
        win = np.delete(win, w, axis=1)  # the column itself is not its own background
        noise = np.median(win, axis=1)
    else:
        noise = np.full(n, float(np.median(second)) if n else 0.0)
    return _Columns(ri, rj, rb, h, blob_free[ri], x, np.maximum(noise, _NOISE_FLOOR))


def peak_shape_flag(view: Trace, i: int, base: int) -> str | None:
    """Why channel ``base`` at read base ``i`` is not a genuine co-migrating peak, or None.

    A second allele's peak sits exactly under the called peak. Dye blobs (unincorporated dye
    terminators) are humps several bases wide: no trough halfway to the neighbouring peaks.
    Off-register peaks (their maximum half-way between two calls) are artefacts too. Sides whose
    neighbour is itself a ``base`` peak cannot be judged for a trough and are skipped.
    """
    ch = view.channels[BASES[base]]
    locs = view.peak_locations
    n = len(locs)
    if n < 3:
        return None
    p = int(locs[i])
    lo_nb, hi_nb = max(i - 1, 0), min(i + 1, n - 1)
    spacing = max((int(locs[hi_nb]) - int(locs[lo_nb])) / max(hi_nb - lo_nb, 1), 4.0)
    w = max(2, round(0.3 * spacing))
    a, b = max(1, p - w), min(len(ch) - 2, p + w)
    if b < a:
        return None
    mid = ch[a : b + 1]
    is_max = (mid >= ch[a - 1 : b]) & (mid >= ch[a + 1 : b + 2]) & (mid > 0)
    if not is_max.any():
        return "off_register_peak"  # only the flank of a peak centred elsewhere
    vp = float(mid.max())
    judged = []
    for nb in (i - 1, i + 1):
        if 0 <= nb < n and view.bases[nb] != BASES[base]:
            halfway = (p + int(locs[nb])) // 2
            judged.append(float(ch[halfway]) >= 0.7 * vp)
    if judged and all(judged):
        return "dye_blob_suspect"
    return None


def _snv_calls(
    view: Trace,
    pl: Placement,
    cols: _Columns,
    use: npt.NDArray[np.bool_],
    ratio: float,
) -> list[TraceCall]:
    """Substitutions at match columns flagged in ``use`` (all qualities; filtered later)."""
    calls: list[TraceCall] = []
    n = len(cols.read)
    for k in np.nonzero(use & (cols.ref_base >= 0))[0].tolist():
        r = int(cols.ref_base[k])
        # Reference peak as measured; alternatives above any broad hump (dye blob), so a blob
        # can neither add a secondary peak nor make an alternative look dominant.
        ref_h = float(cols.h[k, r])
        alts = np.maximum(cols.hb[k], 0.0)
        alts[r] = -1.0
        a = int(np.argmax(alts))
        alt_h = float(alts[a])
        if alt_h <= ref_h:
            minor = alt_h / max(ref_h, 1e-9)  # secondary relative to the reference peak
            if minor < ratio:
                continue
            genotype = "0/1"
        else:
            minor = ref_h / max(alt_h, 1e-9)  # reference peak relative to the alternative
            genotype = "0/1" if minor >= ratio else "1/1"
        i = int(cols.read[k])
        # A call next to an alignment gap is usually a misplaced indel, not a substitution.
        if k == 0 or k == n - 1 or cols.read[k + 1] - cols.read[k - 1] != 2:
            continue
        if cols.ref[k + 1] - cols.ref[k - 1] != 2:
            continue
        mu = float(cols.noise[k])
        if genotype == "0/1":
            # Excess of the secondary peak over the local background, in background units:
            # phred-scaled under an exponential noise model, shifted by one unit because the
            # observed tail of secondary peaks is heavier than exponential.
            q = 10.0 * math.log10(math.e) * (min(minor, 1.0) - mu) / mu
        else:
            # Homozygous: evidence is a clean alternative peak with no reference signal.
            q = min(float(view.qualities[i]), 10.0 * math.log10(math.e) * (1.0 - minor) / mu)
        flags: list[str] = []
        shape = peak_shape_flag(view, i, a)
        if shape is not None:
            flags.append(shape)
            q = min(q, 5.0)
        vaf = alt_h / (alt_h + ref_h) if alt_h + ref_h > 0 else 0.0
        calls.append(
            TraceCall(
                region=pl.region,
                ref_index=int(cols.ref[k]),
                ref=BASES[r],
                alt=BASES[a],
                genotype=genotype,
                vaf=round(vaf, 3),
                quality=round(min(q, 99.0), 1),
                read_index=i,
                kind="snv",
                evidence={
                    "peak_ratio": round(minor, 3),
                    "local_noise": round(mu, 3),
                    "heights": {
                        b: round(float(v), 1) for b, v in zip(BASES, cols.h[k], strict=True)
                    },
                    "flags": flags,
                },
            )
        )
    return calls


def _binom_tail_phred(k: int, n: int, p: float) -> float:
    """-10 log10 P(X >= k), X ~ Binomial(n, p), computed in log space (capped at 99)."""
    if k <= 0:
        return 0.0
    logs = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
        + i * math.log(p) + (n - i) * math.log1p(-p)
        for i in range(k, n + 1)
    ]  # fmt: skip
    m = max(logs)
    log_tail = m + math.log(sum(math.exp(v - m) for v in logs))
    return min(99.0, -10.0 * log_tail / math.log(10))


def _het_indel_scan(
    pl: Placement, cols: _Columns, ratio: float, max_shift: int = _MAX_SHIFT
) -> tuple[TraceCall | None, npt.NDArray[np.bool_], dict[str, object]]:
    """Find a heterozygous indel by decomposing the mixed tail of the trace.

    Works in sequencing order (the mixture follows the indel in the direction the polymerase
    read, i.e. towards lower plus-strand coordinates for a reverse read). Score of a breakpoint
    ``b`` and shift ``s``: columns before ``b`` should show one peak (the reference); columns from
    ``b`` on the reference plus ``ref[j + d*s]`` (d = +1 forward / -1 reverse; s > 0 deletion,
    s < 0 insertion). Returns (call or None, mask of mixed columns in plus-strand column order,
    details for the report).
    """
    seq = pl.region.sequence.upper()
    n = len(cols.read)
    info: dict[str, object] = {"searched": n >= 20}
    no_mix = np.zeros(n, dtype=bool)
    if n < 20:
        return None, no_mix, info
    d = 1 if pl.strand == "+" else -1
    order = np.arange(n) if d == 1 else np.arange(n)[::-1]
    r = cols.ref_base[order]
    ref_j = cols.ref[order]
    x = cols.x[order]
    known = r >= 0
    rows = np.arange(n)
    others = x.copy()
    others[rows, np.where(known, r, 0)] = -1.0
    mixed = others.max(axis=1) >= ratio
    null = np.where(known, np.where(mixed, -1.0, 1.0), 0.0)
    prefix = np.concatenate([[0.0], np.cumsum(null)])
    total_null = prefix[-1]
    seq_idx = _ENC[np.frombuffer(seq.encode("latin-1"), dtype=np.uint8)]
    last = len(seq) - 1
    best: tuple[float, int, int] | None = None
    per_shift: dict[int, float] = {}
    evid: dict[int, npt.NDArray[np.float64]] = {}
    for s in range(-max_shift, max_shift + 1):
        if s == 0:
            continue
        jj = ref_j + d * s
        a = np.where((jj >= 0) & (jj <= last), seq_idx[np.clip(jj, 0, last)], -1)
        ok = known & (a >= 0)
        xa = x[rows, np.clip(a, 0, 3)]
        e = np.where(ok & (a == r), null, 0.0)
        e = np.where(ok & (a != r), np.where(xa >= ratio, 1.0, -1.0), e)
        suffix = np.concatenate([np.cumsum(e[::-1])[::-1], [0.0]])
        # score[b]: reference only before b, mixture from b on. For an insertion the first
        # |s| mixed columns show the inserted bases (unknown here) and are left out.
        skip = max(0, -s)
        score = prefix.copy()
        score[: n + 1 - skip] += suffix[skip:]
        # Last maximum: a tie means the columns in between are uninformative (a repeat, or a
        # noise peak that neither model explains); the later breakpoint plus left-alignment
        # gives the correct normalised allele.
        b = n - int(np.argmax(score[::-1]))
        per_shift[s] = float(score[b] - total_null)
        evid[s] = e
        if best is None or per_shift[s] > best[0]:
            best = (per_shift[s], b, s)
    assert best is not None
    gain, b, s = best
    e = evid[s]
    runner = max(v for k, v in per_shift.items() if k != s)
    tail = slice(min(b + max(0, -s), n), n)
    jj = ref_j[tail] + d * s
    a_idx = np.where((jj >= 0) & (jj <= last), seq_idx[np.clip(jj, 0, last)], -1)
    disc = known[tail] & (a_idx >= 0) & (a_idx != r[tail])
    n_disc = int(disc.sum())
    n_expl = int((disc & (e[tail] > 0)).sum())
    mask = np.zeros(n, dtype=bool)
    mask[order[b:]] = True
    info.update(
        {
            "best_shift": s,
            "gain": round(gain, 1),
            "runner_up_gain": round(runner, 1),
            "discriminating_columns": n_disc,
            "explained_columns": n_expl,
        }
    )
    if n_disc < 8 or n_expl < 0.7 * n_disc or gain < 10 or gain < 2.0 * max(runner, 1.0):
        if b < n and n - b >= 20 and float(mixed[b:].mean()) >= 0.5:
            # Mixed from here on but no indel explains it: no substitution calls in there.
            info["unexplained_mixture_from_read_index"] = int(cols.read[order[b]])
            return None, mask, info
        return None, no_mix, info
    xs = x[tail][disc]
    ref_h = xs[np.arange(len(xs)), r[tail][disc]]
    alt_h = xs[np.arange(len(xs)), a_idx[disc]]
    vaf = float(np.median(alt_h / np.maximum(alt_h + ref_h, 1e-9)))
    # Junction peaks must look like the second allele does elsewhere in the tail, not like noise:
    # a substitution next to the indel needs a clear peak; an inserted base (which must be
    # something) only needs to beat the background.
    typical = float(np.median(alt_h)) if alt_h.size else 1.0
    junction_min = max(ratio, 0.6 * typical)
    insert_min = max(ratio, 0.4 * typical)
    allele = _junction_allele(seq, ref_j, others, known, b, s, d, junction_min, insert_min)
    if allele is None:
        return None, mask, info
    anchor, ref_allele, alt_allele = allele
    # Columns inside the variant's reference span belong to it, not to substitution calls.
    mask |= (cols.ref >= anchor) & (cols.ref < anchor + len(ref_allele))
    q = _binom_tail_phred(n_expl, n_disc, 0.4)
    call = TraceCall(
        region=pl.region,
        ref_index=anchor,
        ref=ref_allele,
        alt=alt_allele,
        genotype="0/1",
        vaf=round(vaf, 3),
        quality=round(q, 1),
        read_index=int(cols.read[order[b]]),
        kind="het_indel",
        evidence={
            "shift": s,
            "explained_columns": n_expl,
            "discriminating_columns": n_disc,
            "flags": [],
        },
    )
    return call, mask, info


def _junction_allele(
    seq: str,
    ref_j: npt.NDArray[np.int64],
    others: npt.NDArray[np.float64],
    known: npt.NDArray[np.bool_],
    b: int,
    s: int,
    d: int,
    min_peak: float,
    insert_min: float,
) -> tuple[int, str, str] | None:
    """The alternative allele at a heterozygous-indel breakpoint, VCF-style and normalised.

    Rebuilds the second haplotype over a window of columns (in sequencing order): the reference
    before the breakpoint, the *observed* non-reference peaks over a short junction zone (so
    inserted bases and edits such as CRISPR delins are read from the trace), and the shifted
    reference after it (so isolated noise further on cannot leak into the allele). Comparing it
    with the reference after trimming the common suffix, then prefix, gives the minimal change.
    Returns (0-based position, REF, ALT) or None.
    """
    n = len(ref_j)
    last = len(seq) - 1
    pre, post, flank = 4, max(0, -s) + 4, 12
    lo_k, hi_k = max(0, b - pre - flank), min(n, b + post + flank)
    js = ref_j[lo_k:hi_k]
    if len(js) < 2 or not (np.diff(js) == d).all():
        return None  # alignment gaps in the window: positions would be ambiguous
    alt: list[str] = []
    ins_len = max(0, -s)
    for k in range(lo_k, hi_k):
        j = int(ref_j[k])
        o = others[k]
        strong = bool(known[k] and o.max() >= min_peak)
        if k < b:
            alt.append(BASES[int(np.argmax(o))] if strong and k >= b - pre else seq[j])
        elif k < b + ins_len:  # inserted base: the second peak, or the reference base if none
            present = bool(known[k] and o.max() >= insert_min)
            alt.append(BASES[int(np.argmax(o))] if present else seq[j])
        else:
            jj = j + d * s
            if not 0 <= jj <= last:
                return None
            alt.append(BASES[int(np.argmax(o))] if strong and k < b + post else seq[jj])
    if d == 1:
        r0, r1 = int(js[0]), int(js[-1]) + s
        hap = "".join(alt)
    else:
        r0, r1 = int(js[-1]) - s, int(js[0])
        hap = "".join(reversed(alt))
    if r0 < 1 or r1 > last or r1 < r0 - 1:
        return None
    ref_seg = seq[r0 : r1 + 1]
    start = r0
    while ref_seg and hap and ref_seg[-1] == hap[-1]:
        ref_seg, hap = ref_seg[:-1], hap[:-1]
    while ref_seg and hap and ref_seg[0] == hap[0]:
        ref_seg, hap = ref_seg[1:], hap[1:]
        start += 1
    if ref_seg == hap:
        return None
    if not hap:  # pure deletion of ref_seg
        start = _left_align_deletion(seq, start, len(ref_seg))
        return start - 1, seq[start - 1 : start + len(ref_seg)], seq[start - 1]
    if not ref_seg:  # pure insertion of hap before seq[start]
        start, hap = _left_align_insertion(seq, start, hap)
        return start - 1, seq[start - 1], seq[start - 1] + hap
    return start, ref_seg, hap  # delins: no anchor base needed


def _left_align_deletion(seq: str, start: int, length: int) -> int:
    """Leftmost equivalent start of deleting ``seq[start:start+length]`` (VCF normalisation)."""
    while start > 1 and seq[start - 1] == seq[start + length - 1]:
        start -= 1
    return start


def _left_align_insertion(seq: str, start: int, ins: str) -> tuple[int, str]:
    """Leftmost equivalent position for inserting ``ins`` before ``seq[start]``."""
    while start > 1 and ins and seq[start - 1] == ins[-1]:
        ins = ins[-1] + ins[:-1]
        start -= 1
    return start, ins


def _gap_calls(
    view: Trace,
    pl: Placement,
    lo: int,
    hi: int,
    mixed_ref: tuple[int, int] | None,
    min_quality: int,
    noise_by_read: dict[int, float],
) -> list[TraceCall]:
    """Homozygous indels: alignment gaps inside the high-quality range with clean flanks."""
    seq = pl.region.sequence.upper()
    cr, cf = pl.cols_read, pl.cols_ref
    n = len(cr)
    calls: list[TraceCall] = []
    k = 0
    while k < n:
        if cr[k] >= 0 and cf[k] >= 0:
            k += 1
            continue
        g0 = k
        while k < n and (cr[k] < 0 or cf[k] < 0):
            k += 1
        g1 = k  # gap columns g0..g1-1
        left, right = cr[max(0, g0 - 6) : g0], cr[g1 : g1 + 6]
        if len(left) < 6 or len(right) < 6 or (left < 0).any() or (right < 0).any():
            continue
        if (cf[max(0, g0 - 6) : g0] < 0).any() or (cf[g1 : g1 + 6] < 0).any():
            continue
        if int(left[0]) < lo or int(right[-1]) >= hi:
            continue
        j_after = int(cf[g1])
        if mixed_ref is not None and mixed_ref[0] - 6 <= j_after <= mixed_ref[1] + 6:
            continue  # inside a two-allele mixture gaps are not homozygous indels
        flank = np.concatenate([left[-3:], right[:3]])
        # Basecaller quality of the flanks, capped by how clean the trace is around the gap.
        mu = max(float(noise_by_read.get(int(i), 1.0)) for i in flank.tolist())
        q = min(float(view.qualities[flank].min()), 10.0 * math.log10(math.e) * 0.5 / mu)
        deleted = [int(j) for j in cf[g0:g1] if j >= 0]
        inserted = [int(i) for i in cr[g0:g1] if i >= 0]
        if deleted and inserted:
            continue  # a gap on both sides is a local misalignment, not a clean indel
        if deleted:
            start = _left_align_deletion(seq, deleted[0], len(deleted))
            anchor = start - 1
            ref_allele, alt_allele = seq[anchor : start + len(deleted)], seq[anchor]
        else:
            ins = "".join(view.bases[i] for i in inserted)
            if set(ins) - set(BASES):
                continue
            start, ins = _left_align_insertion(seq, j_after, ins)
            anchor = start - 1
            ref_allele, alt_allele = seq[anchor], seq[anchor] + ins
        if anchor < 0 or q < min_quality:
            continue
        calls.append(
            TraceCall(
                region=pl.region,
                ref_index=anchor,
                ref=ref_allele,
                alt=alt_allele,
                genotype="1/1",
                vaf=1.0,
                quality=round(min(q, 99.0), 1),
                read_index=int(left[-1]),
                kind="hom_indel",
                evidence={"flank_min_quality": q, "flags": []},
            )
        )
    return calls


def analyse_trace(
    trace: Trace,
    references: Sequence[ReferenceRegion],
    *,
    ratio: float = 0.25,
    min_quality: int = 20,
) -> TraceResult:
    """Trim, place and call one trace. Calls below ``min_quality`` go to ``low_quality``."""
    heights = trace.peak_heights()
    trim = mott_trim(trace.qualities)
    placement, reason = place_trace(
        trace, references, ratio=ratio, read_range=trim, heights=heights
    )
    result = TraceResult(trace=trace, trim=trim, placement=placement, reason=reason or None)
    if placement is None:
        return result
    view = trace if placement.strand == "+" else trace.reverse_complement()
    vh = heights if placement.strand == "+" else view.peak_heights()
    result.trace, result.heights = view, vh
    n = len(trace)
    lo, hi = trim if placement.strand == "+" else (n - trim[1], n - trim[0])
    cols = _columns(view, vh, placement, blob_free_heights(view))
    result.columns = cols
    indel, mixed, info = _het_indel_scan(placement, cols, ratio)
    result.indel_scan = info
    use = (cols.read >= lo) & (cols.read < hi) & ~mixed
    calls = _snv_calls(view, placement, cols, use, ratio)
    mixed_ref = (int(cols.ref[mixed].min()), int(cols.ref[mixed].max())) if mixed.any() else None
    noise_by_read = dict(zip(cols.read.tolist(), cols.noise.tolist(), strict=True))
    calls += _gap_calls(view, placement, lo, hi, mixed_ref, min_quality, noise_by_read)
    if indel is not None:
        calls.append(indel)
    for c in sorted(calls, key=lambda c: c.ref_index):
        (result.calls if c.quality >= min_quality else result.low_quality).append(c)
    # Coverage: high-quality aligned span, up to the mixture (where substitutions are not seen).
    usable = cols.ref[use]
    if usable.size:
        g0 = placement.region.start + int(usable.min())
        g1 = placement.region.start + int(usable.max())
        if indel is not None:  # the breakpoint sits at the edge of the readable span
            g0 = min(g0, indel.pos)
            g1 = max(g1, indel.pos + len(indel.ref) - 1)
        result.covered = (g0, g1)
    return result


# ------------------------------------------------------------------------------- one sample


def _read_index_at(pl: Placement, ref_index: int) -> int | None:
    """Plus-view read index aligned to ``ref_index`` (nearest aligned column for gaps)."""
    hit = np.nonzero(pl.cols_ref == ref_index)[0]
    if hit.size == 0:
        return None
    k = int(hit[0])
    for d in range(0, 4):
        for kk in (k - d, k + d):
            if 0 <= kk < len(pl.cols_read) and pl.cols_read[kk] >= 0:
                return int(pl.cols_read[kk])
    return None


def _evidence_at(res: TraceResult, ref_index: int, alt: str) -> tuple[float | None, float | None]:
    """(peak fraction of ``alt``, local noise) at a reference position in one trace.

    Used to judge a trace that covers a variant another trace called: a clean trace with no
    ``alt`` signal contradicts the call; a noisy one, or one showing some ``alt``, does not.
    """
    cols = res.columns
    if cols is None or len(alt) != 1 or alt not in _BASE_INDEX:
        return None, None
    hit = np.nonzero(cols.ref == ref_index)[0]
    if hit.size == 0:
        return None, None
    k = int(hit[0])
    h = cols.h[k]
    total = float(h.sum())
    frac = round(float(h[_BASE_INDEX[alt]]) / total, 3) if total > 0 else None
    return frac, round(float(cols.noise[k]), 3)


def _trace_details(res: TraceResult, path: Path) -> dict[str, object]:
    """JSON-ready description of one trace's trim, placement and calls."""
    tr = res.trace
    d: dict[str, object] = {
        "trace": tr.file_name,
        "path": str(path),
        "format": tr.fmt,
        "sample_name_in_file": tr.sample_name,
        "bases": len(tr),
        "trim": {"start": res.trim[0] + 1, "end": res.trim[1]} if res.trim[1] > 0 else None,
        "placed": res.placement is not None,
        "warnings": list(tr.warnings),
    }
    pl = res.placement
    if pl is None:
        d["reason"] = res.reason
        return d
    ends = sorted((tr.file_position(pl.read_start), tr.file_position(pl.read_end - 1)))
    d["placement"] = {
        "region": pl.region.name,
        "gene": pl.region.gene,
        "chrom": pl.region.chrom,
        "strand": pl.strand,
        "start": pl.genomic_start,
        "end": pl.genomic_end,
        "identity": pl.identity,
        "trace_start": ends[0],
        "trace_end": ends[1],
        "seeds": pl.seeds,
        "runner_up": pl.runner_up,
    }
    d["covered"] = (
        {"chrom": pl.region.chrom, "start": res.covered[0], "end": res.covered[1]}
        if res.covered
        else None
    )
    d["het_indel_scan"] = _jsonable(res.indel_scan)
    d["calls"] = [_call_details(c, tr) for c in res.calls]
    d["below_min_quality"] = [_call_details(c, tr) for c in res.low_quality[:20]]
    d["below_min_quality_total"] = len(res.low_quality)
    return d


def _call_details(c: TraceCall, tr: Trace) -> dict[str, object]:
    return {
        "variant": f"{c.region.chrom}:{c.pos}:{c.ref}>{c.alt}",
        "kind": c.kind,
        "genotype": c.genotype,
        "vaf": c.vaf,
        "quality": c.quality,
        "trace_position": tr.file_position(c.read_index),
        "evidence": _jsonable(c.evidence),
    }


def _jsonable(v: object) -> object:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _merge_intervals(iv: list[tuple[str, int, int]]) -> list[CoveredInterval]:
    """Union of per-trace covered spans (forward and reverse reads usually overlap)."""
    out: list[tuple[str, int, int]] = []
    for chrom, a, b in sorted(iv):
        if out and out[-1][0] == chrom and a <= out[-1][2] + 1:
            out[-1] = (chrom, out[-1][1], max(out[-1][2], b))
        else:
            out.append((chrom, a, b))
    return [CoveredInterval(chrom=c, start=a, end=b, source="trace") for c, a, b in out]


def call_traces(
    paths: Sequence[str | Path],
    *,
    sample: str | None,
    references: Sequence[ReferenceRegion],
    ratio: float = 0.25,
    min_quality: int = 20,
    plot_dir: Path | None = None,
    highlight: Sequence[tuple[str, int]] = (),
) -> InputBatch:
    """Call variants from the Sanger traces of ONE sample (e.g. forward + reverse read).

    Observations are VCF-style on the plus strand in the regions' coordinates (``chrom`` =
    ``ReferenceRegion.chrom``), one per distinct variant; a variant called by one trace but not
    by another trace covering it carries the filter ``trace_disagreement`` and is listed in
    ``details['disagreements']``. ``highlight`` positions inside a placed read get a plot too.
    Unreadable traces raise :class:`~varannot.errors.InputError`.
    """
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"ratio must be between 0 and 1, got {ratio}")
    files = [Path(p) for p in paths]
    traces = [read_trace(p) for p in files]
    sample_id = sample or (traces[0].name if traces else "sample")
    batch = InputBatch(
        source=",".join(str(p) for p in files),
        kind="trace",
        samples=[sample_id],
        records_read=len(traces),
        skipped=SkipReport(),
    )
    results = [analyse_trace(t, references, ratio=ratio, min_quality=min_quality) for t in traces]
    intervals: list[tuple[str, int, int]] = []
    for res, path in zip(results, files, strict=True):
        if res.placement is None:
            batch.skipped.add(NOT_PLACED, f"{path.name}: {res.reason}")
        elif res.covered is not None:
            intervals.append((res.placement.region.chrom, res.covered[0], res.covered[1]))

    # Merge per-trace calls into one observation per variant.
    groups: dict[tuple[str, int, str, str], list[tuple[int, TraceCall]]] = {}
    for t_idx, res in enumerate(results):
        for c in res.calls:
            groups.setdefault(c.key, []).append((t_idx, c))
    disagreements: list[dict[str, object]] = []
    observations: list[Observation] = []
    best_calls: list[tuple[int, TraceCall]] = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2], k[3])):
        members = groups[key]
        chrom, pos, ref, alt = key
        callers = {t for t, _ in members}
        covering = [
            t
            for t, res in enumerate(results)
            if res.placement is not None
            and res.covered is not None
            and res.placement.region.chrom == chrom
            and res.covered[0] <= pos <= res.covered[1]
        ]
        silent = [t for t in covering if t not in callers]
        genotypes = sorted({c.genotype for _, c in members})
        t_best, best = max(members, key=lambda m: m[1].quality)
        flags: list[str] = []
        filters: tuple[str, ...] = ()
        if silent:
            entry: dict[str, object] = {
                "variant": f"{chrom}:{pos}:{ref}>{alt}",
                "called_in": [results[t].trace.file_name for t in sorted(callers)],
                "not_called_in": [],
            }
            contradicted = False
            for t in silent:
                res = results[t]
                frac, noise = _evidence_at(res, best.ref_index, alt)
                low = [c for c in res.low_quality if c.key == key]
                # A readable trace without the alternative peak contradicts the call (a real
                # heterozygote shows ~0.3-0.5 of the signal there); a noisy one, or one showing
                # some of the peak below the quality bar, is inconclusive.
                clean_absent = (
                    frac is not None
                    and noise is not None
                    and frac < min(0.1, 0.35 * best.vaf)
                    and noise <= 0.15
                )
                contradicted |= clean_absent
                entry["not_called_in"].append(  # type: ignore[attr-defined]
                    {
                        "trace": res.trace.file_name,
                        "alt_peak_fraction": frac,
                        "local_noise": noise,
                        "below_min_quality": low[0].quality if low else None,
                        "verdict": "contradicts" if clean_absent else "inconclusive",
                    }
                )
            if contradicted:
                filters = ("trace_disagreement",)
            else:
                flags.append("other_trace_inconclusive")
            disagreements.append(entry)
        if len(genotypes) > 1:
            flags.append("genotype_disagreement")
            disagreements.append(
                {
                    "variant": f"{chrom}:{pos}:{ref}>{alt}",
                    "genotypes": {results[t].trace.file_name: c.genotype for t, c in members},
                }
            )
        if len(members) > 1:
            flags.append(f"confirmed_by_{len(members)}_traces")
        elif not silent:
            flags.append("single_trace")
        shape_flags = best.evidence.get("flags", [])
        if isinstance(shape_flags, list):
            flags.extend(f for f in shape_flags if isinstance(f, str))
        first_t = min(callers)
        quality = min(99.0, sum(c.quality for _, c in members))
        vaf = round(float(np.mean([c.vaf for _, c in members])), 3)
        observations.append(
            Observation(
                sample=sample_id,
                chrom=chrom,
                pos=pos,
                ref=ref,
                alt=alt,
                source=str(files[t_best]),
                record="; ".join(
                    f"{results[t].trace.file_name} trace position "
                    f"{results[t].trace.file_position(c.read_index)}"
                    for t, c in members
                ),
                genotype=best.genotype,
                vaf=vaf,
                vaf_source=VAF_SOURCE,
                filters=filters,
                quality=round(quality, 1),
                origin="trace",
                read_group=results[first_t].trace.file_name,
                extra_flags=tuple(flags),
            )
        )
        best_calls.append((t_best, best))

    batch.observations = observations
    if intervals:
        batch.coverage[sample_id] = _merge_intervals(intervals)
    plots: list[dict[str, object]] = []
    if plot_dir is not None:
        plots = _make_plots(results, best_calls, highlight, plot_dir, sample_id)
    batch.details = {
        "traces": [_trace_details(r, p) for r, p in zip(results, files, strict=True)],
        "disagreements": disagreements,
        "plots": plots,
        "parameters": {"ratio": ratio, "min_quality": min_quality},
    }
    return batch


def _safe(s: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in s)[:80]


def _ref_bases(res: TraceResult, center: int, half: int) -> dict[int, str]:
    pl = res.placement
    assert pl is not None
    seq = pl.region.sequence.upper()
    out: dict[int, str] = {}
    for i, j in zip(pl.cols_read.tolist(), pl.cols_ref.tolist(), strict=True):
        if i >= 0 and abs(i - center) <= half:
            out[i] = seq[j] if j >= 0 else "-"
    return out


def _make_plots(
    results: list[TraceResult],
    best_calls: list[tuple[int, TraceCall]],
    highlight: Sequence[tuple[str, int]],
    plot_dir: Path,
    sample_id: str,
) -> list[dict[str, object]]:
    from .traceplot import plot_trace_site

    plot_dir.mkdir(parents=True, exist_ok=True)
    made: list[dict[str, object]] = []
    for t, c in best_calls:
        res = results[t]
        name = f"{_safe(sample_id)}__{_safe(c.region.chrom)}_{c.pos}_{_safe(c.ref[:10])}_{_safe(c.alt[:10])}.png"
        out = plot_trace_site(
            res.trace,
            c.read_index,
            plot_dir / name,
            ref_bases=_ref_bases(res, c.read_index, 12),
            title=f"{sample_id} {res.trace.file_name}: {c.region.chrom}:{c.pos} {c.ref}>{c.alt} "
            f"{c.genotype} VAF~{c.vaf:.2f} Q{c.quality:.0f}",
        )
        made.append(
            {
                "variant": f"{c.region.chrom}:{c.pos}:{c.ref}>{c.alt}",
                "trace": res.trace.file_name,
                "path": str(out),
            }
        )
    for chrom, pos in highlight:
        for res in results:
            pl = res.placement
            if pl is None or res.covered is None or pl.region.chrom != chrom:
                continue
            if not res.covered[0] <= pos <= res.covered[1]:
                continue
            i = _read_index_at(pl, pos - pl.region.start)
            if i is None:
                continue
            name = f"{_safe(sample_id)}__{_safe(chrom)}_{pos}_highlight.png"
            out = plot_trace_site(
                res.trace,
                i,
                plot_dir / name,
                ref_bases=_ref_bases(res, i, 12),
                title=f"{sample_id} {res.trace.file_name}: {chrom}:{pos} (highlighted)",
            )
            made.append(
                {"position": f"{chrom}:{pos}", "trace": res.trace.file_name, "path": str(out)}
            )
            break
    return made
