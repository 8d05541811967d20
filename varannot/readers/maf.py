"""MAF input (TCGA/GDC, cBioPortal, vcf2maf): one file, many tumour samples.

Each row becomes one observation per tumour allele that differs from ``Reference_Allele``.
MAF indels have no anchor base (``-`` alleles); they are turned into VCF style with the base
before them taken from the FASTA (where the FASTA has N there, the minimal alleles are kept
and the annotator flags them ``ref_unverified``). ``NCBI_Build`` must agree with the FASTA's
build. A row that cannot be converted is skipped and counted with its line and the reason;
a MAF says nothing about coverage, so its calls carry coverage "unknown", as a plain VCF.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from ..errors import BuildMismatchError, InputError
from ..genome import canonical_chrom
from ..maf import maf_build
from ..models import Build, InputBatch, Observation

__all__ = ["is_maf", "read_maf"]

REQUIRED = ("Chromosome", "Start_Position", "Reference_Allele", "Tumor_Sample_Barcode")
_BASES = re.compile(r"^[ACGTN]+$")


@contextmanager
def _open_text(path: Path) -> Iterator[IO[str]]:
    with path.open("rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    if gz:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="") as text:
            yield text
    else:
        with path.open(encoding="utf-8", errors="replace", newline="") as text:
            yield text


def _header(line: str) -> list[str]:
    return [c.strip() for c in line.rstrip("\r\n").split("\t")]


def is_maf(path: str | Path) -> bool:
    """True when the first non-comment line is a MAF header (tab-separated, with the
    chromosome, start and sample columns); decided by content, whatever the file is named.
    Reads at most 64 KiB (a VCF or BCF is told apart by its first bytes)."""
    p = Path(path)
    if str(path) == "-" or not p.is_file():
        return False
    try:
        with p.open("rb") as fh:
            head = fh.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(p, "rb") as raw:
            data = raw.read(1 << 16)
    except (OSError, EOFError, gzip.BadGzipFile):
        return False
    if data.startswith((b"BCF", b"##fileformat=VCF")):
        return False
    for line in data.decode("utf-8", errors="replace").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        cols = {c.lower() for c in _header(line)}
        return {c.lower() for c in REQUIRED} <= cols
    return False


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def read_maf(
    path: str | Path,
    *,
    build: Build,
    base: Callable[[str, int], str],
    regions: Sequence[tuple[str, int, int]],
    samples: Sequence[str] | None = None,
) -> InputBatch:
    """Read a MAF into an :class:`InputBatch` of kind ``'maf'``.

    ``base(chrom, pos)`` is the FASTA's base (N when unknown), for indel anchors; ``regions``
    (canonical chrom, start, end) are the gene regions kept, other rows are counted in
    ``records_outside_genes``. ``samples`` keeps only those ``Tumor_Sample_Barcode`` values.
    Raises :class:`InputError` when a required column is missing and
    :class:`BuildMismatchError` when ``NCBI_Build`` names the other assembly.
    """
    p = Path(path)
    src = str(path)
    batch = InputBatch(source=src, kind="maf", samples=[])
    keep = set(samples) if samples else None
    seen_samples: dict[str, None] = {}
    builds: dict[Build, int] = {}
    try:
        with _open_text(p) as fh:
            header: list[str] | None = None
            col: dict[str, int] = {}
            for n, line in enumerate(fh, 1):
                if line.startswith("#") or not line.strip():
                    continue
                if header is None:
                    header = _header(line)
                    col = {c.lower(): i for i, c in enumerate(header)}
                    missing = [c for c in REQUIRED if c.lower() not in col]
                    if not any(c in col for c in ("tumor_seq_allele2", "tumor_seq_allele1")):
                        missing.append("Tumor_Seq_Allele2")
                    if missing:
                        raise InputError(
                            f"not a usable MAF header: missing {', '.join(missing)}",
                            source=src,
                            record=f"line {n}",
                        )
                    continue
                cells = line.rstrip("\r\n").split("\t")

                def cell(name: str, cells: list[str] = cells, col: dict[str, int] = col) -> str:
                    i = col.get(name.lower())
                    return cells[i].strip() if i is not None and i < len(cells) else ""

                _row(batch, n, cell, build, base, regions, keep, seen_samples, builds)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"cannot read the MAF: {exc}", source=src) from exc
    if header is None:
        raise InputError("no MAF header line", source=src)
    batch.samples = list(seen_samples)
    if builds:
        batch.details["ncbi_build"] = ", ".join(sorted(builds))
    return batch


def _row(
    batch: InputBatch,
    n: int,
    cell: Callable[[str], str],
    build: Build,
    base: Callable[[str, int], str],
    regions: Sequence[tuple[str, int, int]],
    keep: set[str] | None,
    seen_samples: dict[str, None],
    builds: dict[Build, int],
) -> None:
    where = f"line {n}"
    src = batch.source
    stated = cell("NCBI_Build")
    b = maf_build(stated)
    if b is not None:
        if b != build:
            raise BuildMismatchError(
                f"NCBI_Build is {stated} but the reference is {build}",
                source=src,
                record=where,
            )
        builds[b] = builds.get(b, 0) + 1
    sample = cell("Tumor_Sample_Barcode")
    batch.records_read += 1
    if not sample:
        batch.skipped.add("no Tumor_Sample_Barcode", where)
        return
    if keep is not None and sample not in keep:
        batch.skipped.add("sample not selected", where)
        return
    seen_samples.setdefault(sample, None)
    chrom = canonical_chrom(cell("Chromosome"))
    start = _int(cell("Start_Position"))
    if not cell("Chromosome") or start is None or start < 1:
        batch.skipped.add("Chromosome or Start_Position missing or not a number", where)
        return
    end_text = cell("End_Position")
    end = _int(end_text) if end_text else None
    if end_text and end is None:
        batch.skipped.add("End_Position is not a number", where)
        return
    if not any(c == chrom and s <= (end or start) and start <= e for c, s, e in regions):
        batch.records_outside_genes += 1
        return
    ref = cell("Reference_Allele").upper()
    a1, a2 = cell("Tumor_Seq_Allele1").upper(), cell("Tumor_Seq_Allele2").upper()
    alts = list(dict.fromkeys(a for a in (a2, a1) if a and a != ref))
    if not alts:
        batch.skipped.add("no tumour allele differs from Reference_Allele", where)
        return
    for allele in (ref, *alts):
        if allele != "-" and not _BASES.match(allele):
            batch.skipped.add(f"allele {allele[:20]!r} is not a base sequence or '-'", where)
            return
    depth, alt_depth, vaf, vaf_source = _counts(cell)
    filt = cell("FILTER")
    filters = tuple(f for f in re.split(r"[;,]", filt) if f) if filt not in ("", ".") else ()
    for alt in alts:
        if ref == "-":
            if end is not None and end != start + 1:
                batch.skipped.add(
                    "insertion whose Start_Position and End_Position are not adjacent", where
                )
                continue
            anchor = base(chrom, start)
            vcf = (start, anchor, anchor + alt) if anchor != "N" else (start + 1, "", alt)
        elif alt == "-":
            if end is not None and end - start + 1 != len(ref):
                batch.skipped.add("End_Position does not fit the Reference_Allele length", where)
                continue
            anchor = base(chrom, start - 1)
            vcf = (start - 1, anchor + ref, anchor) if anchor != "N" else (start, ref, "")
        else:
            if end is not None and end - start + 1 != len(ref):
                batch.skipped.add("End_Position does not fit the Reference_Allele length", where)
                continue
            vcf = (start, ref, alt)
        if a1 == a2 == alt:
            genotype = "1/1"
        elif len(alts) == 2:
            genotype = "1/2"
        else:
            genotype = "0/1"
        batch.observations.append(
            Observation(
                sample=sample,
                chrom=chrom,
                pos=vcf[0],
                ref=vcf[1],
                alt=vcf[2],
                source=src,
                record=where,
                genotype=genotype,
                depth=depth,
                alt_depth=alt_depth,
                vaf=vaf,
                vaf_source=vaf_source,
                filters=filters,
            )
        )


def _counts(cell: Callable[[str], str]) -> tuple[int | None, int | None, float | None, str | None]:
    """(depth, alt_depth, VAF, VAF source): a stated allele fraction, else the read counts."""
    alt_depth = _int(cell("t_alt_count"))
    depth = _int(cell("t_depth"))
    ref_count = _int(cell("t_ref_count"))
    if depth is None and alt_depth is not None and ref_count is not None:
        depth = alt_depth + ref_count
    for name in ("tumor_f", "t_vaf"):
        text = cell(name)
        try:
            f = float(text) if text else None
        except ValueError:
            f = None
        if f is not None and 0 <= f <= 1:
            return depth, alt_depth, f, f"MAF {name}"
    if depth and alt_depth is not None and 0 <= alt_depth <= depth:
        return depth, alt_depth, alt_depth / depth, "MAF t_alt_count/t_depth"
    return depth, alt_depth, None, None
