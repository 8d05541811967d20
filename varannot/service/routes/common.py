"""Helpers shared by the route modules: OpenAPI fragments, content negotiation, job JSON.

Kept apart so each route module stays a short list of endpoints.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import Request
from fastapi.responses import Response
from pydantic import (
    ValidationError,
)

from ...models import BUILDS
from ..jobs import Job
from ..problems import ProblemError, _problem_ref, _validation_problem
from ..schemas import (
    _SAMPLE_RE,
    DETECTION_FLOOR_DOC,
    REPORTING_VAF_DOC,
    THRESHOLDS_SCHEMA_RULE,
    FileOptions,
)

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
                        "description": "VCF, VCF.gz, BCF, BAM, CRAM, .ab1 or .scf (repeat for several)",
                    },
                    "build": {"type": "string", "enum": list(BUILDS)},
                    "sample": {
                        "type": "string",
                        "pattern": _SAMPLE_RE,
                        "description": "sample name of trace inputs",
                    },
                    "samples": {
                        "type": "string",
                        "maxLength": 10_000,
                        "description": "VCF samples to keep (a,b)",
                    },
                    "tumor": {"type": "string", "pattern": _SAMPLE_RE},
                    "include_filtered": {"type": "boolean"},
                    "trace_windows": {
                        "type": "boolean",
                        "description": "chromatogram data around trace calls and KB residues",
                    },
                    "reporting_vaf": {
                        "type": "number",
                        "minimum": 0,
                        "maximum": 1,
                        "description": REPORTING_VAF_DOC,
                    },
                    "detection_floor": {
                        "type": "number",
                        "minimum": 0,
                        "maximum": 1,
                        "description": DETECTION_FLOOR_DOC,
                    },
                    "min_depth": {"type": "integer", "minimum": 0, "maximum": 10**6},
                    "disease": {
                        "type": "string",
                        "description": "OncoTree code (AML, BLL, TLL, CLLSLL, MDS, ...)",
                    },
                },
                **THRESHOLDS_SCHEMA_RULE,
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
