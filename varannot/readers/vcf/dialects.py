"""Caller dialects: which FORMAT/INFO fields give a sample's depth, allele counts and VAF.

Callers disagree on where allele evidence lives (GATK ``AD``, ``AF``; Strelka's per-base
``AU/CU/GU/TU`` tiers and ``TAR/TIR``; VarScan ``FREQ``/``RD``/``AD``; freebayes ``RO``/``AO``;
``DP4`` ...). This module holds the field tables, the small typed parsers and :func:`_counts`,
which picks the best available source per sample and ALT and names it, so a new caller is
supported by editing this file alone. It also holds the skip reasons shared by the readers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

# --------------------------------------------------------------------------------------------
# Shared record interpretation
# --------------------------------------------------------------------------------------------

_END_RE = re.compile(r"(?:^|;)END=(\d+)")
_SEQ_RE = re.compile(r"[A-Za-z]+")
_GT_SPLIT = re.compile(r"[/|]")
# A GT (first FORMAT key) naming an allele index >= 1: the only samples worth a Python object.
_CARRIER_RE = re.compile(r"(?:^|\t)[^\t:]*[1-9]")
_PLACEHOLDERS = frozenset({"<NON_REF>", "<*>", "<X>"})
_MISSING = frozenset({"", "."})
_STRELKA_TIERS = ("AU", "CU", "GU", "TU")
_KEYS = (
    "GT", "AD", "DP", "AF", "FA", "FREQ", "RD", "AO", "RO", "DP4", "AU", "CU", "GU", "TU",
    "TAR", "TIR", "PS", "PGT", "PID", "MIN_DP", "FT", "NR", "NV",
)  # fmt: skip
_COUNT_KEYS = frozenset(_KEYS) - {"GT", "DP", "PS", "PGT", "PID", "MIN_DP", "FT"}

# Variant-site coverage is buffered until the file shows a reference block (then it is a gVCF
# and the buffer becomes coverage) or this many records pass without one (then it is discarded).
_TENTATIVE_RECORDS = 10_000
CovSource = Literal["gvcf_block", "variant_site"]

REASON_SYMBOLIC = "symbolic ALT"
REASON_SPANNING = "spanning deletion (*)"
REASON_BREAKEND = "breakend"
REASON_NO_CARRIER = "no sample carries an ALT allele"
# Same text for both backends so their skip reports compare equal.
REASON_PARSER = "malformed record: rejected by the VCF parser"
REASON_NO_DATA = "no genotype or allele counts to attribute the ALT to a sample"
REASON_POS_LOW = "malformed record: POS is below 1"
REASON_POS_HIGH = "malformed record: POS is beyond the contig length stated in the header"
REASON_DUPLICATE = "duplicate record: identical to an earlier record (kept once)"
# gVCF/VCF no-call ('./.') whose allele counts show an ALT: reported, never coverage or a call
REASON_NOCALL_BLOCK = "reference block with a no-call genotype (not coverage)"
REASON_NOCALL_ALT = "no-call genotype with reads for an ALT allele (locus not assessed)"


def _alt_kind(alt: str) -> str:
    """'seq', 'placeholder' (gVCF any-other-allele), 'missing', or a skip reason."""
    if alt == ".":
        return "missing"
    if alt in _PLACEHOLDERS:
        return "placeholder"
    if alt == "*":
        return REASON_SPANNING
    if "[" in alt or "]" in alt:
        return REASON_BREAKEND
    if alt.startswith("<"):
        return REASON_SYMBOLIC
    if len(alt) > 1 and (alt[0] == "." or alt[-1] == "."):
        return REASON_BREAKEND
    if _SEQ_RE.fullmatch(alt):
        return "seq"
    return "malformed record: invalid ALT allele"


def _num(v: str | None) -> int | None:
    if v is None or v in _MISSING:
        return None
    try:
        return int(v)
    except ValueError:
        try:
            return int(float(v))
        except ValueError:
            return None


def _flt(v: str | None) -> float | None:
    if v is None or v in _MISSING:
        return None
    try:
        return float(v)
    except ValueError:
        return None


def _ints(v: str | None) -> list[int | None] | None:
    return None if v is None else [_num(x) for x in v.split(",")]


def _pick(values: list[Any] | None, k: int, n_alts: int, number: str | None) -> Any:
    """Per-allele value for ALT ``k`` from a Number=R (ref first) or Number=A list."""
    if not values:
        return None
    if number == "R" or (number != "A" and len(values) == n_alts + 1):
        return values[k] if len(values) == n_alts + 1 else None
    if number == "A" or len(values) == n_alts:
        return values[k - 1] if len(values) == n_alts else None
    return None


def _parse_gt(gt: str) -> list[int | None] | None:
    """Allele indexes of a GT string (None = missing); None when the GT is malformed."""
    if gt[:1] in ("/", "|"):  # VCF 4.4 explicit phasing prefix
        gt = gt[1:]
    out: list[int | None] = []
    for a in _GT_SPLIT.split(gt):
        if a == ".":
            out.append(None)
        elif a.isdigit():
            out.append(int(a))
        else:
            return None
    return out


class _Fmt:
    """Index of the FORMAT keys the reader uses (cached per distinct FORMAT string)."""

    __slots__ = ("idx", "gt", "has_counts", "has_dp", "has_ps", "has_pgt", "has_ft")

    def __init__(self, fmt: str):
        keys = fmt.split(":") if fmt not in _MISSING else []
        idx: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k in _KEYS and k not in idx:
                idx[k] = i
        self.idx = idx
        self.gt = idx.get("GT")
        self.has_counts = bool(_COUNT_KEYS.intersection(idx))
        self.has_dp, self.has_ps, self.has_pgt = "DP" in idx, "PS" in idx, "PGT" in idx
        self.has_ft = "FT" in idx


@dataclass(frozen=True, slots=True)
class _GT:
    alleles: tuple[int | None, ...]
    carried: tuple[int, ...]  # distinct ALT indexes (>= 1), sorted
    phased: bool
    haps: dict[int, tuple[int, ...]]  # ALT index -> GT positions carrying it


@dataclass(slots=True)
class _Site:
    """The per-record facts every sample of the record shares."""

    chrom: str
    pos: int
    ref: str
    ref_end: int
    alts: list[str]
    kinds: list[str]
    n_alts: int
    label: str
    filters: tuple[str, ...]
    qual: float | None


def _val(vals: list[str], idx: dict[str, int], key: str) -> str | None:
    i = idx.get(key)
    if i is None or i >= len(vals):
        return None
    v = vals[i]
    return None if v in _MISSING else v


@dataclass(slots=True)
class _Counts:
    depth: int | None = None
    alt_depth: int | None = None
    vaf: float | None = None
    vaf_source: str | None = None


def _counts(
    vals: list[str], f: _Fmt, numbers: dict[str, str], ref: str, alt: str, k: int, n_alts: int
) -> _Counts:
    """Depth, ALT depth and VAF for ALT ``k`` from whatever the caller wrote.

    Preference: Strelka tier-1 counts, VarScan FREQ, FORMAT/AF (Mutect2, RADIA), FORMAT/FA
    (MuTect1), then a ratio of allele counts (AD, freebayes AO/RO, DP4, Platypus NR/NV).
    """
    idx = f.idx
    c = _Counts(depth=_num(_val(vals, idx, "DP")))
    total: int | None = None
    src: str | None = None
    # Strelka somatic SNVs: {A,C,G,T}U = tier1,tier2 counts per base.
    if "AU" in idx and len(ref) == 1 and len(alt) == 1 and alt in "ACGT" and ref in "ACGT":
        tiers = {b: _ints(_val(vals, idx, b + "U")) for b in "ACGT"}
        if all(t for t in tiers.values()):
            firsts = [t[0] or 0 for t in tiers.values() if t]
            total = sum(firsts)
            c.alt_depth = (tiers[alt] or [0])[0] or 0
            src = "Strelka AU/CU/GU/TU"
            c.depth = total
    elif "TIR" in idx and "TAR" in idx:  # Strelka somatic indels
        tir, tar = _ints(_val(vals, idx, "TIR")), _ints(_val(vals, idx, "TAR"))
        if tir and tar and tir[0] is not None and tar[0] is not None:
            c.alt_depth, total, src = tir[0], tir[0] + tar[0], "Strelka TIR"
            c.depth = total
    if src is None:
        ad = _ints(_val(vals, idx, "AD"))
        if ad is not None and len(ad) == n_alts + 1:
            c.alt_depth = ad[k]
            if None not in ad:
                total = sum(x for x in ad if x is not None)
            src = "FORMAT/AD"
        elif ad is not None and len(ad) == n_alts and numbers.get("AD") != "R":
            # VarScan: AD = ALT reads, RD = REF reads
            c.alt_depth = ad[k - 1]
            rd = _num(_val(vals, idx, "RD"))
            if rd is not None and c.alt_depth is not None and n_alts == 1:
                total = rd + c.alt_depth
            src = "FORMAT/AD"
        elif "AO" in idx:
            ao = _ints(_val(vals, idx, "AO"))
            ro = _num(_val(vals, idx, "RO"))
            if ao is not None and len(ao) == n_alts:
                c.alt_depth = ao[k - 1]
                if ro is not None and None not in ao:
                    total = ro + sum(x for x in ao if x is not None)
                src = "freebayes AO/RO"
        elif "DP4" in idx and n_alts == 1:
            dp4 = _ints(_val(vals, idx, "DP4"))
            if dp4 is not None and len(dp4) == 4 and None not in dp4:
                d = [x or 0 for x in dp4]
                c.alt_depth, total, src = d[2] + d[3], sum(d), "FORMAT/DP4"
        elif "NV" in idx and "NR" in idx:
            nv, nr = _ints(_val(vals, idx, "NV")), _ints(_val(vals, idx, "NR"))
            c.alt_depth = _pick(nv, k, n_alts, "A")
            t = _pick(nr, k, n_alts, "A")
            if t is not None:
                total, src = t, "Platypus NR/NV"
    if c.depth is None and total is not None:
        c.depth = total
    # Explicit fractions written by the caller beat our own ratio.
    freq = _val(vals, idx, "FREQ")
    if freq is not None and n_alts == 1:
        v = _flt(freq.rstrip("%"))
        if v is not None:
            c.vaf, c.vaf_source = v / 100.0 if freq.endswith("%") else v, "VarScan FREQ"
    if c.vaf is None:
        for key in ("AF", "FA"):
            raw = _val(vals, idx, key)
            if raw is not None:
                v = _pick([_flt(x) for x in raw.split(",")], k, n_alts, numbers.get(key))
                if v is not None:
                    c.vaf, c.vaf_source = v, f"FORMAT/{key}"
                    break
    if c.vaf is None and src is not None and total and c.alt_depth is not None:
        c.vaf, c.vaf_source = c.alt_depth / total, src
    if c.vaf is not None:
        c.vaf = round(c.vaf, 6)
    return c
