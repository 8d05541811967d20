"""``/v1/jobs``: durable jobs for large inputs (create with ``Idempotency-Key``, poll, fetch).

Uploads are staged and moved into the job's own directory before the job is queued, so a worker
in any process sharing the database can run it; callers only see their own jobs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ...schema import ResultDocument
from ..deps import CallerDep, StateDep, authenticate
from ..jobs import Job
from ..problems import ProblemError, _problem_ref, shutting_down
from ..runner import files_engine, read_json_variants
from ..schemas import JobOut
from ..security import Caller
from ..state import ServiceState
from ..uploads import Limits, read_json, read_multipart
from .annotate import _count_upload
from .common import (
    _COMMON,
    _INPUT_ERRORS,
    _UPLOAD_BODY,
    _content_kind,
    _file_options,
    _json_response,
    job_json,
)

router = APIRouter(prefix="/v1", dependencies=[Depends(authenticate)], responses=_COMMON)


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
    try:
        params, fingerprint = await _stage_job_input(request, state, job_id)
    except asyncio.CancelledError:  # the staged upload is already removed
        raise shutting_down() from None
    try:
        job, created = await run_in_threadpool(
            state.store.create, job_id, params, fingerprint=fingerprint, owner=caller.name,
            idempotency_key=key,
        )  # fmt: skip
    except asyncio.CancelledError:
        shutil.rmtree(state.job_dir(job_id), ignore_errors=True)
        raise shutting_down() from None
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
    job folder is always complete; a JSON list is kept in the job row itself. What
    ``/v1/annotate`` would refuse (a build without reference, sniffed or stated; unreadable
    variants; bad options) is refused now with the same problem, not failed later.
    """
    s = state.settings
    if _content_kind(request) == "json":
        req = await read_json(request, s.max_json_bytes, s.body_timeout_s, s.body_deadline_s)
        req.thresholds()  # inconsistent thresholds: 400 now, not a failed job later
        # the same reading /v1/annotate does: its 4xx now, not a failed job later
        await run_in_threadpool(read_json_variants, state.engines, req, s.max_json_variants)
        body = req.model_dump(mode="json", exclude_none=True)
        fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        return {"kind": "json", "request": body}, fingerprint
    work = state.data_dir / "uploads" / job_id
    try:
        form = await read_multipart(request, work, Limits.of(s))
        opts = _file_options(form.fields)
        opts.run_options()  # inconsistent thresholds: 400 now, not a failed job later
        await run_in_threadpool(files_engine, state.engines, form.files, opts)
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
