"""Annotated VCFs: the run's annotations written back into VCF for the next pipeline step.

For a VCF input every record is passed through unchanged except that the ALT alleles varannot
annotated get ``VA_*`` INFO fields (``Number=A``: one value per ALT, ``.`` where an ALT has
none), described by ``##INFO`` header lines. Text VCFs are rewritten line by line (not via
htslib): a record our reader skipped as malformed is still copied, not dropped, and nothing
but the INFO column changes. BCF inputs go through pysam. For Sanger traces (and VCF read from
stdin, which cannot be read twice) the file is a new VCF of the called variants, written by
pysam. Like the other writers this only formats the document: it computes nothing.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .genome import CHROM_LENGTHS, bare_chrom
from .schema import ResultDocument, VariantOut

# (ID, Description): all Number=A, Type=String.
INFO_FIELDS: list[tuple[str, str]] = [
    ("VA_GENE", "varannot: gene of the ALT allele (MEN1, BCL2, BAX or TP53)"),
    ("VA_TX", "varannot: transcript of the annotation (MANE Select)"),
    ("VA_CSQ", "varannot: Sequence Ontology consequences, most severe first, '&'-separated"),
    ("VA_HGVSC", "varannot: HGVS c. on VA_TX"),
    ("VA_HGVSP", "varannot: HGVS p. (predicted) on the MANE protein"),
    ("VA_PCHANGE", "varannot: short protein change on the MANE protein (e.g. R175H)"),
    ("VA_HGVSP_LEGACY", "varannot: HGVS p. in literature numbering where it differs (MEN1)"),
    ("VA_HAPLOTYPE_P", "varannot: HGVS p. of the phased same-codon haplotype carrying the ALT"),
    ("VA_RULES", "varannot: knowledge-base rule ids the allele matched, '&'-separated"),
    ("VA_FLAGS", "varannot: flags of the allele in any sample (e.g. ref_mismatch), '&'-separated"),
]
INFO_IDS = frozenset(i for i, _ in INFO_FIELDS)
# VCF 4.3: INFO values may not contain these; they are percent-encoded.
_ENCODE = {"%": "%25", ";": "%3B", "=": "%3D", ",": "%2C", " ": "%20", "\t": "%09"}
_ENCODE_RE = re.compile("[%;=, \t]")
# Bytes that are not UTF-8 survive the round trip unchanged.
_ERR = "surrogateescape"
_OWN_HEADER = re.compile(r"^##(INFO=<ID=(VA_[A-Z_]+),|varannot_)")


def _enc(v: str) -> str:
    return _ENCODE_RE.sub(lambda m: _ENCODE[m.group(0)], v)


@dataclass
class AlleleInfo:
    """What varannot said about one ALT allele of one input, merged over the samples."""

    variant: VariantOut
    rules: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    def values(self) -> dict[str, str | None]:
        """INFO values (percent-encoded, in ``INFO_FIELDS`` order; None where empty)."""
        v = self.variant
        raw: dict[str, str | list[str] | None] = {
            "VA_GENE": v.gene,
            "VA_TX": v.transcript,
            "VA_CSQ": v.consequence,
            "VA_HGVSC": v.hgvs_c,
            "VA_HGVSP": v.hgvs_p,
            "VA_PCHANGE": v.protein_change,
            "VA_HGVSP_LEGACY": v.hgvs_p_legacy,
            "VA_HAPLOTYPE_P": v.haplotype_hgvs_p,
            "VA_RULES": self.rules,
            "VA_FLAGS": self.flags,
        }
        out: dict[str, str | None] = {}
        for key, _ in INFO_FIELDS:
            x = raw[key]
            text = "&".join(x) if isinstance(x, list) else x
            out[key] = _enc(text) if text else None
        return out


AlleleKey = tuple[str, int, str, str]


def allele_index(variants: Iterable[VariantOut]) -> dict[AlleleKey, AlleleInfo]:
    """(CHROM, POS, REF, ALT) as written in the input -> merged annotation of that allele."""
    out: dict[AlleleKey, AlleleInfo] = {}
    for v in variants:
        key = (v.chrom, v.pos, v.ref.upper(), v.alt.upper())
        info = out.get(key)
        if info is None:
            info = out[key] = AlleleInfo(v)
        elif info.variant.haplotype_hgvs_p is None and v.haplotype_hgvs_p:
            info.variant = v
        info.rules.extend(r for r in v.rule_ids if r not in info.rules)
        info.flags.extend(f for f in v.flags if f not in info.flags)
    return out


def _meta(v: str) -> str:
    """An unstructured ``##key=value`` value: htslib reads a leading '<' as structured."""
    return v.replace("\n", " ").lstrip("<").replace(">", "") or "."


def header_lines(doc: ResultDocument, sources: Sequence[str]) -> list[str]:
    """The ``##`` lines varannot adds: INFO definitions and where the annotation came from."""
    lines = [f'##INFO=<ID={i},Number=A,Type=String,Description="{d}">' for i, d in INFO_FIELDS]
    lines.append(f"##varannot_version={doc.varannot_version}")
    lines.append(f"##varannot_build={doc.build}")
    if doc.reference:
        lines.append(f"##varannot_reference={_meta(doc.reference)}")
    if doc.knowledge_base:
        kb = doc.knowledge_base
        lines.append(f"##varannot_knowledge_base={kb.version} sha256={kb.sha256}")
    lines.append(f"##varannot_source={_meta(','.join(sources))}")
    return lines


def _info_column(
    info: str, alts: list[str], key: tuple[str, int, str], idx: dict[AlleleKey, AlleleInfo]
) -> str | None:
    """The new INFO column of one record, or None when no ALT of it was annotated."""
    chrom, pos, ref = key
    found = [idx.get((chrom, pos, ref, a.upper())) for a in alts]
    if not any(found):
        return None
    per_alt = [f.values() if f else {} for f in found]
    added = []
    for field_id, _ in INFO_FIELDS:
        vals = [d.get(field_id) for d in per_alt]
        if any(vals):
            added.append(f"{field_id}={','.join(x or '.' for x in vals)}")
    kept = (
        []
        if info in (".", "")
        else [kv for kv in info.split(";") if kv.split("=", 1)[0] not in INFO_IDS]
    )
    return ";".join(kept + added)


def annotate_vcf_text(
    src: Path, dst: Path, idx: dict[AlleleKey, AlleleInfo], extra_header: list[str]
) -> int:
    """Copy a text VCF (plain, gzip or bgzip) adding VA_* INFO; returns records annotated.

    Compressed input gives BGZF output (tabix-ready); bytes that are not UTF-8 pass through.
    """
    with src.open("rb") as fh:
        compressed = fh.read(2) == b"\x1f\x8b"
    lines = _lines(src, compressed)
    if compressed:
        with (
            _bgzf_writer(dst) as raw,
            io.TextIOWrapper(raw, encoding="utf-8", errors=_ERR, newline="") as out,
        ):
            return _copy_annotated(lines, out, idx, extra_header)
    with dst.open("w", encoding="utf-8", errors=_ERR, newline="") as out:
        return _copy_annotated(lines, out, idx, extra_header)


def _lines(src: Path, compressed: bool) -> Iterator[str]:
    if compressed:
        with gzip.open(src, "rt", encoding="utf-8", errors=_ERR, newline="") as fh:
            yield from fh
    else:
        with src.open("r", encoding="utf-8", errors=_ERR, newline="") as fh:
            yield from fh


@contextlib.contextmanager
def _bgzf_writer(dst: Path) -> Iterator[Any]:
    import pysam

    bg: Any = pysam.BGZFile(str(dst), "wb", None)
    try:
        yield bg
    finally:
        bg.close()


def _copy_annotated(
    fin: Iterable[str], out: IO[str], idx: dict[AlleleKey, AlleleInfo], extra_header: list[str]
) -> int:
    """The line loop: header lines kept (ours replaced), records changed in INFO only."""
    annotated = 0
    in_header = True
    for line in fin:
        if in_header:
            if line.startswith("##"):
                if not _OWN_HEADER.match(line):
                    out.write(line)
                continue
            in_header = False
            out.write("".join(h + "\n" for h in extra_header))
            if line.startswith("#"):
                out.write(line)
                continue
        end = len(line) - len(line.rstrip("\r\n"))
        body, nl = (line[:-end], line[-end:]) if end else (line, "")
        cols = body.split("\t", 8)
        if len(cols) < 8 or not cols[1].isdigit():
            out.write(line)
            continue
        new = _info_column(
            cols[7], cols[4].split(","), (cols[0], int(cols[1]), cols[3].upper()), idx
        )
        if new is None:
            out.write(line)
            continue
        cols[7] = new
        annotated += 1
        out.write("\t".join(cols) + nl)
    if in_header:  # header only, no records
        out.write("".join(h + "\n" for h in extra_header))
    return annotated


def annotate_bcf(
    src: Path, dst: Path, idx: dict[AlleleKey, AlleleInfo], extra_header: list[str]
) -> int:
    """BCF in, BCF out (through htslib): the same INFO fields as the text path."""
    import pysam

    annotated = 0
    quiet = pysam.set_verbosity(0)  # no "could not retrieve index" noise for unindexed input
    try:
        vin = pysam.VariantFile(str(src))
    finally:
        pysam.set_verbosity(quiet)
    with vin:
        hdr = vin.header.copy()
        for line in extra_header:
            hdr.add_line(line)
        with pysam.VariantFile(str(dst), "wb", header=hdr) as vout:
            for rec in vin:
                rec.translate(hdr)
                alts = list(rec.alts or ())
                ref = (rec.ref or "").upper()
                found = [idx.get((rec.chrom, rec.pos, ref, a.upper())) for a in alts]
                if any(found):
                    annotated += 1
                    per_alt = [f.values() if f else {} for f in found]
                    for field_id, _ in INFO_FIELDS:
                        vals = [d.get(field_id) for d in per_alt]
                        if any(vals):
                            rec.info[field_id] = tuple(x or "." for x in vals)
                vout.write(rec)
    return annotated


def _gt(genotype: str | None) -> tuple[tuple[int | None, ...] | None, bool]:
    """A VCF GT usable on a one-ALT record, else None (multi-allelic indexes do not survive
    splitting, and a wrong GT is worse than a missing one)."""
    if not genotype:
        return None, False
    phased = "|" in genotype
    parts = genotype.replace("|", "/").split("/")
    if not all(p in ("0", "1", ".") for p in parts):
        return None, False
    return tuple(None if p == "." else int(p) for p in parts), phased


def _chrom_key(chrom: str) -> tuple[int, str]:
    b = bare_chrom(chrom)
    return (int(b), "") if b.isdigit() else (100, b)


def write_called_vcf(
    dst: Path,
    rows: Sequence[tuple[str, VariantOut]],
    samples: Sequence[str],
    doc: ResultDocument,
    sources: Sequence[str],
) -> int:
    """A new VCF of called variants (Sanger traces, stdin): one record per allele.

    FORMAT carries GT, VAF and DP from the reader; FILTER keeps the reader's filters (e.g.
    ``trace_disagreement``). Returns the number of records written.
    """
    import pysam

    hdr = pysam.VariantHeader()
    hdr.add_line(f"##source=varannot {doc.varannot_version}")
    for line in header_lines(doc, sources):
        hdr.add_line(line)
    hdr.add_line('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    hdr.add_line(
        "##FORMAT=<ID=VAF,Number=A,Type=Float,Description=\"Variant allele fraction (reader's "
        'estimate: trace peak fraction or FORMAT AD/AF of the input)">'
    )
    hdr.add_line('##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">')
    filters = sorted({f for _, v in rows for f in v.filter if f not in ("PASS", ".")})
    for f in filters:
        desc = (
            "called in one trace, clearly absent in another covering it"
            if f == "trace_disagreement"
            else "filter of the input"
        )
        hdr.add_line(f'##FILTER=<ID={f},Description="{desc}">')
    build_i = 0 if doc.build == "GRCh38" else 1
    chroms = sorted({v.chrom for _, v in rows}, key=_chrom_key)
    for c in chroms:
        length = CHROM_LENGTHS.get(bare_chrom(c), (None, None))[build_i]
        if length is None:
            hdr.contigs.add(c)
        else:
            hdr.contigs.add(c, length=length)
    for s in samples:
        hdr.add_sample(s)
    sites: dict[AlleleKey, list[tuple[str, VariantOut]]] = {}
    for s, v in rows:
        sites.setdefault((v.chrom, v.pos, v.ref.upper(), v.alt.upper()), []).append((s, v))
    idx = allele_index(v for _, v in rows)
    order = sorted(sites, key=lambda k: (_chrom_key(k[0]), k[1], k[2], k[3]))
    with pysam.VariantFile(str(dst), "w", header=hdr) as out:
        for key in order:
            chrom, pos, ref, alt = key
            members = sites[key]
            flt = sorted({f for _, v in members for f in v.filter if f not in ("PASS", ".")})
            rec: Any = out.new_record(
                contig=chrom, start=pos - 1, alleles=(ref, alt), filter=flt or "PASS"
            )
            for field_id, value in idx[key].values().items():
                if value:
                    rec.info[field_id] = (value,)
            for s, v in members:
                call = rec.samples[s]
                gt, phased = _gt(v.genotype)
                if gt is not None:
                    call["GT"] = gt
                    call.phased = phased
                if v.vaf is not None:
                    call["VAF"] = (v.vaf,)
                if v.depth is not None:
                    call["DP"] = v.depth
            out.write(rec)
    return len(order)


def index_vcf_gz(path: Path) -> Path | None:
    """Tabix-index a bgzipped VCF we wrote; None when it cannot be (unsorted input)."""
    import pysam

    quiet = pysam.set_verbosity(0)
    try:
        return Path(pysam.tabix_index(str(path), preset="vcf", force=True, keep_original=True))
    except (OSError, ValueError):
        return None
    finally:
        pysam.set_verbosity(quiet)
