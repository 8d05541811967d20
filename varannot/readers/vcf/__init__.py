"""VCF/BCF reader: records -> per-sample observations, gVCF coverage and counted skips.

Two backends decode the container: pysam/htslib (VCF, bgzip/gzip, BCF, tabix/CSI region fetch) and
pyvcf3 (pure Python, text VCF only). Both validate each record with their own parser, but hand the
*text* of the record to one shared interpreter (the original line when streaming a text file,
htslib's rendering for BCF or an index fetch). Allele splitting, VAF sources, phasing and coverage
are therefore one code path: the backends agree by construction and differ only in which malformed
records they refuse. Nothing read is dropped silently: each record ends up as an observation
source, coverage, an outside-the-genes count or a reason in ``batch.skipped``.

An unindexed text VCF read with regions is not parsed record by record: a byte-level scan
(:class:`_RegionScan`) counts the lines that cannot overlap and hands htslib only the others,
with the same result as the record stream.

The package is split by concept: :mod:`.open` (sniffing, compression, line reader, header),
:mod:`.dialects` (per-caller depth/allele-count/VAF fields), :mod:`.records` (record ->
observation), :mod:`.backends` (pysam, pyvcf3) and :mod:`.scan` (the unindexed region prefilter).
This module holds the public entry point :func:`read_vcf` and sample selection.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from ...errors import BuildMismatchError, InputError
from ...models import Build, InputBatch
from . import backends, scan
from .backends import (
    Backend,
    _choose_backend,
    _GzipPipe,
    _open_pysam,
    _run_pysam_fetch,
    _run_pysam_stream,
    _run_pyvcf3,
)
from .dialects import (
    REASON_BREAKEND,
    REASON_DUPLICATE,
    REASON_NO_CARRIER,
    REASON_NO_DATA,
    REASON_NOCALL_ALT,
    REASON_PARSER,
    REASON_POS_HIGH,
    REASON_POS_LOW,
    REASON_SPANNING,
    REASON_SYMBOLIC,
    CovSource,
)
from .open import (
    Region,
    _Header,
    _header_build,
    _Input,
    _LineReader,
    _open_input,
    _parse_header,
    _read_header_lines,
)
from .records import _Builder
from .scan import _run_region_scan

__all__ = [
    "REASON_BREAKEND",
    "REASON_DUPLICATE",
    "REASON_NO_CARRIER",
    "REASON_NO_DATA",
    "REASON_NOCALL_ALT",
    "REASON_PARSER",
    "REASON_POS_HIGH",
    "REASON_POS_LOW",
    "REASON_SPANNING",
    "REASON_SYMBOLIC",
    "Backend",
    "CovSource",
    "Region",
    "read_vcf",
]


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def _select_samples(
    hdr: _Header, src: _Input, samples: Sequence[str] | None, tumor: str | None
) -> tuple[list[tuple[int, str]], list[str], dict[str, object]]:
    """(selected columns, batch sample order with the tumour first, tumour/normal details)."""
    names = hdr.samples or [src.stem]
    if samples is not None:
        unknown = [s for s in samples if s not in names]
        if unknown:
            raise InputError(
                f"sample(s) {', '.join(map(repr, unknown))} not in the file; available: "
                + ", ".join(names),
                source=src.display,
                record="#CHROM line",
            )
        wanted = set(samples)
        selected = [(i, n) for i, n in enumerate(names) if n in wanted]
    else:
        selected = list(enumerate(names))
    chosen = [n for _, n in selected]
    details: dict[str, object] = {}
    if tumor is not None and tumor not in chosen:
        raise InputError(
            f"tumour sample {tumor!r} is not among the samples read: {', '.join(chosen)}",
            source=src.display,
            record="#CHROM line",
        )
    t = tumor or _guess_role(hdr, "TUMOR", hdr.tumor)
    if t is not None and t in chosen:
        details["tumor_sample"] = t
        n = _guess_role(hdr, "NORMAL", hdr.normal)
        if (n is None or n == t) and len(hdr.samples) == 2:
            n = next(s for s in hdr.samples if s != t)
        if n is not None and n != t and n in chosen:
            details["normal_sample"] = n
        chosen = [t] + [c for c in chosen if c != t]
    return selected, chosen, details


def _guess_role(hdr: _Header, role: str, stated: str | None) -> str | None:
    """Sample with a tumour/normal role: stated header, ##SAMPLE=<ID=...>, or column name."""
    if stated and stated in hdr.samples:
        return stated
    ids = [s for s in hdr.sample_ids if s in hdr.samples and role in s.upper()]
    ids.sort(key=lambda s: (s.upper() != role, "RNA" in s.upper()))
    if ids:
        return ids[0]
    exact = [s for s in hdr.samples if s.upper() == role]
    return exact[0] if exact else None


def read_vcf(
    path: str | Path,
    *,
    regions: Sequence[Region] | None = None,
    samples: Sequence[str] | None = None,
    tumor: str | None = None,
    build: Build | None = None,
    backend: Backend = "auto",
    keep_outside: bool = False,
) -> InputBatch:
    """Read one VCF/BCF (``-`` = stdin) into an :class:`InputBatch` of kind ``'vcf'``.

    ``regions`` restricts the records kept (index fetch when a .tbi/.csi exists and pysam is the
    backend, else one constant-memory pass counting the rest in ``records_outside_genes``;
    ``keep_outside`` keeps those records too). ``build``, when given, must not contradict the
    header. Raises :class:`InputError` for unusable input, :class:`BuildMismatchError` for a
    header of the other assembly.
    """
    chosen = _choose_backend(backend)
    with _open_input(path) as src:
        if src.is_bcf and chosen == "pyvcf3":
            raise InputError(
                "this is a BCF file; the pyvcf3 backend reads text VCF only (install pysam, or "
                "convert with 'bcftools view -Ov')",
                source=src.display,
                record="line 1",
            )
        vf: Any = None
        pipe: _GzipPipe | None = None
        warnings: list[str] = []
        pysam_mod: Any = backends._pysam() if chosen == "pysam" else None
        verbosity = pysam_mod.set_verbosity(0) if pysam_mod else None
        try:
            if src.is_bcf:
                vf, pipe = _open_pysam(src)
                header_lines = str(vf.header).rstrip("\n").split("\n")
                hdr = _parse_header(header_lines, src.display, "header line")
            else:
                reader = _LineReader(src)
                try:
                    header_lines = _read_header_lines(reader, warnings)
                finally:
                    reader.close()
                hdr = _parse_header(header_lines, src.display)
            hint, evidence, ev_line = _header_build(hdr)
            if build is not None and hint is not None and hint != build:
                raise BuildMismatchError(
                    f"{evidence} but --build {build}",
                    source=src.display,
                    record=(
                        f"{'header line' if src.is_bcf else 'line'} {ev_line}"
                        if ev_line
                        else "header"
                    ),
                )
            selected, order, details = _select_samples(hdr, src, samples, tumor)
            batch = InputBatch(source=src.display, kind="vcf", samples=order)
            batch.build_hint = hint
            batch.details.update(details)
            batch.details.update(
                backend=chosen,
                format="BCF" if src.is_bcf else "VCF",
                sites_only=not hdr.samples,
                indexed_fetch=False,
            )
            if evidence:
                batch.details["build_evidence"] = evidence
            if warnings:
                batch.details["warnings"] = warnings
            b = _Builder(src, hdr, selected, regions, keep_outside, batch)
            if chosen == "pysam":
                if vf is None:
                    vf, pipe = _open_pysam(src)
                if regions is not None and not keep_outside and vf.index is not None:
                    _run_pysam_fetch(vf, b, regions, build or hint)
                elif (
                    regions is not None and not keep_outside and not src.is_bcf and scan._FAST_SCAN
                ):
                    _run_region_scan(b, src, len(header_lines))
                else:
                    _run_pysam_stream(vf, b, src, len(header_lines))
            else:
                _run_pyvcf3(b, src, header_lines)
            b.finish()
            return batch
        finally:
            if vf is not None:
                with suppress(OSError):  # htslib fails to close a BGZF it found cut short
                    vf.close()
            if pipe is not None:
                pipe.close()
            if pysam_mod is not None:
                pysam_mod.set_verbosity(verbosity)
