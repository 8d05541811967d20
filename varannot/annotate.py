"""The annotator: one genomic allele in, its MANE (and literature-numbering) annotation out.

The reference is injected (``ReferenceProvider``); the annotator reads each gene region once
at start-up and works in memory afterwards, which is what makes it fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .consequences import TranscriptContext, effect
from .errors import ReferenceError_
from .genome import canonical_chrom
from .models import Annotation, Build, GenomicVariant
from .normalize import SeqWindow, normalize
from .reference import ReferenceProvider
from .transcripts import TranscriptSet, load_transcripts

_ALLELE = re.compile(r"^[ACGTN]+$")


@dataclass(slots=True)
class AlleleAnnotation:
    """Result for one input allele: its normalized form, flags and the gene annotation."""

    input: GenomicVariant
    normalized: GenomicVariant | None
    annotation: Annotation | None
    flags: list[str] = field(default_factory=list)

    @property
    def in_gene(self) -> bool:
        return self.annotation is not None


class Annotator:
    """Annotates alleles of one build against the shipped transcript models."""

    def __init__(
        self,
        reference: ReferenceProvider,
        build: Build,
        transcripts: TranscriptSet | None = None,
    ):
        if build not in ("GRCh38", "GRCh37"):
            raise ReferenceError_(f"unknown build {build!r} (use GRCh38 or GRCh37)")
        ref_build = getattr(reference, "build", None)
        if ref_build and ref_build != build:
            raise ReferenceError_(
                f"the reference is {ref_build} but the build requested is {build}",
                source=getattr(reference, "name", None),
            )
        self.build: Build = build
        self.reference = reference
        self.transcripts = transcripts or load_transcripts(build)
        self.windows: dict[str, SeqWindow] = {}
        self.model_problems: list[str] = []
        self.contexts: dict[str, TranscriptContext] = {}
        self.unknown_fraction: dict[str, float] = {}
        self.missing_contigs: set[str] = set()
        for gene, chrom, start, end in self.transcripts.gene_regions():
            if not reference.has_contig(chrom):
                self.missing_contigs.add(chrom)
                self.model_problems.append(
                    f"the FASTA has no sequence for {chrom} ({gene}): its variants are "
                    "annotated from coordinates only (flag contig_not_in_fasta)"
                )
            seq = reference.fetch(chrom, start, end)
            w = SeqWindow(chrom, start, seq)
            self.windows[gene] = w
            self.unknown_fraction[gene] = seq.count("N") / max(len(seq), 1)
        for t in self.transcripts.transcripts:
            ctx = TranscriptContext(t, self.windows[t.gene])
            self.contexts[t.accession] = ctx
            self.model_problems.extend(ctx.problems)

    # ------------------------------------------------------------------------------------
    def gene_at(self, chrom: str, pos: int, end: int | None = None) -> str | None:
        """The gene whose region (models plus flank) contains chrom:pos, if any."""
        c = canonical_chrom(chrom)
        end = end or pos
        for gene, w in self.windows.items():
            if w.chrom == c and pos <= w.end and end >= w.start:
                return gene
        return None

    def annotate(self, chrom: str, pos: int, ref: str, alt: str) -> AlleleAnnotation:
        """Annotate one VCF-style allele (any contig alias)."""
        c = canonical_chrom(chrom)
        raw = GenomicVariant(c, pos, ref.upper(), alt.upper())
        result = AlleleAnnotation(GenomicVariant(chrom, pos, ref, alt), None, None)
        gene = self.gene_at(c, pos, pos + max(len(ref), 1) - 1)
        if gene is None:
            return result
        # empty REF or ALT: minimal alleles (HGVS input), VCF never has them
        if not _ALLELE.match(raw.ref or "N") or not _ALLELE.match(raw.alt or "N"):
            result.flags.append("invalid_allele")
            return result
        w = self.windows[gene]
        if c in self.missing_contigs:
            result.flags.append("contig_not_in_fasta")
        refseq = w.get(raw.pos, raw.pos + len(raw.ref) - 1)
        if raw.pos + len(raw.ref) - 1 > w.end or raw.pos < w.start:
            result.flags.append("ref_beyond_reference")
        unverified = False
        for a, b in zip(refseq, raw.ref, strict=False):
            if a == "N" or b == "N":
                unverified = True
            elif a != b:
                result.flags.append("ref_mismatch")
                break
        if not raw.ref and "N" in (w.base(raw.pos - 1) + w.base(raw.pos)):
            unverified = True  # an insertion between unknown bases
        patched = False
        if unverified:
            result.flags.append("ref_unverified")
            pw = _patched(w, raw.pos, raw.ref)
            patched = pw is not w
            w = pw
        if raw.ref == raw.alt:
            result.flags.append("no_change")
        norm, (mpos, mref, malt) = normalize(w, raw)
        result.normalized = norm
        mane = self.transcripts.mane[gene]
        ctx = self.contexts[mane.accession]
        if patched:
            ctx = ctx.patched(w, raw.pos, raw.ref)
        eff = effect(ctx, mpos, mref, malt)
        ann = Annotation(
            variant=norm,
            gene=gene,
            transcript=mane.accession,
            protein_accession=mane.protein,
            consequence=eff.consequence,
            hgvs_c=eff.hgvs_c,
            hgvs_p=f"{mane.protein}:{eff.protein.hgvs}" if eff.protein else None,
            protein=eff.protein,
            flags=list(result.flags) + eff.flags,
            exon=eff.exon,
            intron=eff.intron,
        )
        legacy = self.transcripts.legacy.get(gene)
        if legacy is not None:
            lctx = self.contexts[legacy.accession]
            if patched:
                lctx = lctx.patched(w, raw.pos, raw.ref)
            leff = effect(lctx, mpos, mref, malt)
            ann.legacy_transcript = legacy.accession
            ann.hgvs_c_legacy = leff.hgvs_c
            ann.legacy_protein = leff.protein
            ann.hgvs_p_legacy = f"{legacy.protein}:{leff.protein.hgvs}" if leff.protein else None
        result.annotation = ann
        return result


def _patched(w: SeqWindow, pos: int, ref: str) -> SeqWindow:
    """The window with the input's REF written over unknown (N) bases: annotate from the input."""
    i = pos - w.start
    if i < 0 or i + len(ref) > len(w.seq):
        return w
    cur = w.seq[i : i + len(ref)]
    merged = "".join(r if c == "N" else c for c, r in zip(cur, ref, strict=True))
    return SeqWindow(w.chrom, w.start, w.seq[:i] + merged + w.seq[i + len(ref) :])
