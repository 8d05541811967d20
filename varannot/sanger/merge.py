"""One trace end to end (:func:`analyse_trace`) and one sample from many traces (:func:`call_traces`).

:func:`call_traces` reads the files, analyses each trace, merges forward and reverse reads of the
same amplicon into per-sample observations with their best evidence, turns the trimmed aligned
spans into covered intervals (so untouched loci are reported as not assessed) and counts traces
that could not be placed. It is the only part of the caller that touches files, including the
optional evidence plots.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..models import CoveredInterval, InputBatch, Observation, ReferenceRegion, SkipReport
from ..readers.trace import Trace, read_trace
from .indel import _gap_calls, _het_indel_scan, compound_suspect
from .model import (
    _BASE_INDEX,
    _MIN_ALIGNED,
    _MIN_CALLS,
    _MIN_EXPLAINED,
    STATUS_REASON,
    VAF_SOURCE,
    Placement,
    TraceCall,
    TraceResult,
)
from .place import place_trace
from .snv import _columns, _snv_calls
from .trim import blob_free_heights, mott_trim
from .window import trace_windows


def analyse_trace(
    trace: Trace,
    references: Sequence[ReferenceRegion],
    *,
    ratio: float = 0.25,
    min_quality: int = 20,
    guard: Sequence[tuple[str, str, int, int]] = (),
) -> TraceResult:
    """Trim, place and call one trace. Calls below ``min_quality`` go to ``low_quality``.

    ``guard`` (label, chrom, start, end) names the residues that matter (knowledge-base codons):
    a weak heterozygous peak there is an unsettled question, not wild type, so its base is
    carved out of coverage; elsewhere a weak secondary peak only stays listed.
    """
    trim = mott_trim(trace.qualities)
    n_calls = sum(b in "ACGT" for b in trace.bases)
    if n_calls < _MIN_CALLS:
        why = f"too short: {n_calls} base calls (A/C/G/T) in {len(trace)}; at least {_MIN_CALLS} needed"
        return TraceResult(trace, trim, None, why, status="too_short")
    if trim[1] - trim[0] < _MIN_ALIGNED:
        why = (
            f"failed quality: only {trim[1] - trim[0]} usable bases after quality trimming "
            f"(at least {_MIN_ALIGNED} needed)"
        )
        return TraceResult(trace, trim, None, why, status="failed_quality")
    heights = trace.peak_heights()
    placement, reason = place_trace(
        trace, references, ratio=ratio, read_range=trim, heights=heights
    )
    result = TraceResult(trace=trace, trim=trim, placement=placement, reason=reason or None)
    if placement is None:
        result.status = "not_placed"
        result.reason = f"not placed: {reason}"
        return result
    if placement.explained < _MIN_EXPLAINED:
        trace.warnings.append(
            f"only {placement.explained:.0%} of the high-quality bases align to "
            f"{placement.region.name} (an exon read against a cDNA reference?); coverage is the "
            "aligned span only"
        )
    view = trace if placement.strand == "+" else trace.reverse_complement()
    vh = heights if placement.strand == "+" else view.peak_heights()
    result.trace, result.heights = view, vh
    n = len(trace)
    lo, hi = trim if placement.strand == "+" else (n - trim[1], n - trim[0])
    cols = _columns(view, vh, placement, blob_free_heights(view))
    result.columns = cols
    indel, mixed, info = _het_indel_scan(placement, cols, ratio)
    bp, shift = info.get("breakpoint_ref_index"), info.get("best_shift")
    if (
        mixed.any()
        and isinstance(bp, int)
        and isinstance(shift, int)
        and (compound_suspect(placement, bp, shift) or "unresolved" in info)
    ):
        # Two alleles that are not "reference + one indel": say so, call nothing there.
        why = str(info.get("unresolved") or "two different non-reference alleles (compound "
                  "heterozygous indels?) that one shift cannot describe")  # fmt: skip
        info["unresolved"] = why
        g = placement.region.start + bp
        result.holes.append(
            (g - abs(shift) - 1, g + abs(shift) + 1, f"indel site not resolved: {why}")
        )
        indel = None
    result.indel_scan = info
    use = (cols.read >= lo) & (cols.read < hi) & ~mixed
    calls = _snv_calls(view, placement, cols, use, ratio)
    mixed_ref = (int(cols.ref[mixed].min()), int(cols.ref[mixed].max())) if mixed.any() else None
    noise_by_read = dict(zip(cols.read.tolist(), cols.noise.tolist(), strict=True))
    gaps, dropped = _gap_calls(view, placement, lo, hi, mixed_ref, noise_by_read)
    calls += gaps
    if indel is not None:
        calls.append(indel)
    start = placement.region.start
    for j0, j1, why in dropped:
        result.holes.append((start + j0, start + j1, why))
    for c in sorted(calls, key=lambda c: c.ref_index):
        if c.quality >= min_quality:
            result.calls.append(c)
            continue
        result.low_quality.append(c)
        # An indel or a homozygous substitution below the bar is still a clean departure from
        # the reference: its site is unresolved, not wild type. A weak heterozygous secondary
        # peak is what every trace has somewhere; it stays listed, and the site covered.
        why = f"{c.kind} call {c.ref}>{c.alt} below min quality (Q{c.quality:g} < {min_quality})"
        if c.kind != "snv" or c.genotype == "1/1":
            result.holes.append((c.pos, c.pos + max(len(c.ref), 1) - 1, why))
            continue
        label = _guarded(guard, c.region.chrom, c.pos)
        if label is not None:
            result.holes.append(
                (
                    c.pos,
                    c.pos,
                    f"weak heterozygous peak at {c.region.chrom}:{c.pos} ({label}): {why}",
                )
            )
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


def _guarded(guard: Sequence[tuple[str, str, int, int]], chrom: str, pos: int) -> str | None:
    """Label of the guarded residue covering ``chrom:pos``, if any."""
    for label, g_chrom, start, end in guard:
        if g_chrom == chrom and start <= pos <= end:
            return label
    return None


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


def _indel_evidence_at(
    res: TraceResult, call: TraceCall, ratio: float
) -> tuple[float | None, float | None]:
    """(share of mixed columns after an indel, local noise) in one trace, or Nones.

    A trace carrying a heterozygous indel is a two-allele mixture next to it (downstream in its
    reading direction); one carrying a homozygous deletion has no match columns for the deleted
    bases. So a trace that aligns straight through every base of the site (no gap) with single
    peaks after it contradicts the call. "After" is in the trace's reading direction: forward
    and reverse reads show the mixture on opposite sides.
    """
    cols = res.columns
    if cols is None:
        return None, None
    a, b = call.ref_index, call.ref_index + len(call.ref)  # anchor .. last deleted base
    site = np.nonzero((cols.ref >= a) & (cols.ref < b + 1))[0]
    if site.size != b + 1 - a or not (np.diff(cols.read[site]) == 1).all():
        return None, None  # a gap at the site: this trace does not read straight through
    assert res.placement is not None
    # the side the polymerase reads after the site: where a het indel's mixture would be
    lo, hi = (b, b + 12) if res.placement.strand == "+" else (a - 12, a)
    near = np.nonzero((cols.ref >= lo) & (cols.ref <= hi))[0]
    if near.size < 8:
        return None, None
    second = np.sort(cols.x[near], axis=1)[:, -2]
    mixed = float(np.mean(second >= ratio))
    return round(mixed, 3), round(float(np.median(cols.noise[near])), 3)


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
        "status": res.status,
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
    d["not_wild_type_sites"] = [
        {"chrom": pl.region.chrom, "start": a, "end": b, "reason": why} for a, b, why in res.holes
    ]
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


def _merge_intervals(
    iv: list[tuple[str, int, int]], holes: Sequence[tuple[str, int, int]] = ()
) -> list[CoveredInterval]:
    """Union of per-trace covered spans (forward and reverse reads usually overlap), minus the
    sites any trace could not resolve (a dropped or below-threshold call is not wild type,
    even where another read looks clean: the disagreement is not settled)."""
    out: list[tuple[str, int, int]] = []
    for chrom, a, b in sorted(iv):
        if out and out[-1][0] == chrom and a <= out[-1][2] + 1:
            out[-1] = (chrom, out[-1][1], max(out[-1][2], b))
        else:
            out.append((chrom, a, b))
    for hc, h0, h1 in sorted(holes):
        cut: list[tuple[str, int, int]] = []
        for chrom, a, b in out:
            if chrom != hc or h1 < a or h0 > b:
                cut.append((chrom, a, b))
                continue
            if a < h0:
                cut.append((chrom, a, h0 - 1))
            if h1 < b:
                cut.append((chrom, h1 + 1, b))
        out = cut
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
    windows: Sequence[tuple[str, str, int, int]] | None = None,
    guard: Sequence[tuple[str, str, int, int]] = (),
) -> InputBatch:
    """Call variants from the Sanger traces of ONE sample (e.g. forward + reverse read).

    Observations are VCF-style on the plus strand in the regions' coordinates (``chrom`` =
    ``ReferenceRegion.chrom``), one per distinct variant; a variant called by one trace but not
    by another trace covering it carries the filter ``trace_disagreement`` and is listed in
    ``details['disagreements']``. ``highlight`` positions inside a placed read get a plot too.
    ``windows`` (residues as label, chrom, start, end) asks for chromatogram data around every
    call and those residues in ``details['windows']`` (see :mod:`.window`). ``guard`` residues
    (knowledge-base codons) lose coverage where a read shows only a weak heterozygous peak.
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
    results = [
        analyse_trace(t, references, ratio=ratio, min_quality=min_quality, guard=guard)
        for t in traces
    ]
    intervals: list[tuple[str, int, int]] = []
    failed: list[dict[str, object]] = []
    holes: list[tuple[str, int, int]] = []
    for res, path in zip(results, files, strict=True):
        if res.placement is None:
            batch.skipped.add(STATUS_REASON[res.status], f"{path.name}: {res.reason}")
            failed.append({"trace": path.name, "status": res.status, "reason": res.reason})
        elif res.covered is not None:
            chrom = res.placement.region.chrom
            intervals.append((chrom, res.covered[0], res.covered[1]))
            holes += [(chrom, a, b) for a, b, _ in res.holes]

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
                if len(ref) == 1 and len(alt) == 1:
                    frac, noise = _evidence_at(res, best.ref_index, alt)
                else:  # before: indels were never judged (the anchor base has no alt peak)
                    frac, noise = _indel_evidence_at(res, best, ratio)
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
                        (
                            "alt_peak_fraction"
                            if len(ref) == len(alt) == 1
                            else "mixed_column_share"
                        ): frac,
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
    # Always set, even empty: traces say exactly what was seen, and a sample whose reads all
    # failed has seen nothing (every drug not assessed), unlike a plain VCF (coverage unknown).
    batch.coverage[sample_id] = _merge_intervals(intervals, holes)
    plots: list[dict[str, object]] = []
    if plot_dir is not None:
        plots = _make_plots(results, best_calls, highlight, plot_dir, sample_id)
    batch.details = {
        "traces": [_trace_details(r, p) for r, p in zip(results, files, strict=True)],
        "disagreements": disagreements,
        "failed_traces": failed,
        "plots": plots,
        "parameters": {"ratio": ratio, "min_quality": min_quality},
    }
    if windows is not None:
        batch.details["windows"] = trace_windows(results, best_calls, windows)
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
    from ..traceplot import plot_trace_site

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
