"""Shared vocabulary of the Sanger caller: tuning constants, IUPAC tables and the result types.

:class:`Placement` (where a trace sits on a reference region), :class:`TraceCall` (one called
variant with its peak evidence) and :class:`TraceResult` (everything learned from one trace) are
passed between trimming, placement, calling and merging; keeping them and the thresholds in one
module lets each step import them without importing the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from ..models import ReferenceRegion
from ..readers.trace import BASES, Trace

NOT_PLACED = "trace not placed on any reference region"
# Why a trace gave no evidence at all (skip-report reasons; every drug is then not assessed).
TOO_SHORT = "trace too short"
FAILED_QUALITY = "trace failed quality"
TraceStatus = Literal["placed", "not_placed", "too_short", "failed_quality"]
STATUS_REASON: dict[str, str] = {
    "not_placed": NOT_PLACED,
    "too_short": TOO_SHORT,
    "failed_quality": FAILED_QUALITY,
}
VAF_SOURCE = "trace peak ratio"

_K = 12  # seed length: unique enough in a 200 kb gene region, short enough for noisy reads
_MAX_SEED_OCC = 16  # ignore seeds this repetitive in a region
_MIN_SEEDS = 3
# Placement acceptance. Real amplicons (VWF exon reads, 45-690 bp at identity >= 0.99; the
# Indigo het-deletion read, 0.987) pass; the junk seen in the field fails: an EMBOSS test read
# on TP53 over 34 bp at 0.86, a bacterial read on BAX over 30 bp, an Alu cDNA read at 0.848.
_MIN_CALLS = 40  # base calls a read needs at all (fewer: "too short")
_MIN_ALIGNED = 40  # reference bases a placement must span
_MIN_IDENTITY = 0.90
# A read must be mostly explained: at least this share of its high-quality bases aligned ...
_MIN_EXPLAINED = 0.5
# ... unless the aligned part is near-perfect (an exon read against a cDNA/exon reference).
_PARTIAL_IDENTITY = 0.97
# The best placement must beat the next-best one elsewhere by this score ratio (uniqueness).
_UNIQUE_RATIO = 0.9
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
    runner_up: str | None = None  # next-best placement elsewhere, when there was one
    explained: float = 1.0  # share of the read's high-quality bases inside the alignment

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
    status: TraceStatus = "placed"
    calls: list[TraceCall] = field(default_factory=list)
    low_quality: list[TraceCall] = field(default_factory=list)
    indel_scan: dict[str, object] = field(default_factory=dict)
    covered: tuple[int, int] | None = None  # genomic, inclusive
    # Sites inside ``covered`` that are NOT evidence of wild type (a call was dropped there, or
    # an indel could not be resolved): genomic inclusive spans with the reason.
    holes: list[tuple[int, int, str]] = field(default_factory=list)
    heights: npt.NDArray[np.float64] | None = None
    columns: _Columns | None = None


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
