"""The output document (JSON contract) as pydantic models, shared by the CLI and the service.

Field names listed in the project's issues are fixed (checks outside the project read them):
``varannot_version``, ``build``, ``samples``; per sample ``sample``, ``variants``, ``calls``;
per variant ``chrom``, ``pos``, ``ref``, ``alt``, ``gene``, ``transcript``, ``consequence``,
``hgvs_c``, ``hgvs_p``, ``protein_change``, ``flags``, ``hgvs_p_legacy``,
``protein_change_legacy``; per call ``drug``, ``drug_class``, ``call``, ``coverage``,
``evidence``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, NonNegativeInt

CallValue = Literal[
    "resistant", "likely_resistant", "uncertain", "no_known_resistance", "not_assessed"
]
CoverageValue = Literal["covered", "not_covered", "partial", "unknown"]


class VariantOut(BaseModel):
    """One ALT allele of one sample in one of the four genes."""

    chrom: str
    pos: int
    ref: str
    alt: str
    gene: str | None = None
    transcript: str | None = None
    consequence: list[str] = Field(default_factory=list)
    hgvs_c: str | None = None
    hgvs_p: str | None = None
    protein_change: str | None = None
    flags: list[str] = Field(default_factory=list)
    hgvs_p_legacy: str | None = None
    protein_change_legacy: str | None = None
    legacy_transcript: str | None = None
    hgvs_c_legacy: str | None = None
    exon: str | None = None
    intron: str | None = None
    normalized: str | None = Field(default=None, description="left-aligned CHROM:POS:REF>ALT")
    genotype: str | None = None
    depth: int | None = None
    alt_depth: int | None = None
    vaf: float | None = None
    vaf_source: str | None = None
    filter: list[str] = Field(default_factory=list)
    source: str | None = None
    record: str | None = None
    phase_set: str | None = None
    haplotype_hgvs_p: str | None = Field(
        default=None,
        description="protein change of the phased same-codon haplotype this allele is on",
    )
    rule_ids: list[str] = Field(default_factory=list)
    classified: bool = Field(default=False, description="matched at least one knowledge-base rule")


class EvidenceOut(BaseModel):
    rule_id: str
    gene: str
    effect: str
    status: str
    level: str
    evidence_kind: str
    hgvs_p: str | None = None
    protein_change: str | None = None
    protein_change_legacy: str | None = None
    vaf: float | None = None
    depth: int | None = None
    citations: list[str] = Field(default_factory=list)
    note: str | None = None


class DetectionLimitOut(BaseModel):
    """Read pileups: the least depth over a locus and the VAF a clone there needs to be called."""

    locus: str
    chrom: str
    start: int
    end: int
    min_depth: int
    limit_of_detection: float | None = None
    text: str


class CallOut(BaseModel):
    drug: str
    drug_class: str
    call: CallValue
    coverage: CoverageValue
    evidence: list[EvidenceOut] = Field(default_factory=list)
    caveats: list[str] = Field(default_factory=list)
    uncovered_loci: list[str] = Field(default_factory=list)
    # BAM/CRAM input only: per locus that matters, depth and limit of detection
    detection_limits: list[DetectionLimitOut] = Field(default_factory=list)
    disease: str | None = Field(
        default=None, description="OncoTree code the call was made for (None: not given)"
    )


class SkippedOut(BaseModel):
    reason: str
    count: int
    examples: list[str] = Field(default_factory=list)


class DepthTrackOut(BaseModel):
    """Read depth at each position of one piled-up interval (BAM/CRAM input)."""

    gene: str | None = None
    chrom: str
    start: int
    depth: list[NonNegativeInt]


class SampleOut(BaseModel):
    sample: str
    disease: str | None = Field(default=None, description="OncoTree code given for the sample")
    sources: list[str] = Field(default_factory=list)
    coverage_source: Literal["gvcf", "trace", "unknown", "declared", "reads"] = "unknown"
    # BAM/CRAM input: depth across the piled-up intervals (coverage plots, coverage.tsv)
    depth_profile: list[DepthTrackOut] = Field(default_factory=list)
    variants: list[VariantOut] = Field(default_factory=list)
    calls: list[CallOut] = Field(default_factory=list)
    unclassified_variants: list[str] = Field(
        default_factory=list, description="hgvs of gene variants matching no rule"
    )
    excluded_variants: list[VariantOut] = Field(
        default_factory=list, description="listed but left out of calls (e.g. FILTER not PASS)"
    )
    traces: list[dict[str, object]] = Field(default_factory=list)


class KnowledgeBaseOut(BaseModel):
    version: str
    sha256: str
    sources: list[str] = Field(default_factory=list)
    rows: int = 0


class InputSummary(BaseModel):
    source: str
    kind: str
    samples: list[str]
    records_read: int
    records_outside_genes: int
    skipped: list[SkippedOut] = Field(default_factory=list)
    details: dict[str, object] = Field(default_factory=dict)
    error: str | None = Field(
        default=None, description="why this input could not be read (its samples: not_assessed)"
    )


class ResultDocument(BaseModel):
    varannot_version: str
    build: str
    reference: str | None = None
    knowledge_base: KnowledgeBaseOut | None = None
    thresholds: dict[str, float | int] = Field(default_factory=dict)
    samples: list[SampleOut] = Field(default_factory=list)
    inputs: list[InputSummary] = Field(default_factory=list)
    variants_outside_genes: int = 0
    warnings: list[str] = Field(default_factory=list)
