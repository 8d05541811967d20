"""HTTP service: a thin FastAPI shell over the library calls the CLI uses.

Pipelines post a sample's VCF/BCF or Sanger trace (or a JSON list of variants) and get the same
``ResultDocument`` as ``varannot annotate``; large inputs go through durable jobs
(:mod:`.jobs`). What this module adds is only what a network service needs:

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

Layout: :mod:`.settings` (``ServiceSettings``, API key entries), :mod:`.security` (key hashing,
rate limits), :mod:`.deps` (FastAPI dependencies: state, authentication), :mod:`.problems`
(problem+json), :mod:`.schemas` (request/response models), :mod:`.uploads` (streaming, limits,
gzip guard, sniffing), :mod:`.runner` (engines; running files and JSON variant lists),
:mod:`.metrics` (Prometheus), :mod:`.state` (per-app state, job execution), :mod:`.jobs` (the
durable job store and runner), :mod:`.routes` (one module per resource) and :mod:`.app`
(``create_app``, lifespan, ``serve``). This package re-exports the public names.
"""

from __future__ import annotations

from .app import create_app, serve
from .deps import CallerDep, StateDep, authenticate, get_state
from .metrics import Metrics, MetricsMiddleware
from .problems import PROBLEM_JSON, Problem, ProblemError, problem_of
from .routes.common import job_json
from .runner import EngineSet, run_files, run_json, sniff_vcf_build
from .schemas import (
    AnnotateRequest,
    FileOptions,
    GenomicVariantIn,
    Health,
    HgvsVariantIn,
    JobOut,
    KnowledgeBaseInfo,
    Readiness,
    ThresholdsIn,
    TranscriptList,
    TranscriptOut,
    VariantItem,
)
from .security import Caller, RateLimiter
from .settings import ApiKey, GiB, MiB, ServiceSettings
from .state import ServiceState
from .uploads import (
    GzipGuard,
    Limits,
    StoredFile,
    UploadForm,
    display_name,
    read_json,
    read_multipart,
    sniff_kind,
    too_large,
)

__all__ = [
    "AnnotateRequest",
    "ApiKey",
    "Caller",
    "CallerDep",
    "EngineSet",
    "FileOptions",
    "GenomicVariantIn",
    "GiB",
    "GzipGuard",
    "Health",
    "HgvsVariantIn",
    "JobOut",
    "KnowledgeBaseInfo",
    "Limits",
    "Metrics",
    "MetricsMiddleware",
    "MiB",
    "PROBLEM_JSON",
    "Problem",
    "ProblemError",
    "RateLimiter",
    "Readiness",
    "ServiceSettings",
    "ServiceState",
    "StateDep",
    "StoredFile",
    "ThresholdsIn",
    "TranscriptList",
    "TranscriptOut",
    "UploadForm",
    "VariantItem",
    "authenticate",
    "create_app",
    "display_name",
    "get_state",
    "job_json",
    "problem_of",
    "read_json",
    "read_multipart",
    "run_files",
    "run_json",
    "serve",
    "sniff_kind",
    "sniff_vcf_build",
    "too_large",
]
