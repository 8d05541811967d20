"""Indels: homozygous ones from clean alignment gaps, heterozygous ones by decomposition.

Downstream of a heterozygous indel the trace is the reference superposed on the reference shifted
by the indel length (as in Tracy/Indigo); :func:`_het_indel_scan` scores each shift and breakpoint
and :func:`_junction_allele` reads the inserted/deleted bases at the junction. Alleles are
left-aligned so they match VCF-derived HGVS.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ..readers.trace import BASES, Trace
from .model import _MAX_SHIFT, Placement, TraceCall, _Columns
from .place import _ENC
from .snv import _binom_tail_phred


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
    if b < n:
        info["breakpoint_ref_index"] = int(ref_j[b])
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
        info["unresolved"] = f"a {abs(s)}-base shift explains the mixture but not its junction"
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


def compound_suspect(pl: Placement, breakpoint: int, shift: int) -> bool:
    """Whether the alignment itself has a gap at a heterozygous-indel breakpoint.

    The decomposition measures the shift *between* the two alleles and assumes one of them is
    the reference. When the alignment needs a gap right there, the allele it follows is not
    the reference either: two different non-reference alleles (compound het, GT 1/2), which
    one shift cannot describe (it gave a 0/1 indel of the wrong size, or nothing).
    """
    gap = (pl.cols_read < 0) | (pl.cols_ref < 0)
    if not gap.any():
        return False
    ref_at = np.maximum.accumulate(np.where(pl.cols_ref >= 0, pl.cols_ref, -1))
    near = np.abs(ref_at[gap] - breakpoint) <= abs(shift) + 8
    return bool(near.any())


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
    noise_by_read: dict[int, float],
) -> tuple[list[TraceCall], list[tuple[int, int, str]]]:
    """Homozygous indels: alignment gaps inside the high-quality range with clean flanks.

    Returns the calls (at any quality: the caller sorts out the weak ones, which are listed,
    never dropped) and the gaps that could not become a call, as (first, last region index,
    reason): such a site is not evidence of wild type and is carved out of coverage.
    """
    seq = pl.region.sequence.upper()
    cr, cf = pl.cols_read, pl.cols_ref
    n = len(cr)
    calls: list[TraceCall] = []
    dropped: list[tuple[int, int, str]] = []
    k = 0
    while k < n:
        if cr[k] >= 0 and cf[k] >= 0:
            k += 1
            continue
        g0 = k
        while k < n and (cr[k] < 0 or cf[k] < 0):
            k += 1
        g1 = k  # gap columns g0..g1-1
        refs_near = [int(j) for j in cf[max(0, g0 - 1) : g1 + 1] if j >= 0]
        span = (min(refs_near), max(refs_near)) if refs_near else None
        reads_near = [int(i) for i in cr[max(0, g0 - 1) : g1 + 1] if i >= 0]
        if not reads_near or max(reads_near) < lo or min(reads_near) >= hi:
            continue  # outside the high-quality range: not in coverage anyway

        def drop(reason: str, span: tuple[int, int] | None = span) -> None:
            if span is not None:
                dropped.append((span[0], span[1], reason))

        left, right = cr[max(0, g0 - 6) : g0], cr[g1 : g1 + 6]
        if len(left) < 6 or len(right) < 6 or (left < 0).any() or (right < 0).any():
            drop("alignment gap without 6 clean aligned bases on each side")
            continue
        if (cf[max(0, g0 - 6) : g0] < 0).any() or (cf[g1 : g1 + 6] < 0).any():
            drop("alignment gap without 6 clean aligned bases on each side")
            continue
        if int(left[0]) < lo or int(right[-1]) >= hi:
            drop("alignment gap at the edge of the high-quality range")
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
            drop("gap on both sides of the alignment (local misalignment, not a clean indel)")
            continue
        if deleted:
            start = _left_align_deletion(seq, deleted[0], len(deleted))
            anchor = start - 1
            ref_allele, alt_allele = seq[anchor : start + len(deleted)], seq[anchor]
        else:
            ins = "".join(view.bases[i] for i in inserted)
            if set(ins) - set(BASES):
                drop(f"inserted bases {ins!r} include ambiguous calls")
                continue
            start, ins = _left_align_insertion(seq, j_after, ins)
            anchor = start - 1
            ref_allele, alt_allele = seq[anchor], seq[anchor] + ins
        if anchor < 0:
            drop("indel at the start of the reference region")
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
    return calls, dropped
