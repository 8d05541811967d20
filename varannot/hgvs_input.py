"""HGVS strings users type (g. and c.) turned into VCF-style genomic alleles.

Only the transcripts varannot models are accepted for c. (MANE Select and NM_000244.3, or a
gene symbol for its MANE transcript); another version of a modeled accession is refused,
because c. numbering can change between versions. An unversioned accession means the modeled one.
"""

from __future__ import annotations

import re

from .annotate import Annotator
from .errors import HGVSParseError
from .genome import accession_build, bare_chrom, canonical_chrom
from .hgvs import revcomp
from .models import GenomicVariant
from .transcripts import CPos, Transcript

_VAR = re.compile(
    r"^(?P<acc>[A-Za-z0-9_.\-]+)(?:\((?P<gene>[A-Za-z0-9]+)\))?:(?P<kind>[gc])\.(?P<body>.+)$"
)
_POS = r"(?:[-*]?\d+(?:[+-]\d+)?)"
_BODY = re.compile(
    rf"^(?P<start>{_POS})(?:_(?P<end>{_POS}))?"
    r"(?P<edit>(?P<ref>[ACGTN]*)>(?P<alt>[ACGTN]+)|del(?P<oldref>[ACGTN]*)ins(?P<delins>[ACGTN]+)|"
    r"del(?P<del>[ACGTN]*)|dup(?P<dup>[ACGTN]*)|ins(?P<ins>[ACGTN]+)|inv|(?P<same>[ACGTN]*)=)$"
)


def _cpos(text: str) -> CPos:
    m = re.match(r"^(?P<star>\*)?(?P<base>-?\d+)(?P<off>[+-]\d+)?$", text)
    if not m:
        raise HGVSParseError(f"bad c. position {text!r}")
    base = int(m["base"])
    off = int(m["off"]) if m["off"] else 0
    if m["star"]:
        return CPos(base, off, "3utr")
    if base < 0:
        return CPos(base, off, "5utr")
    return CPos(base, off, "cds")


def parse_to_genomic(text: str, annotator: Annotator) -> GenomicVariant:
    """``NC_000017.11:g.7675088C>T`` or ``NM_000546.6:c.524G>A`` -> VCF-style allele."""
    m = _VAR.match(text.strip().replace("(", "(").replace(" ", ""))
    if not m:
        raise HGVSParseError("not an HGVS g. or c. variant", source=text)
    acc, kind, body = m["acc"], m["kind"], m["body"]
    b = _BODY.match(body)
    if not b:
        raise HGVSParseError(f"cannot parse the change {body!r}", source=text)
    tx: Transcript | None = None
    if kind == "g":
        build = accession_build(acc)
        if build is None and not acc.lower().startswith("chr") and not acc.isdigit():
            raise HGVSParseError(f"unknown genomic accession {acc}", source=text)
        if build and build != annotator.build:
            raise HGVSParseError(
                f"{acc} is {build} but this reference is {annotator.build}", source=text
            )
        chrom = canonical_chrom(acc if build is None else bare_chrom(acc))
        g1 = int(b["start"])
        g2 = int(b["end"]) if b["end"] else g1
    else:
        # a gene symbol means its MANE transcript; an accession must be a modeled one, and a
        # different version is refused (c. numbering can change between versions)
        tx = annotator.transcripts.mane.get(acc) or annotator.transcripts.get(acc)
        if tx is None or (
            acc not in annotator.transcripts.mane and "." in acc and tx.accession != acc
        ):
            raise HGVSParseError(
                f"{acc} is not a modeled transcript (use "
                + ", ".join(sorted(t.accession for t in annotator.transcripts.transcripts))
                + " or a gene symbol)",
                source=text,
            )
        chrom = tx.chrom
        a = tx.c_to_genomic(_cpos(b["start"]))
        z = tx.c_to_genomic(_cpos(b["end"])) if b["end"] else a
        g1, g2 = min(a, z), max(a, z)
    gene = annotator.gene_at(chrom, g1, g2)
    if gene is None:
        raise HGVSParseError(f"{chrom}:{g1}-{g2} is outside MEN1, BCL2, BAX and TP53", source=text)
    w = annotator.windows[gene]
    minus = tx is not None and tx.strand == -1

    def plus(seq: str) -> str:
        return revcomp(seq) if minus else seq

    refseq = w.get(g1, g2)
    stated = b["ref"] or b["oldref"] or b["del"] or b["dup"] or b["same"] or ""
    if stated and len(stated) == g2 - g1 + 1:
        stated_plus = plus(stated)
        if "N" in refseq:
            # the FASTA does not know these bases: take them from the HGVS string
            refseq = "".join(s if r == "N" else r for r, s in zip(refseq, stated_plus, strict=True))
        elif refseq != stated_plus:
            raise HGVSParseError(
                f"the reference has {refseq} at {chrom}:{g1}-{g2}, the HGVS states {stated_plus}",
                source=text,
            )
    if b["alt"] is not None:
        return GenomicVariant(chrom, g1, refseq, plus(b["alt"]))
    if b["delins"] is not None:
        return GenomicVariant(chrom, g1, refseq, plus(b["delins"]))
    # indels: VCF style with the preceding base as anchor, or minimal alleles (empty REF or
    # ALT) when the FASTA does not know that base
    if b["del"] is not None and b["edit"].startswith("del"):
        anchor = w.base(g1 - 1)
        if anchor == "N":
            return GenomicVariant(chrom, g1, refseq, "")
        return GenomicVariant(chrom, g1 - 1, anchor + refseq, anchor)
    if b["dup"] is not None and b["edit"].startswith("dup"):
        anchor = w.base(g2)
        if anchor == "N" or "N" in refseq:
            return GenomicVariant(chrom, g2 + 1, "", refseq)
        return GenomicVariant(chrom, g2, anchor, anchor + refseq)
    if b["ins"] is not None:
        if g2 - g1 != 1:
            raise HGVSParseError("an insertion needs two adjacent flanking positions", source=text)
        anchor = w.base(g1)
        if anchor == "N":
            return GenomicVariant(chrom, g2, "", plus(b["ins"]))
        return GenomicVariant(chrom, g1, anchor, anchor + plus(b["ins"]))
    if b["edit"] == "inv":
        return GenomicVariant(chrom, g1, refseq, revcomp(refseq))
    return GenomicVariant(chrom, g1, refseq, refseq)
