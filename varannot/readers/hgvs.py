"""Variant lists typed by people: HGVS strings (g., c., p.) and genomic alleles -> one batch.

One code path for ``varannot annotate --hgvs/--hgvs-file``, the Python API and the HTTP JSON
list, so the three accept and refuse exactly the same strings with the same messages. c./g.
strings become VCF-style alleles (``hgvs_input``); p. strings cannot (Met->Ile has three
codons), so they become pre-annotated observations (``protein_input``) that ``Engine.run``
passes straight to the knowledge base. A list with bad entries is refused as a whole, every
bad entry named: annotating the rest would quietly drop what the user asked about.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..annotate import Annotator
from ..errors import HGVSParseError, InputError, VarannotError
from ..hgvs_input import parse_to_genomic
from ..models import Annotation, InputBatch, Observation
from ..protein_input import annotate_protein

__all__ = [
    "HgvsListError",
    "VariantEntry",
    "entries_from_strings",
    "place",
    "read_entries",
    "read_hgvs_file",
]

_SAMPLE = re.compile(r"^[A-Za-z0-9_.\-/:+]{1,200}$")


@dataclass(frozen=True, slots=True)
class VariantEntry:
    """One list entry: an HGVS string, or a genomic allele (``chrom``/``pos``/``ref``/``alt``).

    ``record`` names it in errors and in the output (``--hgvs 2``, ``line 5``,
    ``variants[3]``); ``numbering`` is the protein accession a ``GENE:p.`` change uses.
    """

    record: str
    hgvs: str | None = None
    chrom: str | None = None
    pos: int | None = None
    ref: str | None = None
    alt: str | None = None
    sample: str | None = None
    vaf: float | None = None
    depth: int | None = None
    alt_depth: int | None = None
    genotype: str | None = None
    numbering: str | None = None


class HgvsListError(HGVSParseError):
    """Some entries of a list cannot be annotated; ``errors`` names every one."""

    status = 422
    title = "Invalid variants"

    def __init__(self, errors: list[dict[str, str | None]], total: int, *, source: str):
        self.errors = errors
        self.total = total
        lines = [f"{len(errors)} of {total} variants cannot be annotated:"]
        lines += [f"  {e['record']}: {e['detail']}" for e in errors[:20]]
        if len(errors) > 20:
            lines.append(f"  ... and {len(errors) - 20} more")
        super().__init__("\n".join(lines), source=source)


def place(
    text: str, annotator: Annotator, numbering: str | None = None
) -> tuple[str, int, str, str, Annotation | None]:
    """An HGVS string -> (chrom, pos, ref, alt, protein-level annotation or None); raises."""
    if ":p." in text:
        pv = annotate_protein(text, annotator, numbering)
        return pv.chrom, pv.pos, pv.ref, pv.alt, pv.annotation
    if re.search(r":[cg]\.", text):
        gv = parse_to_genomic(text, annotator)
        return gv.chrom, gv.pos, gv.ref, gv.alt, None
    raise InputError(
        "not an HGVS g., c. or p. variant (e.g. NM_000546.6:c.524G>A, MEN1:p.Met327Ile)",
        source=text,
    )


def read_entries(
    entries: Sequence[VariantEntry],
    annotator: Annotator,
    *,
    source: str,
    sample: str = "sample",
) -> InputBatch:
    """Place every entry or raise :class:`HgvsListError` naming all that fail.

    A VAF given with the entry wins; otherwise ``alt_depth/depth`` when both are given.
    A list says nothing about coverage, so its calls carry coverage "unknown".
    """
    observations: list[Observation] = []
    errors: list[dict[str, str | None]] = []
    for e in entries:
        try:
            if e.hgvs is not None:
                chrom, pos, ref, alt, ann = place(e.hgvs, annotator, e.numbering)
            elif e.chrom and e.pos is not None and e.ref and e.alt:
                chrom, pos, ref, alt, ann = e.chrom, e.pos, e.ref.upper(), e.alt.upper(), None
            else:
                raise InputError("needs an HGVS string or chrom, pos, ref and alt")
        except VarannotError as exc:
            errors.append(
                {"record": e.record, "source": exc.source, "title": exc.title,
                 "detail": exc.message}
            )  # fmt: skip
            continue
        vaf, vaf_source = e.vaf, (source if e.vaf is not None else None)
        if vaf is None and e.depth and e.alt_depth is not None:
            vaf, vaf_source = e.alt_depth / e.depth, f"{source} alt_depth/depth"
        observations.append(
            Observation(
                sample=e.sample or sample,
                chrom=chrom,
                pos=pos,
                ref=ref,
                alt=alt,
                source=source,
                record=e.record,
                genotype=e.genotype,
                depth=e.depth,
                alt_depth=e.alt_depth,
                vaf=vaf,
                vaf_source=vaf_source,
                origin="list",
                annotation=ann,
            )
        )
    if errors:
        raise HgvsListError(errors, len(entries), source=source)
    return InputBatch(
        source=source,
        kind="list",
        samples=list(dict.fromkeys(ob.sample for ob in observations)) or [sample],
        observations=observations,
        records_read=len(entries),
    )


_COLUMNS = {"hgvs", "sample", "vaf", "depth", "alt_depth", "numbering"}


def _number(value: str, kind: type, name: str, where: str, path: str) -> float | int | None:
    if not value:
        return None
    try:
        x = kind(value)
    except ValueError:
        raise InputError(f"{name} {value!r} is not a number", source=path, record=where) from None
    if x < 0 or (name == "vaf" and x > 1):
        raise InputError(f"{name} {value} is out of range", source=path, record=where)
    return x  # type: ignore[no-any-return]


def read_hgvs_file(path: str | Path, sample: str | None = None) -> list[VariantEntry]:
    """One variant per line: ``HGVS [SAMPLE [VAF]]``, tab- or comma-separated.

    A first line starting with ``hgvs`` is a header naming the columns (``hgvs``, ``sample``,
    ``vaf``, ``depth``, ``alt_depth``, ``numbering``, any order). ``#`` lines and blank lines
    are skipped. ``sample`` names entries without a sample column.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the HGVS list: {exc}", source=str(p)) from exc
    lines = [(i, ln) for i, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    lines = [(i, ln) for i, ln in lines if not ln.lstrip().startswith("#")]
    if not lines:
        raise InputError("the HGVS list is empty", source=str(p))
    delim = "\t" if "\t" in lines[0][1] else ","
    rows = list(csv.reader([ln for _, ln in lines], delimiter=delim))
    columns = ["hgvs", "sample", "vaf"]
    first = [c.strip().lower() for c in rows[0]]
    if first and first[0] == "hgvs":
        unknown = [c for c in first if c not in _COLUMNS]
        if unknown:
            raise InputError(
                f"unknown column(s) {', '.join(unknown)} (known: {', '.join(sorted(_COLUMNS))})",
                source=str(p),
                record=f"line {lines[0][0]}",
            )
        columns, lines, rows = first, lines[1:], rows[1:]
    out: list[VariantEntry] = []
    for (n, _), row in zip(lines, rows, strict=True):
        where = f"line {n}"
        if len(row) > len(columns):
            raise InputError(
                f"{len(row)} columns, expected at most {len(columns)} ({', '.join(columns)})",
                source=str(p),
                record=where,
            )
        cell = {c: v.strip() for c, v in zip(columns, row, strict=False)}
        s = cell.get("sample") or sample
        if s is not None and not _SAMPLE.match(s):
            raise InputError(f"bad sample name {s!r}", source=str(p), record=where)
        depth = _number(cell.get("depth", ""), int, "depth", where, str(p))
        alt_depth = _number(cell.get("alt_depth", ""), int, "alt_depth", where, str(p))
        out.append(
            VariantEntry(
                record=where,
                hgvs=cell.get("hgvs", ""),
                sample=s,
                vaf=_number(cell.get("vaf", ""), float, "vaf", where, str(p)),  # type: ignore[arg-type]
                depth=depth,  # type: ignore[arg-type]
                alt_depth=alt_depth,  # type: ignore[arg-type]
                numbering=cell.get("numbering") or None,
            )
        )
    return out


def entries_from_strings(
    texts: Sequence[str], sample: str | None = None, prefix: str = "--hgvs"
) -> list[VariantEntry]:
    """``--hgvs`` values (and API strings): records are ``--hgvs 1``, ``--hgvs 2``..."""
    return [
        VariantEntry(record=f"{prefix} {i}", hgvs=t, sample=sample) for i, t in enumerate(texts, 1)
    ]
