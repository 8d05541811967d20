"""Internal data types that flow one way: reader -> normalization -> annotation -> calls.

These are plain slotted dataclasses (cheap on the hot path); the public output schema lives in
``schema.py`` as pydantic models built from them at the very end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Build = Literal["GRCh38", "GRCh37"]
BUILDS: tuple[Build, ...] = ("GRCh38", "GRCh37")


@dataclass(frozen=True, slots=True)
class GenomicVariant:
    """One ALT allele in VCF convention: 1-based ``pos``, ``chrom`` canonical (``chr17``)."""

    chrom: str
    pos: int
    ref: str
    alt: str

    @property
    def end(self) -> int:
        """Last reference base touched (for insertions, the anchor base)."""
        return self.pos + max(len(self.ref), 1) - 1

    def __str__(self) -> str:
        return f"{self.chrom}:{self.pos}:{self.ref}>{self.alt}"


@dataclass(slots=True)
class Observation:
    """What a reader saw for one sample and one ALT allele.

    ``chrom``/``pos``/``ref``/``alt`` are exactly as in the input (for the JSON contract); the
    annotator canonicalizes and normalizes them. ``record`` names where it came from so every
    later message can point at it (``line 57`` or ``read 3 trace position 211``).
    """

    sample: str
    chrom: str
    pos: int
    ref: str
    alt: str
    source: str
    record: str
    genotype: str | None = None
    phased: bool = False
    phase_set: str | None = None
    # Haplotype indexes (0-based, within the GT) that carry this ALT, when phased.
    haplotypes: tuple[int, ...] = ()
    depth: int | None = None
    alt_depth: int | None = None
    vaf: float | None = None
    vaf_source: str | None = None
    filters: tuple[str, ...] = ()  # empty tuple = PASS (or no filter applied)
    quality: float | None = None
    origin: Literal["vcf", "trace", "list", "reads"] = "vcf"
    # Observations from one Sanger read are on one molecule: same-codon changes merge.
    read_group: str | None = None
    extra_flags: tuple[str, ...] = ()
    # Pre-annotated entry (a protein-level change: no nucleotide allele to annotate). The
    # engine uses it instead of annotating; ``alt`` is then symbolic (``<M322I>``).
    annotation: Annotation | None = None

    @property
    def passed(self) -> bool:
        return not self.filters or self.filters == ("PASS",)


@dataclass(frozen=True, slots=True)
class CoveredInterval:
    """A span of one sample's genome that was looked at (1-based inclusive, canonical chrom)."""

    chrom: str
    start: int
    end: int
    depth: int | None = None
    source: Literal["gvcf_block", "variant_site", "trace", "declared", "reads"] = "gvcf_block"
    # read pileups: the VAF a clone needs to be called here (95 % power), given depth and noise
    lod: float | None = None


@dataclass(frozen=True, slots=True)
class CopyNumberEvent:
    """A copy-number segment of one sample given as input (SEG file or symbolic VCF record).

    ``kind``: ``deletion`` (one or both copies lost), ``cn_loh`` (copy-neutral loss of
    heterozygosity), ``gain`` or ``neutral``; only the first two count for biallelic rules.
    """

    sample: str
    chrom: str
    start: int
    end: int
    kind: Literal["deletion", "cn_loh", "gain", "neutral"]
    source: str
    record: str
    copy_number: float | None = None


@dataclass(slots=True)
class SkipReport:
    """Records a reader did not turn into observations: counted by reason, with examples."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, where: str, max_examples: int = 5) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < max_examples:
            ex.append(where)

    def merge(self, other: SkipReport) -> None:
        for reason, n in other.counts.items():
            self.counts[reason] = self.counts.get(reason, 0) + n
            ex = self.examples.setdefault(reason, [])
            for w in other.examples.get(reason, []):
                if len(ex) < 5:
                    ex.append(w)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(slots=True)
class InputBatch:
    """Everything one reader produced from one input file."""

    source: str
    kind: Literal["vcf", "trace", "list", "maf", "reads"]
    samples: list[str]
    observations: list[Observation] = field(default_factory=list)
    # Per sample: intervals known to be covered. A sample absent from this dict means the input
    # says nothing about coverage (plain VCF): calls must then say coverage is unknown.
    coverage: dict[str, list[CoveredInterval]] = field(default_factory=dict)
    skipped: SkipReport = field(default_factory=SkipReport)
    records_read: int = 0
    records_outside_genes: int = 0
    build_hint: Build | None = None
    # Deletions / LOH of a gene seen as symbolic records (<DEL>, <CN0>, <CN1>), per sample.
    copy_number: list[CopyNumberEvent] = field(default_factory=list)
    # Free-form reader details carried to the output (trace placements, plots, VAF sources...).
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProteinChange:
    """A predicted protein change on one protein accession."""

    accession: str  # NP_...
    hgvs: str  # 'p.(Arg175His)', 'p.?', 'p.(Met1?)'
    short: str  # 'R175H', 'R213*', 'P72Rfs*5'
    kind: str  # missense|synonymous|nonsense|frameshift|inframe_deletion|inframe_insertion|
    #            delins|duplication|start_lost|stop_lost|unknown|no_change
    start: int | None = None  # first affected residue (1-based)
    end: int | None = None  # last affected residue
    ref_aa: str = ""  # 1-letter reference residues start..end
    alt_aa: str = ""  # 1-letter residues replacing them ('*' for stop)


@dataclass(slots=True)
class Annotation:
    """One allele annotated on one transcript (the gene's MANE Select)."""

    variant: GenomicVariant  # normalized (trimmed, left-aligned), canonical chrom
    gene: str
    transcript: str  # versioned NM_
    protein_accession: str | None
    consequence: list[str]  # SO terms, most severe first
    hgvs_c: str  # 'NM_000546.6:c.524G>A'
    hgvs_p: str | None  # 'NP_000537.3:p.(Arg175His)'
    protein: ProteinChange | None
    flags: list[str] = field(default_factory=list)
    # Literature numbering where it differs from MANE (MEN1: NM_000244.3 / NP_000235.3).
    legacy_transcript: str | None = None
    hgvs_c_legacy: str | None = None
    hgvs_p_legacy: str | None = None
    legacy_protein: ProteinChange | None = None
    exon: str | None = None  # '5/11'
    intron: str | None = None


@dataclass(frozen=True, slots=True)
class ReferenceRegion:
    """A stretch of plus-strand reference sequence a read can be placed on (Sanger input).

    ``start`` is the 1-based genomic position of ``sequence[0]``; N marks unknown bases.
    ``gene`` is None for user-supplied amplicon references (``--trace-reference``).
    """

    name: str
    chrom: str
    start: int
    sequence: str
    gene: str | None = None

    @property
    def end(self) -> int:
        return self.start + len(self.sequence) - 1
