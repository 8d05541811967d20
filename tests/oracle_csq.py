"""bcftools csq (through pysam) as an independent oracle for varannot's SO terms and protein.

Writes, for one annotator (one build), a local FASTA (one contig per gene region, coordinates
relative to the region start), a GFF3 from the same transcript models (MANE Select only,
Ensembl-style ``gene:``/``transcript:`` IDs as csq requires) and a VCF of generated variants:
every CDS SNV, and 1-6 bp deletions, duplications, insertions and 2-3 bp MNVs at every
exon/intron, start-codon, stop-codon and UTR border. Only alleles on known (non-N) sequence
are generated. Used by ``test_oracle_bcftools.py``; the sequence comes from ``../shared`` (and
the SYNTHETIC MEN1 region) at run time and is written to a temporary folder only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from varannot.annotate import Annotator
from varannot.transcripts import Transcript

BORDER = 8  # bases either side of every border
MAX_INDEL = 6


@dataclass(frozen=True, slots=True)
class Generated:
    gene: str
    pos: int  # genomic, VCF style
    ref: str
    alt: str
    kind: str  # snv | del | dup | ins | mnv


def _borders(t: Transcript) -> set[int]:
    """Genomic positions of every border: exon ends, CDS ends (start and stop codon)."""
    out = set()
    for s, e in t.exons:
        out.update((s - 1, s, e, e + 1))
    out.update((t.cds_start - 1, t.cds_start, t.cds_start + 2, t.cds_start + 3))
    out.update((t.cds_end - 3, t.cds_end - 2, t.cds_end, t.cds_end + 1))
    return out


def generate(a: Annotator, seed: int = 12) -> list[Generated]:
    """The variant set for every MANE transcript of ``a`` (deterministic)."""
    rng = random.Random(seed)
    seen: set[tuple[str, int, str, str]] = set()
    out: list[Generated] = []

    def add(gene: str, pos: int, ref: str, alt: str, kind: str) -> None:
        if "N" in ref + alt or ref == alt or (gene, pos, ref, alt) in seen:
            return
        seen.add((gene, pos, ref, alt))
        out.append(Generated(gene, pos, ref, alt, kind))

    comp = {"A": "C", "C": "G", "G": "T", "T": "A"}
    for gene, t in sorted(a.transcripts.mane.items()):
        w = a.windows[gene]
        for s, e in t.coding_intervals():
            for g in range(s, e + 1):
                b = w.base(g)
                for alt in "ACGT":
                    add(gene, g, b, alt, "snv")
        anchors: set[int] = set()
        for b in _borders(t):
            anchors.update(range(b - BORDER - MAX_INDEL, b + BORDER + 1))
        for g in sorted(anchors):
            if not w.start < g < w.end - MAX_INDEL - 1:
                continue
            base = w.base(g)
            for n in range(1, MAX_INDEL + 1):
                add(gene, g, w.get(g, g + n), base, "del")
                add(gene, g, base, base + w.get(g + 1, g + n), "dup")
                ins = "".join(rng.choice("ACGT") for _ in range(n))
                add(gene, g, base, base + ins, "ins")
            for n in (2, 3):
                ref = w.get(g, g + n - 1)
                add(gene, g, ref, "".join(comp.get(x, "N") for x in ref), "mnv")
    return out


def contig(gene: str) -> str:
    return f"{gene}_region"


def write_inputs(a: Annotator, variants: list[Generated], d: Path) -> tuple[Path, Path, Path]:
    """FASTA, GFF3 and VCF in region-local coordinates (a contig per gene)."""
    d.mkdir(parents=True, exist_ok=True)
    fasta, gff, vcf = d / "regions.fa", d / "models.gff3", d / "variants.vcf"
    with fasta.open("w") as fh:
        for gene, w in sorted(a.windows.items()):
            fh.write(f">{contig(gene)}\n")
            for i in range(0, len(w.seq), 60):
                fh.write(w.seq[i : i + 60] + "\n")
    with gff.open("w") as fh:
        fh.write("##gff-version 3\n")
        for gene, t in sorted(a.transcripts.mane.items()):
            off = a.windows[gene].start - 1
            ctg, strand = contig(gene), "+" if t.strand == 1 else "-"

            def row(kind: str, s: int, e: int, attrs: str, phase: str = ".") -> None:
                fh.write(f"{ctg}\tvarannot\t{kind}\t{s - off}\t{e - off}\t.\t{strand}\t{phase}")  # noqa: B023
                fh.write(f"\t{attrs}\n")

            row("gene", t.start, t.end, f"ID=gene:{gene};Name={gene};biotype=protein_coding")
            tid = f"transcript:{t.accession}"
            row("mRNA", t.start, t.end,
                f"ID={tid};Parent=gene:{gene};Name={t.accession};biotype=protein_coding")  # fmt: skip
            done = 0  # coding bases before this exon, in transcript order
            for s, e in t.exons:
                row("exon", s, e, f"Parent={tid}")
                cs, ce = max(s, t.cds_start), min(e, t.cds_end)
                if cs <= ce:
                    row("CDS", cs, ce, f"Parent={tid}", str((3 - done % 3) % 3))
                    done += ce - cs + 1
                for us, ue in ((s, min(e, t.cds_start - 1)), (max(s, t.cds_end + 1), e)):
                    if us <= ue:
                        five = (ue < t.cds_start) == (t.strand == 1)
                        row("five_prime_UTR" if five else "three_prime_UTR", us, ue,
                            f"Parent={tid}")  # fmt: skip
    order = sorted(range(len(variants)), key=lambda i: (contig(variants[i].gene), variants[i].pos))
    with vcf.open("w") as fh:
        fh.write("##fileformat=VCFv4.2\n")
        for gene, w in sorted(a.windows.items()):
            fh.write(f"##contig=<ID={contig(gene)},length={len(w.seq)}>\n")
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for i in order:
            v = variants[i]
            local = v.pos - a.windows[v.gene].start + 1
            fh.write(f"{contig(v.gene)}\t{local}\tv{i}\t{v.ref}\t{v.alt}\t.\tPASS\t.\n")
    return fasta, gff, vcf


def run_csq(fasta: Path, gff: Path, vcf: Path, out: Path) -> dict[str, list[str]]:
    """BCSQ entries per variant ID (``v17``) from ``pysam.bcftools.csq``."""
    import pysam
    import pysam.bcftools

    pysam.faidx(str(fasta))
    pysam.bcftools.csq(
        "-f", str(fasta), "-g", str(gff), "-l", "-O", "v", "-o", str(out), str(vcf),
        catch_stdout=False,
    )  # fmt: skip
    res: dict[str, list[str]] = {}
    with pysam.VariantFile(str(out)) as vf:
        for rec in vf:
            bcsq = rec.info.get("BCSQ") if "BCSQ" in rec.header.info else None
            res[str(rec.id)] = list(bcsq) if bcsq else []
    return res
