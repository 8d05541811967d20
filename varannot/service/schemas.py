"""Request and response models of the HTTP API (pydantic), which also generate the OpenAPI schema.

Requests: a JSON list of genomic or HGVS variants with thresholds (:class:`AnnotateRequest`)
and the form fields of a file upload (:class:`FileOptions`); responses: knowledge-base info,
transcript lists, jobs, health. The result document itself is :class:`varannot.schema.ResultDocument`,
shared with the CLI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from .. import __version__
from ..api import RunOptions
from ..calls import Thresholds
from ..knowledge import DISEASES
from ..models import Build
from ..schema import ResultDocument
from .problems import Problem

_SAMPLE_RE = r"^[^\x00-\x1f,]{1,200}$"


# =============================================================================================
# Request models
# =============================================================================================

_BASES = r"^[ACGTNacgtn]+$"


class _Measured(BaseModel):
    """What a caller may say about one allele in one sample (all optional).

    Strict types: JSON ``false`` is not a depth of 0, nor ``"12"`` a depth of 12.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    sample: str | None = Field(
        default=None, pattern=_SAMPLE_RE, description="overrides the request's"
    )
    vaf: float | None = Field(default=None, ge=0, le=1)
    depth: int | None = Field(default=None, ge=0, le=10**9)
    alt_depth: int | None = Field(default=None, ge=0, le=10**9)
    genotype: str | None = Field(default=None, pattern=r"^[0-9.]{1,3}([/|][0-9.]{1,3}){0,7}$")

    @model_validator(mode="after")
    def _depths(self) -> _Measured:
        if self.depth is not None and self.alt_depth is not None and self.alt_depth > self.depth:
            raise ValueError("alt_depth is larger than depth")
        return self


class GenomicVariantIn(_Measured):
    """A VCF-style allele (1-based ``pos``; any contig alias: chr17, 17, NC_000017.11)."""

    chrom: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    pos: int = Field(ge=1, le=1_000_000_000)
    ref: str = Field(min_length=1, max_length=1000, pattern=_BASES)
    alt: str = Field(min_length=1, max_length=1000, pattern=_BASES)


class HgvsVariantIn(_Measured):
    """An HGVS string: g./c. (``NM_000546.6:c.524G>A``) or p. (``MEN1:p.Met327Ile``)."""

    hgvs: str = Field(min_length=3, max_length=300)
    numbering: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z]{2}_\d+(\.\d+)?$",
        description="protein/transcript accession whose numbering a GENE:p. change uses",
    )


def _variant_kind(v: Any) -> str | None:
    """Which form a list entry has, so validation errors name that form only."""
    if isinstance(v, str):
        return "text"
    if isinstance(v, dict):
        return "hgvs" if "hgvs" in v else "genomic"
    if isinstance(v, GenomicVariantIn):
        return "genomic"
    return "hgvs" if isinstance(v, HgvsVariantIn) else None


VariantItem = Annotated[
    Annotated[str, Tag("text"), Field(min_length=3, max_length=300)]
    | Annotated[GenomicVariantIn, Tag("genomic")]
    | Annotated[HgvsVariantIn, Tag("hgvs")],
    Discriminator(_variant_kind),
]


_DEFAULT_TH = Thresholds()
# JSON Schema cannot compare two fields; it can say that without reporting_vaf the floor is
# bounded by its default, and the descriptions state the rest (floor <= reporting_vaf).
THRESHOLDS_SCHEMA_RULE: dict[str, Any] = {
    "if": {"not": {"required": ["reporting_vaf"]}},
    "then": {"properties": {"detection_floor": {"maximum": _DEFAULT_TH.reporting_vaf}}},
}
REPORTING_VAF_DOC = (
    f"VAF from which a confirmed match can be resistant (default {_DEFAULT_TH.reporting_vaf:g}); "
    "at least detection_floor"
)
DETECTION_FLOOR_DOC = (
    f"VAF below which matches are listed but not called (default {_DEFAULT_TH.detection_floor:g})"
    f"; at most reporting_vaf (its default {_DEFAULT_TH.reporting_vaf:g} when not given)"
)


class ThresholdsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=THRESHOLDS_SCHEMA_RULE)

    reporting_vaf: float | None = Field(default=None, ge=0, le=1, description=REPORTING_VAF_DOC)
    detection_floor: float | None = Field(default=None, ge=0, le=1, description=DETECTION_FLOOR_DOC)
    min_depth: int | None = Field(default=None, ge=0, le=10**6)
    disease: str | None = Field(
        default=None,
        max_length=20,
        description="the samples' disease as an OncoTree code (AML, BLL, TLL, CLLSLL, MDS, ...); "
        "calls are made for it (unspecified: none given)",
        examples=["AML"],
    )

    @field_validator("disease")
    @classmethod
    def _oncotree(cls, v: str | None) -> str | None:
        if v is None or not v.strip() or v.strip().lower() == "unspecified":
            return None
        code = v.strip().upper()
        if code not in DISEASES:
            raise ValueError(
                f"unknown disease {v!r}: give an OncoTree code ({', '.join(DISEASES)})"
            )
        return code

    def thresholds(self) -> Thresholds:
        th = Thresholds()
        for k in ("reporting_vaf", "detection_floor", "min_depth"):
            v = getattr(self, k)
            if v is not None:
                setattr(th, k, v)
        th.check()
        return th


class AnnotateRequest(ThresholdsIn):
    """JSON body of ``POST /v1/annotate`` and ``POST /v1/jobs``."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # JSON types as declared: no bool as number, no numeric strings
        json_schema_extra={
            **THRESHOLDS_SCHEMA_RULE,
            "examples": [
                {
                    "sample": "P1",
                    "variants": [
                        "NP_000235.2:p.Met327Ile",
                        "NM_000546.6:c.524G>A",
                        {"chrom": "chr18", "pos": 63318365, "ref": "C", "alt": "A", "vaf": 0.3},
                    ],
                }
            ],
        },
    )

    build: Build | None = Field(
        default=None, description="detected from NC_ accessions, else the default"
    )
    sample: str = Field(default="sample", pattern=_SAMPLE_RE)
    variants: list[VariantItem] = Field(min_length=1, max_length=100_000)


class FileOptions(ThresholdsIn):
    """Form fields that may accompany uploaded files."""

    build: Build | None = None
    sample: str | None = Field(
        default=None, pattern=_SAMPLE_RE, description="sample name of traces"
    )
    samples: str | None = Field(
        default=None, max_length=10_000, description="VCF samples to keep (a,b)"
    )
    tumor: str | None = Field(default=None, pattern=_SAMPLE_RE)
    include_filtered: bool = False
    trace_windows: bool = Field(
        default=False, description="chromatogram data around trace calls and KB residues"
    )

    def run_options(self) -> RunOptions:
        keep = [s for s in (self.samples or "").split(",") if s.strip()]
        return RunOptions(
            samples=[s.strip() for s in keep] or None,
            tumor=self.tumor,
            include_filtered=self.include_filtered,
            trace_sample=self.sample,
            trace_windows=self.trace_windows,
            thresholds=self.thresholds(),
            disease=self.disease,
        )


# =============================================================================================
# Response models
# =============================================================================================


class KnowledgeBaseInfo(BaseModel):
    version: str
    sha256: str
    rows: int
    sources: list[str]
    drugs: dict[str, str] = Field(description="drug -> drug class")


class TranscriptOut(BaseModel):
    build: str
    gene: str
    transcript: str
    protein: str
    role: str = Field(description="mane_select or literature_numbering")
    chrom: str
    strand: Literal["+", "-"]
    cds_start: int
    cds_end: int
    protein_length: int
    exons: int


class TranscriptList(BaseModel):
    builds: list[str]
    default_build: str
    transcripts: list[TranscriptOut]


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "finished", "failed"]
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int
    inputs: list[str]
    note: str | None = None
    error: Problem | None = None
    result: ResultDocument | None = Field(default=None, description="present once finished")
    links: dict[str, str]


class Health(BaseModel):
    status: str
    version: str = __version__


class Readiness(BaseModel):
    status: str
    builds: list[str]
    database: str
    job_workers: int
    jobs_running: int
