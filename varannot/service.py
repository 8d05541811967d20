"""HTTP service: a thin FastAPI shell over the library calls the CLI uses.

Pipelines post a sample's VCF/BCF or Sanger trace (or a JSON list of variants) and get the same
``ResultDocument`` as ``varannot annotate``; large inputs go through durable jobs
(``varannot.jobs``). What this module adds is only what a network service needs:

- engines (reference windows, transcript models, knowledge base) are built once at start-up,
  one per build, and shared; annotation runs in a thread pool so the event loop keeps serving;
- uploads are streamed to disk under the data directory with a size limit, a gzip-bomb guard and
  an idle timeout; the client's file name is only ever a label, never a path;
- every error is an RFC 9457 ``application/problem+json`` document naming the file, the record
  and the problem: bad input is a 4xx, never a 500;
- optional API keys (stored as SHA-256 hashes) with per-key token-bucket rate limits, CORS only
  when configured, Prometheus metrics.

Settings come from ``ServiceSettings`` (CLI flags via ``serve``; the rest from ``VARANNOT_*``
environment variables, see ``ServiceSettings.from_env``).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import json
import logging
import os
import re
import shutil
import struct
import threading
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__
from .annotate import AlleleAnnotation
from .api import Engine, RunOptions
from .calls import Thresholds
from .errors import BuildMismatchError, InputError, VarannotError
from .genome import accession_build, detect_build
from .hgvs_input import parse_to_genomic
from .jobs import DataDirLock, Job, JobRunner, JobStore, database_url
from .knowledge import KnowledgeBase
from .models import BUILDS, Build, GenomicVariant, InputBatch, Observation
from .protein_input import annotate_protein
from .schema import ResultDocument

log = logging.getLogger("varannot.service")

PROBLEM_JSON = "application/problem+json"
MiB = 1 << 20
GiB = 1 << 30
_SAFE_LABEL = re.compile(r"[^A-Za-z0-9._+ ()\-]")
_SAMPLE_RE = r"^[^\x00-\x1f,]{1,200}$"


# =============================================================================================
# Settings
# =============================================================================================


class ApiKey(BaseModel):
    """One API key: a name (for logs, metrics and job ownership) and the key's SHA-256.

    Only the hash is configured or kept: ``printf %s "$KEY" | sha256sum``.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    rate_per_second: float | None = Field(
        default=None, ge=0, description="overrides the default rate"
    )


class ServiceSettings(BaseModel):
    """Everything the service needs; ``from_env`` fills what the CLI does not pass."""

    model_config = ConfigDict(extra="forbid")

    fastas: list[Path] = Field(min_length=1)
    builds: list[Build | None] | None = None
    kb: list[Path] = Field(default_factory=list)
    kb_replace: bool = False
    data_dir: Path = Path("varannot-data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; SQLite in data_dir if unset"
    )
    job_workers: int = Field(default=1, ge=0, le=64)
    annotate_threads: int = Field(default=4, ge=1, le=64)
    max_upload_bytes: int = Field(default=GiB, ge=1)
    max_sync_upload_bytes: int = Field(
        default=100 * MiB, ge=1, description="POST /v1/annotate; larger inputs go to /v1/jobs"
    )
    max_trace_bytes: int = Field(default=32 * MiB, ge=1)
    max_json_bytes: int = Field(default=4 * MiB, ge=1)
    max_json_variants: int = Field(default=10_000, ge=1)
    max_files: int = Field(default=16, ge=1)
    max_decompressed_bytes: int = Field(default=16 * GiB, ge=1)
    max_compression_ratio: float = Field(default=200.0, gt=1)
    compression_ratio_floor_bytes: int = Field(default=64 * MiB, ge=0)
    request_timeout_s: float = Field(default=120.0, gt=0)
    body_timeout_s: float = Field(default=30.0, gt=0)
    job_max_attempts: int = Field(default=2, ge=1)
    job_lease_s: float = Field(default=30.0, gt=0)
    job_poll_s: float = Field(default=1.0, gt=0)
    shutdown_grace_s: float = Field(default=10.0, ge=0)
    api_keys: list[ApiKey] = Field(default_factory=list)
    rate_limit_per_second: float = Field(default=0.0, ge=0, description="0 = no limit")
    rate_limit_burst: int = Field(default=20, ge=1)
    cors_origins: list[str] = Field(default_factory=list)
    access_log: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **values: Any) -> ServiceSettings:
        """Explicit ``values`` (the CLI's flags) win over environment variables.

        ``DATABASE_URL``; ``VARANNOT_`` + ``MAX_UPLOAD_BYTES`` (jobs), ``MAX_SYNC_UPLOAD_BYTES``
        (``/v1/annotate``), ``MAX_TRACE_BYTES``,
        ``MAX_JSON_BYTES``, ``MAX_JSON_VARIANTS``, ``MAX_FILES``, ``MAX_DECOMPRESSED_BYTES``,
        ``MAX_COMPRESSION_RATIO``, ``REQUEST_TIMEOUT``, ``BODY_TIMEOUT``, ``ANNOTATE_THREADS``,
        ``JOB_MAX_ATTEMPTS``, ``JOB_LEASE``, ``SHUTDOWN_GRACE``, ``RATE_LIMIT`` (requests/s per
        key), ``RATE_BURST``, ``CORS_ORIGINS`` (comma-separated), ``ACCESS_LOG`` (0/1),
        ``API_KEYS`` (``name:sha256[:rate],...``) and ``API_KEYS_FILE`` (one
        ``name sha256 [rate]`` per line).
        """
        env = os.environ if env is None else env
        names = {
            "DATABASE_URL": "database_url",
            "VARANNOT_MAX_UPLOAD_BYTES": "max_upload_bytes",
            "VARANNOT_MAX_SYNC_UPLOAD_BYTES": "max_sync_upload_bytes",
            "VARANNOT_MAX_TRACE_BYTES": "max_trace_bytes",
            "VARANNOT_MAX_JSON_BYTES": "max_json_bytes",
            "VARANNOT_MAX_JSON_VARIANTS": "max_json_variants",
            "VARANNOT_MAX_FILES": "max_files",
            "VARANNOT_MAX_DECOMPRESSED_BYTES": "max_decompressed_bytes",
            "VARANNOT_MAX_COMPRESSION_RATIO": "max_compression_ratio",
            "VARANNOT_REQUEST_TIMEOUT": "request_timeout_s",
            "VARANNOT_BODY_TIMEOUT": "body_timeout_s",
            "VARANNOT_ANNOTATE_THREADS": "annotate_threads",
            "VARANNOT_JOB_MAX_ATTEMPTS": "job_max_attempts",
            "VARANNOT_JOB_LEASE": "job_lease_s",
            "VARANNOT_SHUTDOWN_GRACE": "shutdown_grace_s",
            "VARANNOT_RATE_LIMIT": "rate_limit_per_second",
            "VARANNOT_RATE_BURST": "rate_limit_burst",
            "VARANNOT_ACCESS_LOG": "access_log",
        }
        data: dict[str, Any] = {}
        for var, key in names.items():
            if env.get(var):
                data[key] = env[var]
        if env.get("VARANNOT_CORS_ORIGINS"):
            data["cors_origins"] = [o.strip() for o in env["VARANNOT_CORS_ORIGINS"].split(",")]
        keys: list[dict[str, Any]] = []
        for item in (env.get("VARANNOT_API_KEYS") or "").split(","):
            if item.strip():
                keys.append(_key_entry(item.strip().split(":"), "VARANNOT_API_KEYS"))
        if env.get("VARANNOT_API_KEYS_FILE"):
            path = Path(env["VARANNOT_API_KEYS_FILE"])
            try:
                lines = path.read_text().splitlines()
            except OSError as exc:
                raise VarannotError(f"cannot read API keys: {exc}", source=str(path)) from exc
            for n, line in enumerate(lines, 1):
                if line.strip() and not line.lstrip().startswith("#"):
                    keys.append(_key_entry(line.split(), f"{path} line {n}"))
        if keys:
            data["api_keys"] = keys
        data.update({k: v for k, v in values.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            e = exc.errors()[0]
            raise VarannotError(
                f"invalid setting {'.'.join(map(str, e['loc']))}: {e['msg']}",
                source="service settings",
            ) from None


def _key_entry(parts: Sequence[str], where: str) -> dict[str, Any]:
    if len(parts) not in (2, 3):
        raise VarannotError("an API key entry is NAME SHA256 [RATE]", source=where)
    out: dict[str, Any] = {"name": parts[0], "sha256": parts[1].lower()}
    if len(parts) == 3:
        out["rate_per_second"] = parts[2]
    return out


# =============================================================================================
# Problems (RFC 9457)
# =============================================================================================


class Problem(BaseModel):
    """An ``application/problem+json`` document; ``source``/``record`` name file and record."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    source: str | None = Field(
        default=None, description="the file (or 'request') the problem is in"
    )
    record: str | None = Field(default=None, description="line, record or list index")
    errors: list[dict[str, Any]] | None = None


class ProblemError(Exception):
    """Raised anywhere in request handling to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        source: str | None = None,
        record: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail or title)
        self.problem = Problem(
            title=title, status=status, detail=detail, source=source, record=record, errors=errors
        )
        self.headers = headers or {}


def problem_of(exc: BaseException) -> dict[str, Any]:
    """A problem document (as a dict) for any exception; internals never leak as text."""
    if isinstance(exc, ProblemError):
        return exc.problem.model_dump(exclude_none=True)
    if isinstance(exc, VarannotError):
        status = exc.status if 400 <= exc.status <= 599 else 400
        return Problem(
            title=exc.title, status=status, detail=exc.message, source=exc.source, record=exc.record
        ).model_dump(exclude_none=True)
    return Problem(
        title="Internal server error",
        status=500,
        detail=f"unexpected {type(exc).__name__}; the server log has the details",
    ).model_dump(exclude_none=True)


def _problem_response(
    doc: dict[str, Any], request: Request | None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    if request is not None:
        doc.setdefault("instance", request.url.path)
    return JSONResponse(doc, status_code=doc["status"], media_type=PROBLEM_JSON, headers=headers)


def _problem_ref(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


# =============================================================================================
# Request models
# =============================================================================================

_BASES = r"^[ACGTNacgtn]+$"


class _Measured(BaseModel):
    """What a caller may say about one allele in one sample (all optional)."""

    model_config = ConfigDict(extra="forbid")

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


class ThresholdsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reporting_vaf: float | None = Field(default=None, ge=0, le=1)
    detection_floor: float | None = Field(default=None, ge=0, le=1)
    min_depth: int | None = Field(default=None, ge=0, le=10**6)

    def thresholds(self) -> Thresholds:
        th = Thresholds()
        for k in ThresholdsIn.model_fields:
            v = getattr(self, k)
            if v is not None:
                setattr(th, k, v)
        th.check()
        return th


class AnnotateRequest(ThresholdsIn):
    """JSON body of ``POST /v1/annotate`` and ``POST /v1/jobs``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "sample": "P1",
                    "variants": [
                        "NP_000235.2:p.Met327Ile",
                        "NM_000546.6:c.524G>A",
                        {"chrom": "chr18", "pos": 63318365, "ref": "C", "alt": "A", "vaf": 0.3},
                    ],
                }
            ]
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

    def run_options(self) -> RunOptions:
        keep = [s for s in (self.samples or "").split(",") if s.strip()]
        return RunOptions(
            samples=[s.strip() for s in keep] or None,
            tumor=self.tumor,
            include_filtered=self.include_filtered,
            trace_sample=self.sample,
            thresholds=self.thresholds(),
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


# =============================================================================================
# Engines
# =============================================================================================


@dataclass
class EngineSet:
    """One ``Engine`` per build, built once at start-up and shared by all requests."""

    engines: dict[Build, Engine]
    default: Build
    kb: KnowledgeBase

    @classmethod
    def load(cls, settings: ServiceSettings) -> EngineSet:
        kb = KnowledgeBase.load(settings.kb, replace=settings.kb_replace)
        builds = settings.builds or []
        if builds and len(builds) != len(settings.fastas):
            raise VarannotError(
                f"{len(builds)} --build value(s) for {len(settings.fastas)} --fasta file(s): "
                "give one build per FASTA, in order, or none",
                source="service settings",
            )
        engines: dict[Build, Engine] = {}
        for i, fasta in enumerate(settings.fastas):
            engine = Engine(fasta, builds[i] if builds else None, kb)
            if engine.build in engines:
                raise VarannotError(
                    f"two FASTA files for {engine.build}: {engines[engine.build].reference.name} "
                    f"and {fasta}",
                    source="service settings",
                )
            engines[engine.build] = engine
            log.info("reference %s loaded for %s", fasta, engine.build)
        return cls(engines, next(iter(engines)), kb)

    def pick(self, build: Build | None, why: str = "", source: str = "request") -> Engine:
        """The engine of ``build`` (the default one when None), or a 422 naming what exists."""
        b = build or self.default
        engine = self.engines.get(b)
        if engine is None:
            raise ProblemError(
                422,
                "No reference for this build",
                f"this server has no reference for {b}{why}; it has "
                + ", ".join(self.engines)
                + " (name one with 'build' or convert the input)",
                source=source,
            )
        return engine


# =============================================================================================
# Uploads
# =============================================================================================


@dataclass(slots=True)
class StoredFile:
    """An uploaded file on the server's disk. ``display`` is the client's name, a label only."""

    path: Path
    display: str
    kind: Literal["vcf", "trace"]
    size: int
    sha256: str = ""

    def to_param(self) -> dict[str, Any]:
        return {"stored": self.path.name, "display": self.display, "kind": self.kind,
                "size": self.size, "sha256": self.sha256}  # fmt: skip


@dataclass(slots=True)
class UploadForm:
    files: list[StoredFile]
    fields: dict[str, str]
    fingerprint: str


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int
    max_trace_bytes: int
    max_files: int
    max_decompressed: int
    max_ratio: float
    ratio_floor: int
    idle_timeout: float

    hint: str = ""

    @classmethod
    def of(cls, s: ServiceSettings, *, sync: bool = False) -> Limits:
        """Jobs take up to ``max_upload_bytes``; synchronous requests a smaller share."""
        if sync and s.max_sync_upload_bytes < s.max_upload_bytes:
            return cls(s.max_sync_upload_bytes, s.max_trace_bytes, s.max_files,
                       s.max_decompressed_bytes, s.max_compression_ratio,
                       s.compression_ratio_floor_bytes, s.body_timeout_s,
                       "; submit large inputs to POST /v1/jobs")  # fmt: skip
        return cls(s.max_upload_bytes, s.max_trace_bytes, s.max_files, s.max_decompressed_bytes,
                   s.max_compression_ratio, s.compression_ratio_floor_bytes, s.body_timeout_s)  # fmt: skip


def _human(n: int) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def too_large(limit: int, what: str = "the upload", hint: str = "") -> ProblemError:
    return ProblemError(
        413,
        "Upload too large",
        f"{what} exceeds the limit of {limit} bytes ({_human(limit)}){hint}",
        source="request",
    )


class GzipGuard:
    """Decompresses an upload as it arrives, only to count: stops gzip bombs early.

    Limits the decompressed size and, past a floor, the compression ratio (real VCFs compress
    ~5-30x; a bomb compresses 1000x). Multi-member streams (BGZF, so also BCF) are followed
    member by member; output is produced in bounded pieces so memory stays flat. Corrupt data
    stops the guard silently: the reader reports it properly afterwards.
    """

    def __init__(self, display: str, limits: Limits):
        self.display = display
        self.limits = limits
        self.compressed = 0
        self.out = 0
        self._d: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.broken = False

    def feed(self, data: bytes) -> None:
        if self.broken:
            return
        self.compressed += len(data)
        try:
            while data:
                chunk = self._d.decompress(data, 4 * MiB)
                self.out += len(chunk)
                self._check()
                if self._d.eof:
                    data = self._d.unused_data
                    self._d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                else:
                    data = self._d.unconsumed_tail
        except zlib.error:
            self.broken = True

    def _check(self) -> None:
        lim = self.limits
        if self.out > lim.max_decompressed:
            raise ProblemError(
                413,
                "Decompressed input too large",
                f"{self.display} decompresses to more than the limit of {lim.max_decompressed} "
                f"bytes ({_human(lim.max_decompressed)})",
                source=self.display,
            )
        if self.out > lim.ratio_floor and self.out > lim.max_ratio * max(self.compressed, 1):
            raise ProblemError(
                413,
                "Decompressed input too large",
                f"{self.display} expands more than {lim.max_ratio:g}-fold when decompressed "
                f"(over {_human(self.out)} from {_human(self.compressed)}): refused as a "
                "possible gzip bomb",
                source=self.display,
            )


def display_name(filename: str | None, index: int) -> str:
    """A safe label from the client's file name (base name, no control or odd characters)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _SAFE_LABEL.sub("_", name).strip(" .")[:120]
    return name or f"upload-{index}"


def _label_stem(display: str) -> str:
    base = display
    for ext in (".gz", ".bgz", ".bgzf"):
        if base.endswith(ext):
            base = base[: -len(ext)]
    for ext in (".vcf", ".bcf", ".g", ".ab1", ".abi", ".scf"):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
    return base or "sample"


def sniff_kind(head: bytes) -> tuple[Literal["vcf", "trace"], str]:
    """Kind and server-side suffix by magic bytes: file names lie."""
    if head[:4] == b"ABIF" or head[128:132] == b"ABIF":
        return "trace", ".ab1"
    if head[:4] == b".scf":
        return "trace", ".scf"
    if head[:2] == b"\x1f\x8b":
        return "vcf", ".vcf.gz"
    return "vcf", ".vcf"


class _FileSink:
    """One file part streamed to ``dir/part-N`` (renamed by kind once complete)."""

    def __init__(self, directory: Path, index: int, display: str, limits: Limits):
        self.path = directory / f"part-{index}"
        self.index = index
        self.display = display
        self.limits = limits
        self.fh = open(self.path, "wb")  # noqa: SIM115 - closed in close()/abort()
        self.size = 0
        self.head = bytearray()  # first bytes, for the magic
        self.undecided: bytearray | None = bytearray()  # until 2 bytes say gzip or not
        self.guard: GzipGuard | None = None
        self.sha = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.size += len(data)
        self.fh.write(data)
        self.sha.update(data)
        if len(self.head) < 136:
            self.head += data[: 136 - len(self.head)]
        if self.guard is not None:
            self.guard.feed(data)
        elif self.undecided is not None:
            self.undecided += data
            if len(self.undecided) >= 2:
                if self.undecided[:2] == b"\x1f\x8b":
                    self.guard = GzipGuard(self.display, self.limits)
                    self.guard.feed(bytes(self.undecided))
                self.undecided = None

    def close(self) -> StoredFile:
        self.fh.close()
        kind, suffix = sniff_kind(bytes(self.head))
        if kind == "trace" and self.size > self.limits.max_trace_bytes:
            raise too_large(self.limits.max_trace_bytes, f"trace {self.display}")
        final = self.path.with_name(f"input-{self.index}{suffix}")
        self.path.rename(final)
        return StoredFile(final, self.display, kind, self.size, self.sha.hexdigest())

    def abort(self) -> None:
        with suppress(OSError):
            self.fh.close()


async def _chunks(request: Request, idle_timeout: float) -> AsyncIterator[bytes]:
    """The request body, failing with 408 when the client stops sending for too long."""
    it = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(it.__anext__(), idle_timeout)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ProblemError(
                408,
                "Request body timeout",
                f"no data received for {idle_timeout:g} s while reading the request body",
                source="request",
            ) from None
        if chunk:
            yield chunk


def _check_length(request: Request, limit: int, hint: str = "") -> None:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            n = int(declared)
        except ValueError:
            raise ProblemError(400, "Bad Content-Length", source="request") from None
        if n > limit:
            raise too_large(limit, hint=hint)


async def read_multipart(request: Request, dest: Path, limits: Limits) -> UploadForm:
    """Stream a ``multipart/form-data`` body: file parts to ``dest``, fields to memory (small).

    The total body is limited, each gzip file part is guarded while it arrives, and nothing
    of a file is held in memory beyond one network chunk.
    """
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise ProblemError(
            400, "Malformed multipart body", "no boundary in Content-Type", source="request"
        )
    _check_length(request, limits.max_bytes, limits.hint)
    dest.mkdir(parents=True, exist_ok=True)
    files: list[StoredFile] = []
    fields: dict[str, str] = {}
    st: dict[str, Any] = {"headers": {}, "field": b"", "value": b"", "sink": None, "buf": None}

    def on_part_begin() -> None:
        st.update(headers={}, field=b"", value=b"", sink=None, buf=None, name=None)

    def on_header_field(data: bytes, start: int, end: int) -> None:
        st["field"] += data[start:end]
        _header_limit()

    def on_header_value(data: bytes, start: int, end: int) -> None:
        st["value"] += data[start:end]
        _header_limit()

    def _header_limit() -> None:
        if len(st["field"]) + len(st["value"]) > 16 * 1024:
            raise ProblemError(400, "Malformed multipart body", "a part header is over 16 KiB")

    def on_header_end() -> None:
        st["headers"][st["field"].lower()] = st["value"]
        st["field"], st["value"] = b"", b""

    def on_headers_finished() -> None:
        disp, opts = parse_options_header(st["headers"].get(b"content-disposition", b""))
        if disp != b"form-data" or b"name" not in opts:
            raise ProblemError(400, "Malformed multipart body", "a part has no form-data name")
        name = opts[b"name"].decode("utf-8", "replace")
        st["name"] = name
        if name == "file":
            if len(files) >= limits.max_files:
                raise ProblemError(
                    422, "Too many files", f"at most {limits.max_files} files per request"
                )
            raw = opts.get(b"filename")
            label = display_name(raw.decode("utf-8", "replace") if raw else None, len(files) + 1)
            st["sink"] = _FileSink(dest, len(files) + 1, label, limits)
        elif name in FileOptions.model_fields:
            if name in fields:
                raise ProblemError(422, "Invalid form", f"form field {name!r} given twice")
            st["buf"] = bytearray()
        else:
            raise ProblemError(
                422,
                "Invalid form",
                f"unknown form field {name!r}; expected 'file' and optionally "
                + ", ".join(FileOptions.model_fields),
                source="request",
            )

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if st["sink"] is not None:
            st["sink"].write(data[start:end])
        else:
            st["buf"] += data[start:end]
            if len(st["buf"]) > 64 * 1024:
                raise too_large(64 * 1024, f"form field {st['name']!r}")

    def on_part_end() -> None:
        sink: _FileSink | None = st["sink"]
        if sink is not None:
            st["sink"] = None
            files.append(sink.close())
        elif st["buf"] is not None:
            try:
                fields[st["name"]] = bytes(st["buf"]).decode("utf-8")
            except UnicodeDecodeError:
                raise ProblemError(
                    400, "Invalid form", f"form field {st['name']!r} is not UTF-8 text"
                ) from None

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },  # type: ignore[arg-type]
    )
    total = 0
    try:
        async for chunk in _chunks(request, limits.idle_timeout):
            total += len(chunk)
            if total > limits.max_bytes:
                raise too_large(limits.max_bytes, hint=limits.hint)
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise ProblemError(400, "Malformed multipart body", str(exc), source="request") from None
    finally:
        if st.get("sink") is not None:
            st["sink"].abort()
    if st.get("sink") is not None or (st.get("buf") is not None and st.get("name") not in fields):
        raise ProblemError(400, "Malformed multipart body", "the body ends inside a part")
    if not files:
        raise ProblemError(
            422,
            "No file",
            "send the VCF, VCF.gz, BCF, .ab1 or .scf file in the form field 'file' "
            "(or a JSON body listing variants)",
            source="request",
        )
    digest = hashlib.sha256()
    digest.update(json.dumps(sorted(fields.items())).encode())
    for f in files:
        digest.update(f"{f.display}\0{f.sha256}\0".encode())
    return UploadForm(files, fields, digest.hexdigest())


async def read_json(request: Request, limit: int, idle_timeout: float) -> AnnotateRequest:
    """The JSON body, size-limited, as a validated ``AnnotateRequest`` (422 on errors)."""
    _check_length(request, limit)
    body = bytearray()
    async for chunk in _chunks(request, idle_timeout):
        body += chunk
        if len(body) > limit:
            raise too_large(limit, "the JSON body")
    try:
        return AnnotateRequest.model_validate_json(bytes(body))
    except ValidationError as exc:
        raise _validation_problem(exc.errors(include_url=False, include_input=False)) from None


def _validation_problem(errors: Sequence[Any]) -> ProblemError:
    items = [
        {"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "")),
         "type": str(e.get("type", ""))}
        for e in list(errors)[:50]
    ]  # fmt: skip
    first = items[0] if items else {"loc": [], "msg": "invalid request"}
    where = ".".join(first["loc"]) or "body"
    return ProblemError(
        422, "Invalid request", f"{where}: {first['msg']}", source="request", record=where,
        errors=items,
    )  # fmt: skip


# =============================================================================================
# Running inputs (blocking: called in the thread pool or a job worker)
# =============================================================================================

_CONTIG = re.compile(rb"^##contig=<(?P<body>.*)>\s*$")
_REF38 = re.compile(r"GRCh38|hg38|\bb38\b|GCA_000001405\.15", re.IGNORECASE)
_REF37 = re.compile(r"GRCh37|hg19|\bb37\b|hs37d5|human_g1k_v37", re.IGNORECASE)


def sniff_vcf_build(path: Path, cap: int = 64 * MiB) -> tuple[Build | None, str | None]:
    """The build a VCF/BCF header implies (contig names/lengths, then ``##reference``).

    Only picks the engine; the reader still checks the header against that build.
    """
    try:
        with open(path, "rb") as probe:
            gz = probe.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gz else open(path, "rb") as fh:
            first = fh.read(5)
            if first[:3] == b"BCF":
                (n,) = struct.unpack("<I", fh.read(4))
                lines = fh.read(min(n, cap)).split(b"\n")
            else:
                lines, size, line = [], 0, first + fh.readline(MiB)
                while line.startswith(b"##") and size < cap:
                    lines.append(line)
                    size += len(line)
                    line = fh.readline(MiB)
    except (OSError, EOFError, zlib.error, struct.error):
        return None, None
    contigs: dict[str, int] = {}
    reference = None
    for text in lines:
        m = _CONTIG.match(text)
        if m:
            body = m["body"].decode("latin-1")
            cid = re.search(r"(?:^|,)ID=([^,]+)", body)
            length = re.search(r"(?:^|,)length=(\d+)", body)
            if cid:
                contigs[cid[1]] = int(length[1]) if length else 0
        elif text.startswith(b"##reference="):
            reference = text[12:].decode("latin-1").strip()
    build = detect_build(contigs)
    if build:
        return build, "contig names/lengths in the header"
    if reference:
        is38, is37 = bool(_REF38.search(reference)), bool(_REF37.search(reference))
        if is38 != is37:
            return ("GRCh38" if is38 else "GRCh37"), f"##reference={reference}"
    return None, None


def _relabel_error(exc: VarannotError, files: Sequence[StoredFile]) -> VarannotError:
    """Server paths in an error become the client's file names."""
    for f in files:
        for text in (str(f.path), f.path.name):
            if exc.source and text in exc.source:
                exc.source = exc.source.replace(text, f.display)
            exc.message = exc.message.replace(text, f.display)
    exc.args = (str(exc),)
    return exc


def _relabel_batch(batch: InputBatch, files: Sequence[StoredFile]) -> None:
    """The document names the client's files, never the server's paths."""
    names = {str(f.path): f.display for f in files}
    batch.source = ",".join(names.get(p, p) for p in batch.source.split(","))
    for ob in batch.observations:
        ob.source = names.get(ob.source, ob.source)
    if len(files) == 1 and batch.details.get("sites_only"):
        old, new = _label_stem(files[0].path.name), _label_stem(files[0].display)
        batch.samples = [new if s == old else s for s in batch.samples]
        for ob in batch.observations:
            if ob.sample == old:
                ob.sample = new
        if old in batch.coverage:
            batch.coverage[new] = batch.coverage.pop(old)
    for key, value in list(batch.details.items()):
        if isinstance(value, str):
            for p, d in names.items():
                value = value.replace(p, d)
            batch.details[key] = value


def _finish_document(doc: ResultDocument) -> ResultDocument:
    """Server file-system paths stay on the server: references and KB tables by base name."""
    if doc.reference:
        doc.reference = Path(doc.reference).name
    if doc.knowledge_base is not None:
        doc.knowledge_base.sources = [Path(s).name for s in doc.knowledge_base.sources]
    for s in doc.samples:
        for v in [*s.variants, *s.excluded_variants]:
            if "protein_level" in v.flags and not v.hgvs_c:
                v.hgvs_c = None
    return doc


def run_files(es: EngineSet, files: Sequence[StoredFile], opts: FileOptions) -> ResultDocument:
    """Uploaded VCF/BCF files and traces -> the document (as ``varannot annotate`` would)."""
    try:
        return _run_files(es, files, opts)
    except VarannotError as exc:
        raise _relabel_error(exc, files) from None


def _run_files(es: EngineSet, files: Sequence[StoredFile], opts: FileOptions) -> ResultDocument:
    run_opts = opts.run_options()
    vcfs = [f for f in files if f.kind == "vcf"]
    traces = [f for f in files if f.kind == "trace"]
    detected: dict[Build, tuple[str, str]] = {}  # build -> (file, evidence)
    for f in vcfs:
        b, why = sniff_vcf_build(f.path)
        if b is not None:
            detected.setdefault(b, (f.display, why or ""))
    if opts.build is None and len(detected) > 1:
        raise ProblemError(
            422,
            "Inputs of different builds",
            "; ".join(f"{f}: {b} ({why})" for b, (f, why) in detected.items())
            + ": send each build in its own request",
            source="request",
        )
    if opts.build is None and detected:
        build, (file, why) = next(iter(detected.items()))
        engine = es.pick(build, f" (detected from {why})", source=file)
    else:
        engine = es.pick(opts.build)
    batches: list[InputBatch] = []
    for f in vcfs:
        try:
            batch = engine.read(f.path, run_opts)
        except BuildMismatchError as exc:
            if opts.build is not None:
                raise
            raise ProblemError(
                422,
                "No reference for this build",
                f"{_relabel_error(exc, files).message}: this server has references for "
                + ", ".join(es.engines)
                + "; name the build with 'build' if the header is wrong",
                source=f.display,
                record=exc.record,
            ) from None
        _relabel_batch(batch, [f])
        batches.append(batch)
    if traces:
        sample = opts.sample or _label_stem(traces[0].display)
        batch = engine.read_traces([t.path for t in traces], sample, run_opts)
        _relabel_batch(batch, traces)
        batches.append(batch)
    return _finish_document(engine.run(batches, run_opts))


class _ListEngine(Engine):
    """The shared engine, seeing protein-level entries as pre-annotated alleles.

    ``Engine.run`` annotates each observation through ``annotate_allele``; protein-level
    entries have no nucleotide change, so their annotation is made beforehand
    (``protein_input``) and handed over here by their symbolic allele. Everything else
    (same-codon merging, knowledge base, calls) is the library's own code path.
    """

    def __init__(self, base: Engine, pre: dict[tuple[str, int, str, str], AlleleAnnotation]):
        self.__dict__.update(base.__dict__)
        self._base = base
        self._pre = pre

    def annotate_allele(self, chrom: str, pos: int, ref: str, alt: str) -> AlleleAnnotation:
        hit = self._pre.get((chrom, pos, ref, alt))
        return hit if hit is not None else self._base.annotate_allele(chrom, pos, ref, alt)


def _json_build(req: AnnotateRequest) -> Build | None:
    """The build NC_ accessions in the request imply (None when silent)."""
    seen: set[Build] = set()
    for item in req.variants:
        name = (
            item.chrom
            if isinstance(item, GenomicVariantIn)
            else (item.hgvs if isinstance(item, HgvsVariantIn) else item).split(":", 1)[0]
        )
        b = accession_build(name.strip())
        if b:
            seen.add(b)
    if len(seen) > 1:
        raise ProblemError(
            422, "Inputs of different builds", "the variants name both GRCh37 and GRCh38 "
            "accessions: send each build in its own request", source="request",
        )  # fmt: skip
    return next(iter(seen), None)


def run_json(es: EngineSet, req: AnnotateRequest, max_variants: int) -> ResultDocument:
    """A JSON list of variants (genomic, g./c. HGVS or p. HGVS) -> the document."""
    if len(req.variants) > max_variants:
        raise ProblemError(
            413, "Too many variants", f"at most {max_variants} variants per request; use a VCF",
            source="request",
        )  # fmt: skip
    build = req.build or _json_build(req)
    engine = es.pick(build)
    annotator = engine.annotator
    observations: list[Observation] = []
    pre: dict[tuple[str, int, str, str], AlleleAnnotation] = {}
    errors: list[dict[str, Any]] = []
    for i, item in enumerate(req.variants):
        record = f"variants[{i}]"
        measured = item if isinstance(item, _Measured) else None
        try:
            if isinstance(item, GenomicVariantIn):
                chrom, pos, ref, alt = item.chrom, item.pos, item.ref.upper(), item.alt.upper()
            else:
                text = item.hgvs if isinstance(item, HgvsVariantIn) else item
                if ":p." in text:
                    numbering = item.numbering if isinstance(item, HgvsVariantIn) else None
                    pv = annotate_protein(text, annotator, numbering)
                    chrom, pos, ref, alt = pv.chrom, pv.pos, pv.ref, pv.alt
                    pre[(chrom, pos, ref, alt)] = AlleleAnnotation(
                        GenomicVariant(chrom, pos, ref, alt), None, pv.annotation, list(pv.flags)
                    )
                elif re.search(r":[cg]\.", text):
                    gv = parse_to_genomic(text, annotator)
                    chrom, pos, ref, alt = gv.chrom, gv.pos, gv.ref, gv.alt
                else:
                    raise InputError(
                        "not an HGVS g., c. or p. variant (e.g. NM_000546.6:c.524G>A, "
                        "MEN1:p.Met327Ile)",
                        source=text,
                    )
        except VarannotError as exc:
            errors.append(
                {"record": record, "source": exc.source, "title": exc.title,
                 "detail": exc.message}
            )  # fmt: skip
            continue
        vaf, vaf_source = None, None
        if measured is not None:
            vaf = measured.vaf
            vaf_source = "request" if vaf is not None else None
            if vaf is None and measured.depth and measured.alt_depth is not None:
                vaf, vaf_source = measured.alt_depth / measured.depth, "request alt_depth/depth"
        observations.append(
            Observation(
                sample=(measured.sample if measured and measured.sample else None) or req.sample,
                chrom=chrom,
                pos=pos,
                ref=ref,
                alt=alt,
                source="request",
                record=record,
                genotype=measured.genotype if measured else None,
                depth=measured.depth if measured else None,
                alt_depth=measured.alt_depth if measured else None,
                vaf=vaf,
                vaf_source=vaf_source,
                origin="list",
            )
        )
    if errors:
        first = errors[0]
        raise ProblemError(
            422,
            "Invalid variants",
            f"{len(errors)} of {len(req.variants)} variants cannot be annotated; first, "
            f"{first['record']}: {first['detail']}",
            source="request",
            record=first["record"],
            errors=errors[:100],
        )
    samples = list(dict.fromkeys(ob.sample for ob in observations))
    batch = InputBatch(
        source="request",
        kind="list",
        samples=samples,
        observations=observations,
        records_read=len(req.variants),
    )
    run_engine: Engine = _ListEngine(engine, pre) if pre else engine
    opts = RunOptions(thresholds=req.thresholds())
    return _finish_document(run_engine.run([batch], opts))


# =============================================================================================
# Auth and rate limits
# =============================================================================================


@dataclass(slots=True)
class Caller:
    """Who is calling: an API key's name, or '' when the service runs without keys."""

    name: str


class RateLimiter:
    """Token buckets per caller: ``rate`` requests/s sustained, ``burst`` at once."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, who: str, rate: float, burst: int) -> float | None:
        """None when allowed (a token is taken), else seconds until the next token."""
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) > 10_000:  # forget callers whose bucket has refilled
                self._buckets = {
                    k: (t, at)
                    for k, (t, at) in self._buckets.items()
                    if t + (now - at) * rate < burst
                }
            tokens, last = self._buckets.get(who, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[who] = (tokens - 1.0, now)
                return None
            self._buckets[who] = (tokens, now)
            return (1.0 - tokens) / rate


def _hash_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# =============================================================================================
# Metrics
# =============================================================================================


class Metrics:
    """Prometheus metrics in a registry of this app (tests create many apps)."""

    def __init__(self, state: ServiceState):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        from prometheus_client.core import GaugeMetricFamily
        from prometheus_client.registry import Collector

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "varannot_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "varannot_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.upload_bytes = Counter(
            "varannot_upload_bytes", "bytes of uploaded files stored", registry=r
        )
        self.documents = Counter(
            "varannot_documents", "result documents produced", ["path"], registry=r
        )
        self.problems = Counter(
            "varannot_problems", "problem responses", ["status", "title"], registry=r
        )
        self.jobs_settled = Counter(
            "varannot_jobs_settled", "jobs finished or failed here", ["outcome"], registry=r
        )
        info = Gauge(
            "varannot_knowledge_base_info", "knowledge base loaded", ["version", "sha256"],
            registry=r,
        )  # fmt: skip
        info.labels(state.engines.kb.version, state.engines.kb.sha256).set(1)
        refs = Gauge("varannot_reference_info", "references loaded", ["build"], registry=r)
        for b in state.engines.engines:
            refs.labels(b).set(1)

        class _Jobs(Collector):
            def collect(self) -> Any:
                g = GaugeMetricFamily(
                    "varannot_jobs", "jobs in the store by status", labels=["status"]
                )
                try:
                    for status, n in state.store.counts().items():
                        g.add_metric([status], n)
                except Exception:  # noqa: BLE001 - a scrape must not fail on the database
                    log.exception("job counts for metrics failed")
                yield g
                yield GaugeMetricFamily(
                    "varannot_jobs_running_here", "jobs this server is running",
                    value=state.runner.running() if state.runner else 0,
                )  # fmt: skip

        r.register(_Jobs())


class MetricsMiddleware:
    """Counts and times every HTTP request by route template (pure ASGI: cheap)."""

    def __init__(self, app: ASGIApp, get_metrics: Callable[[], Metrics | None]):
        self.app = app
        self.get_metrics = get_metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            m = self.get_metrics()
            if m is not None:
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                m.requests.labels(scope["method"], route, str(status)).inc()
                m.latency.labels(scope["method"], route).observe(time.perf_counter() - start)


# =============================================================================================
# Application state and dependencies
# =============================================================================================


@dataclass
class ServiceState:
    """What the routes need, built once per app and reached through ``Depends``."""

    settings: ServiceSettings
    engines: EngineSet
    store: JobStore
    pool: ThreadPoolExecutor
    limiter: RateLimiter = field(default_factory=RateLimiter)
    runner: JobRunner | None = None
    metrics: Metrics | None = None
    lock: DataDirLock | None = None
    started: bool = False

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    def start(self) -> None:
        if self.store.is_sqlite and self.lock is None:
            self.lock = DataDirLock(self.data_dir)
            self.lock.acquire()
        self._sweep_dirs()
        self.runner = JobRunner(
            store=self.store,
            execute=self.execute_job,
            problem_of=problem_of,
            workers=self.settings.job_workers,
            max_attempts=self.settings.job_max_attempts,
            poll_seconds=self.settings.job_poll_s,
            on_settled=self._job_settled,
        )
        self.runner.start()
        self.started = True

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop(self.settings.shutdown_grace_s)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.store.dispose()
        if self.lock is not None:
            self.lock.release()
        self.started = False

    def _sweep_dirs(self) -> None:
        """Staged uploads of requests that died with the last process are garbage.

        With SQLite this server owns the directory; with a shared database the directory may
        be shared too, so only day-old staging is removed and job folders are left alone.
        """
        uploads = self.data_dir / "uploads"
        if uploads.is_dir():
            cutoff = time.time() - 86400
            for d in uploads.iterdir():
                with suppress(OSError):
                    if self.store.is_sqlite or d.stat().st_mtime < cutoff:
                        shutil.rmtree(d, ignore_errors=True)
        jobs = self.data_dir / "jobs"
        if self.store.is_sqlite and jobs.is_dir():
            for d in jobs.iterdir():
                job = self.store.get(d.name)
                if job is None or job.status in ("finished", "failed"):
                    shutil.rmtree(d, ignore_errors=True)

    def job_dir(self, job_id: str) -> Path:
        return self.data_dir / "jobs" / job_id

    def execute_job(self, job: Job) -> str:
        """Run one job in a worker thread; the result document as JSON text."""
        started = time.monotonic()
        p = job.params
        if p["kind"] == "files":
            base = self.job_dir(job.id)
            files = [
                StoredFile(base / f["stored"], f["display"], f["kind"], f["size"])
                for f in p["files"]
            ]
            missing = [f.display for f in files if not f.path.is_file()]
            if missing:
                raise InputError(
                    "the uploaded file is no longer in the server's data directory",
                    source=", ".join(missing),
                )
            doc = run_files(self.engines, files, FileOptions.model_validate(p["options"]))
        else:
            req = AnnotateRequest.model_validate(p["request"])
            doc = run_json(self.engines, req, self.settings.max_json_variants)
        if self.metrics is not None:
            self.metrics.documents.labels("job").inc()
        log.info("job %s done in %.2f s", job.id, time.monotonic() - started)
        return doc.model_dump_json()

    def _job_settled(self, job: Job, outcome: str) -> None:
        shutil.rmtree(self.job_dir(job.id), ignore_errors=True)
        if self.metrics is not None:
            self.metrics.jobs_settled.labels(outcome).inc()


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.varannot
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


async def authenticate(request: Request, state: StateDep) -> Caller:
    """Bearer API key (when keys are configured) and the caller's rate limit."""
    s = state.settings
    rate = s.rate_limit_per_second
    if s.api_keys:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ProblemError(
                401, "Unauthorized", "send an API key as 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": 'Bearer realm="varannot"'},
            )  # fmt: skip
        digest = _hash_key(token.strip())
        match = None
        for key in s.api_keys:  # compare with every key: timing says nothing
            if hmac.compare_digest(digest, key.sha256):
                match = key
        if match is None:
            raise ProblemError(
                401, "Unauthorized", "unknown API key",
                headers={"WWW-Authenticate": 'Bearer realm="varannot", error="invalid_token"'},
            )  # fmt: skip
        caller = Caller(match.name)
        if match.rate_per_second is not None:
            rate = match.rate_per_second
        who = f"key:{match.name}"
    else:
        caller = Caller("")
        who = f"client:{request.client.host if request.client else '?'}"
    if rate > 0:
        wait = state.limiter.retry_after(who, rate, s.rate_limit_burst)
        if wait is not None:
            seconds = max(1, int(wait + 0.999))
            raise ProblemError(
                429, "Too many requests", f"rate limit of {rate:g} requests/s exceeded; retry "
                f"in {seconds} s", headers={"Retry-After": str(seconds)},
            )  # fmt: skip
    return caller


CallerDep = Annotated[Caller, Depends(authenticate)]


# =============================================================================================
# Routes
# =============================================================================================

_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "VCF, VCF.gz, BCF, .ab1 or .scf (repeat for several)",
                    },
                    "build": {"type": "string", "enum": list(BUILDS)},
                    "sample": {"type": "string", "description": "sample name of trace inputs"},
                    "samples": {"type": "string", "description": "VCF samples to keep (a,b)"},
                    "tumor": {"type": "string"},
                    "include_filtered": {"type": "boolean"},
                    "reporting_vaf": {"type": "number", "minimum": 0, "maximum": 1},
                    "detection_floor": {"type": "number", "minimum": 0, "maximum": 1},
                    "min_depth": {"type": "integer", "minimum": 0},
                },
            }
        },
        "application/json": {"schema": {"$ref": "#/components/schemas/AnnotateRequest"}},
    },
}
_COMMON: dict[int | str, dict[str, Any]] = {
    401: _problem_ref("missing or unknown API key"),
    429: _problem_ref("rate limit exceeded (Retry-After says when to retry)"),
}
_INPUT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _problem_ref("unreadable input (names the file and record)"),
    408: _problem_ref("the client stopped sending the body"),
    413: _problem_ref("upload, decompressed data or variant list over the limit"),
    415: _problem_ref("neither multipart/form-data nor application/json"),
    422: _problem_ref("input that cannot be annotated (names the record)"),
}


def _content_kind(request: Request) -> Literal["multipart", "json"]:
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype == "multipart/form-data":
        return "multipart"
    if ctype == "application/json" or ctype.endswith("+json"):
        return "json"
    raise ProblemError(
        415, "Unsupported media type",
        f"got {ctype or 'no Content-Type'}; send multipart/form-data (field 'file') or "
        "application/json", source="request",
    )  # fmt: skip


def _file_options(fields: Mapping[str, str]) -> FileOptions:
    try:
        return FileOptions.model_validate(dict(fields))
    except ValidationError as exc:
        raise _validation_problem(exc.errors(include_url=False, include_input=False)) from None


def _json_response(
    text: str, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(text, status_code=status, media_type="application/json", headers=headers)


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts is not None else None


def job_json(job: Job) -> str:
    """The job as JSON, with the stored result document spliced in (never re-parsed)."""
    meta = {
        "id": job.id,
        "status": job.status,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "attempts": job.attempts,
        "inputs": [f["display"] for f in job.params.get("files", [])] or ["request"],
        "note": job.note,
        "error": job.error,
        "links": {"self": f"/v1/jobs/{job.id}", "result": f"/v1/jobs/{job.id}/result"},
    }
    if job.result is None:
        return json.dumps({**meta, "result": None})
    return json.dumps(meta)[:-1] + ', "result": ' + job.result + "}"


router = APIRouter(prefix="/v1", dependencies=[Depends(authenticate)], responses=_COMMON)


@router.post(
    "/annotate",
    response_model=ResultDocument,
    responses=_INPUT_ERRORS | {504: _problem_ref("annotation took longer than the limit")},
    openapi_extra={"requestBody": _UPLOAD_BODY},
    summary="Annotate an uploaded VCF/BCF/trace or a JSON list of variants",
)
async def annotate(request: Request, state: StateDep) -> Response:
    """Synchronous annotation; the same document as ``varannot annotate --format json``."""
    s = state.settings
    if _content_kind(request) == "json":
        req = await read_json(request, s.max_json_bytes, s.body_timeout_s)
        doc_json = await _in_pool(state, lambda: _json_doc(state, req))
        return _json_response(doc_json)
    work = state.data_dir / "uploads" / uuid.uuid4().hex
    try:
        form = await read_multipart(request, work, Limits.of(s, sync=True))
        opts = _file_options(form.fields)
        _count_upload(state, form)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise

    def job() -> str:
        try:
            doc = run_files(state.engines, form.files, opts)
            if state.metrics is not None:
                state.metrics.documents.labels("sync").inc()
            return doc.model_dump_json()
        finally:
            shutil.rmtree(work, ignore_errors=True)

    return _json_response(await _in_pool(state, job))


def _json_doc(state: ServiceState, req: AnnotateRequest) -> str:
    doc = run_json(state.engines, req, state.settings.max_json_variants)
    if state.metrics is not None:
        state.metrics.documents.labels("sync").inc()
    return doc.model_dump_json()


def _count_upload(state: ServiceState, form: UploadForm) -> None:
    if state.metrics is not None:
        state.metrics.upload_bytes.inc(sum(f.size for f in form.files))


async def _in_pool(state: ServiceState, fn: Callable[[], str]) -> str:
    """Run blocking annotation in the pool, bounded by the request timeout (504 past it)."""
    loop = asyncio.get_running_loop()
    fut = loop.run_in_executor(state.pool, fn)
    try:
        return await asyncio.wait_for(fut, state.settings.request_timeout_s)
    except TimeoutError:
        raise ProblemError(
            504, "Annotation timeout",
            f"annotation took longer than {state.settings.request_timeout_s:g} s; submit large "
            "inputs to POST /v1/jobs", source="request",
        ) from None  # fmt: skip


def idempotency_key(request: Request) -> str | None:
    """The ``Idempotency-Key`` header (IETF draft), checked: 1-255 visible ASCII characters."""
    key = request.headers.get("idempotency-key")
    if key is not None and not re.fullmatch(r"[\x21-\x7e]{1,255}", key):
        raise ProblemError(
            400, "Invalid Idempotency-Key", "1 to 255 visible ASCII characters",
            source="request", record="Idempotency-Key header",
        )  # fmt: skip
    return key


IdempotencyKeyDep = Annotated[str | None, Depends(idempotency_key)]


@router.post(
    "/jobs",
    status_code=202,
    response_model=JobOut,
    responses=_INPUT_ERRORS,
    openapi_extra={
        "requestBody": _UPLOAD_BODY,
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 255},
                "description": "a retry with the same key returns the first job",
            }
        ],
    },
    summary="Queue a large input; poll GET /v1/jobs/{id}",
)
async def create_job(
    request: Request, state: StateDep, caller: CallerDep, key: IdempotencyKeyDep
) -> Response:
    """Accept an input as a durable job: the job row is committed before 202 is sent."""
    job_id = uuid.uuid4().hex
    params, fingerprint = await _stage_job_input(request, state, job_id)
    try:
        job, created = await run_in_threadpool(
            state.store.create, job_id, params, fingerprint=fingerprint, owner=caller.name,
            idempotency_key=key,
        )  # fmt: skip
    except BaseException:
        shutil.rmtree(state.job_dir(job_id), ignore_errors=True)
        raise
    headers = {"Location": f"/v1/jobs/{job.id}"}
    if created:
        if state.runner is not None:
            state.runner.notify()
    else:  # a retry: the first job stands, this copy of the input is not needed
        shutil.rmtree(state.job_dir(job_id), ignore_errors=True)
        headers["Idempotent-Replayed"] = "true"
    return _json_response(job_json(job), 202, headers)


async def _stage_job_input(
    request: Request, state: ServiceState, job_id: str
) -> tuple[dict[str, Any], str]:
    """Validate the input and put it where the job will find it: (job params, fingerprint).

    Uploads are streamed to a staging folder and moved into ``jobs/<id>`` in one rename, so a
    job folder is always complete; a JSON list is kept in the job row itself. Problems a job
    would only meet later (unknown build, bad options) are refused now, as 4xx.
    """
    s = state.settings
    if _content_kind(request) == "json":
        req = await read_json(request, s.max_json_bytes, s.body_timeout_s)
        if len(req.variants) > s.max_json_variants:
            raise ProblemError(413, "Too many variants",
                               f"at most {s.max_json_variants} variants per request")  # fmt: skip
        if req.build is not None:
            state.engines.pick(req.build)
        req.thresholds()  # inconsistent thresholds: 400 now, not a failed job later
        body = req.model_dump(mode="json", exclude_none=True)
        fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return {"kind": "json", "request": body}, fingerprint
    work = state.data_dir / "uploads" / job_id
    try:
        form = await read_multipart(request, work, Limits.of(s))
        opts = _file_options(form.fields)
        opts.run_options()  # inconsistent thresholds: 400 now, not a failed job later
        if opts.build is not None:
            state.engines.pick(opts.build)
        final = state.job_dir(job_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(work, final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _count_upload(state, form)
    params = {
        "kind": "files",
        "files": [f.to_param() for f in form.files],
        "options": opts.model_dump(mode="json", exclude_none=True),
    }
    return params, form.fingerprint


_JOB_ID = Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$", description="job id")]


async def _load_job(state: ServiceState, caller: Caller, job_id: str, result: bool) -> Job:
    job = await run_in_threadpool(state.store.get, job_id, with_result=result)
    if job is None or job.owner != caller.name:
        raise ProblemError(404, "Job not found", f"no job {job_id}", source="request")
    return job


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    responses={404: _problem_ref("no such job"), 422: _problem_ref("malformed job id")},
    summary="A job's status, its result once finished, or its failure reason",
)
async def get_job(job_id: _JOB_ID, state: StateDep, caller: CallerDep) -> Response:
    return _json_response(job_json(await _load_job(state, caller, job_id, True)))


@router.get(
    "/jobs/{job_id}/result",
    response_model=ResultDocument,
    responses={
        404: _problem_ref("no such job"),
        409: _problem_ref("the job has not finished (or failed: see its error)"),
        422: _problem_ref("malformed job id"),
    },
    summary="Only the result document of a finished job",
)
async def get_job_result(job_id: _JOB_ID, state: StateDep, caller: CallerDep) -> Response:
    job = await _load_job(state, caller, job_id, True)
    if job.status != "finished" or job.result is None:
        raise ProblemError(
            409, "Job not finished", f"job {job_id} is {job.status}", source="request"
        )
    return _json_response(job.result)


@router.get("/knowledge-base", response_model=KnowledgeBaseInfo, summary="Loaded knowledge base")
async def knowledge_base(state: StateDep) -> KnowledgeBaseInfo:
    kb = state.engines.kb
    return KnowledgeBaseInfo(
        version=kb.version,
        sha256=kb.sha256,
        rows=len(kb.rows),
        sources=[Path(s).name for s in kb.sources],
        drugs=dict(kb.drugs),
    )


@router.get("/transcripts", response_model=TranscriptList, summary="Transcript models per build")
async def transcripts(state: StateDep) -> TranscriptList:
    out = []
    for build, engine in state.engines.engines.items():
        for t in engine.annotator.transcripts.transcripts:
            out.append(
                TranscriptOut(
                    build=build,
                    gene=t.gene,
                    transcript=t.accession,
                    protein=t.protein,
                    role=t.role,
                    chrom=t.chrom,
                    strand="+" if t.strand == 1 else "-",
                    cds_start=t.cds_start,
                    cds_end=t.cds_end,
                    protein_length=t.protein_length,
                    exons=len(t.exons),
                )  # fmt: skip
            )
    return TranscriptList(
        builds=list(state.engines.engines), default_build=state.engines.default, transcripts=out
    )


ops = APIRouter()


@ops.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> Health:
    return Health(status="ok")


@ops.get(
    "/readyz",
    response_model=Readiness,
    responses={503: _problem_ref("not ready (database or workers down)")},
    summary="Readiness: references loaded, database reachable, job workers alive",
)
async def readyz(state: StateDep) -> Readiness:
    db_ok = await run_in_threadpool(state.store.ping)
    workers_ok = state.runner is not None and state.runner.alive()
    if not (db_ok and workers_ok and state.started):
        raise ProblemError(
            503, "Not ready",
            f"database {'ok' if db_ok else 'unreachable'}, job workers "
            f"{'alive' if workers_ok else 'not running'}",
        )  # fmt: skip
    return Readiness(
        status="ready",
        builds=list(state.engines.engines),
        database="ok",
        job_workers=state.settings.job_workers,
        jobs_running=state.runner.running() if state.runner else 0,
    )


@ops.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    summary="Prometheus metrics",
)
async def metrics(state: StateDep) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    assert state.metrics is not None
    body = await run_in_threadpool(generate_latest, state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


# =============================================================================================
# App factory and server
# =============================================================================================


def _install_handlers(app: FastAPI) -> None:
    def count(doc: dict[str, Any], request: Request) -> None:
        state: ServiceState | None = getattr(request.app.state, "varannot", None)
        if state is not None and state.metrics is not None:
            state.metrics.problems.labels(str(doc["status"]), doc["title"]).inc()

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        doc = problem_of(exc)
        count(doc, request)
        return _problem_response(doc, request, exc.headers)

    async def on_varannot(request: Request, exc: Exception) -> Response:
        doc = problem_of(exc)
        count(doc, request)
        return _problem_response(doc, request)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        doc = problem_of(_validation_problem(exc.errors()))
        count(doc, request)
        return _problem_response(doc, request)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        doc = Problem(
            title={404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error"),
            status=exc.status_code,
            detail=str(exc.detail),
        ).model_dump(exclude_none=True)
        count(doc, request)
        return _problem_response(doc, request, exc.headers)

    async def on_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        doc = problem_of(exc)
        count(doc, request)
        return _problem_response(doc, request)

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(VarannotError, on_varannot)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_error)


def _custom_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI's schema plus the models only the hand-declared request bodies use."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        comps = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (AnnotateRequest, Problem):
            js = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, d in js.pop("$defs", {}).items():
                comps.setdefault(name, d)
            comps[model.__name__] = js
        app.openapi_schema = schema
        return schema

    return openapi


def create_app(settings: ServiceSettings, engines: EngineSet | None = None) -> FastAPI:
    """Build the app: engines, job store and metrics now; workers start with the lifespan.

    Building engines here (not at first request) makes a bad FASTA or knowledge base fail the
    start-up with its own message; ``engines`` lets tests share one set across apps.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine_set = engines or EngineSet.load(settings)
    store = JobStore(
        database_url(settings.database_url, settings.data_dir), lease_seconds=settings.job_lease_s
    )
    state = ServiceState(
        settings=settings,
        engines=engine_set,
        store=store,
        pool=ThreadPoolExecutor(settings.annotate_threads, thread_name_prefix="varannot-annotate"),
    )
    state.metrics = Metrics(state)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(state.start)
        try:
            yield
        finally:
            await run_in_threadpool(state.stop)

    app = FastAPI(
        title="varannot",
        version=__version__,
        description="Resistance-mutation annotation (MEN1, BCL2, BAX, TP53) over HTTP: the same "
        "document as `varannot annotate`. Errors are application/problem+json (RFC 9457).",
        lifespan=lifespan,
    )
    app.state.varannot = state
    _install_handlers(app)
    app.include_router(router)
    app.include_router(ops)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["Location", "Retry-After", "Idempotent-Replayed"],
        )
    app.add_middleware(MetricsMiddleware, get_metrics=lambda: state.metrics)
    app.openapi = _custom_openapi(app)  # type: ignore[method-assign]
    return app


def serve(
    *,
    fastas: Sequence[Path],
    builds: Sequence[Build] | None = None,
    kb: Sequence[Path] = (),
    kb_replace: bool = False,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    data_dir: Path = Path("varannot-data"),
) -> None:
    """``varannot serve``: one process, ``workers`` job threads, uvicorn in front."""
    import uvicorn

    settings = ServiceSettings.from_env(
        fastas=list(fastas),
        builds=list(builds) if builds else None,
        kb=list(kb),
        kb_replace=kb_replace,
        job_workers=workers,
        data_dir=data_dir,
    )
    logging.basicConfig(level=logging.INFO, format="varannot: %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    state: ServiceState = app.state.varannot
    if state.store.is_sqlite:  # fail here, as a one-line CLI error, not inside uvicorn
        state.lock = DataDirLock(settings.data_dir)
        state.lock.acquire()
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=settings.access_log,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 5,
        server_header=False,
        log_level="info",
    )
