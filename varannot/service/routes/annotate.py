"""``POST /v1/annotate``: synchronous annotation of an upload or a JSON variant list.

The body is streamed to disk (or parsed as JSON), run in the thread pool under the request
timeout and answered with the same ``ResultDocument`` as ``varannot annotate``; large inputs
belong in ``POST /v1/jobs``.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Callable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from ...schema import ResultDocument
from ..deps import StateDep, authenticate
from ..problems import ProblemError, _problem_ref, shutting_down
from ..runner import run_files, run_json
from ..schemas import AnnotateRequest
from ..state import ServiceState
from ..uploads import Limits, UploadForm, read_json, read_multipart
from .common import (
    _COMMON,
    _INPUT_ERRORS,
    _UPLOAD_BODY,
    _content_kind,
    _file_options,
    _json_response,
)

router = APIRouter(prefix="/v1", dependencies=[Depends(authenticate)], responses=_COMMON)


@router.post(
    "/annotate",
    response_model=ResultDocument,
    responses=_INPUT_ERRORS
    | {
        503: _problem_ref("the server stopped before the request finished"),
        504: _problem_ref("annotation took longer than the limit"),
    },
    openapi_extra={"requestBody": _UPLOAD_BODY},
    summary="Annotate an uploaded VCF/BCF/trace or a JSON list of variants",
)
async def annotate(request: Request, state: StateDep) -> Response:
    """Synchronous annotation; the same document as ``varannot annotate --format json``."""
    s = state.settings
    if _content_kind(request) == "json":
        try:
            req = await read_json(request, s.max_json_bytes, s.body_timeout_s, s.body_deadline_s)
        except asyncio.CancelledError:
            raise shutting_down() from None
        doc_json = await _in_pool(state, lambda: _json_doc(state, req))
        return _json_response(doc_json)
    work = state.data_dir / "uploads" / uuid.uuid4().hex
    try:
        form = await read_multipart(request, work, Limits.of(s, sync=True))
        opts = _file_options(form.fields)
        _count_upload(state, form)
    except asyncio.CancelledError:
        shutil.rmtree(work, ignore_errors=True)
        raise shutting_down() from None
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

    # on cancellation the upload goes now: the thread may never run (the pool is shut down)
    cleanup = lambda: shutil.rmtree(work, ignore_errors=True)  # noqa: E731
    return _json_response(await _in_pool(state, job, cleanup))


def _json_doc(state: ServiceState, req: AnnotateRequest) -> str:
    doc = run_json(state.engines, req, state.settings.max_json_variants)
    if state.metrics is not None:
        state.metrics.documents.labels("sync").inc()
    return doc.model_dump_json()


def _count_upload(state: ServiceState, form: UploadForm) -> None:
    if state.metrics is not None:
        state.metrics.upload_bytes.inc(sum(f.size for f in form.files))


async def _in_pool(
    state: ServiceState, fn: Callable[[], str], cleanup: Callable[[], None] | None = None
) -> str:
    """Run blocking annotation in the pool, bounded by the request timeout (504 past it).

    A cancelled request (server stopping) answers 503 and runs ``cleanup``.
    """
    loop = asyncio.get_running_loop()
    fut = loop.run_in_executor(state.pool, fn)
    try:
        return await asyncio.wait_for(fut, state.settings.request_timeout_s)
    except asyncio.CancelledError:
        fut.cancel()
        if cleanup is not None:
            cleanup()
        raise shutting_down() from None
    except TimeoutError:
        raise ProblemError(
            504, "Annotation timeout",
            f"annotation took longer than {state.settings.request_timeout_s:g} s; submit large "
            "inputs to POST /v1/jobs", source="request",
        ) from None  # fmt: skip
