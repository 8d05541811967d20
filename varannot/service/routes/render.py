"""``POST /v1/render/{name}``: the CLI's run files made from a result document the client holds.

The browser page downloads calls.tsv, variants.tsv, results.json and report.html through this:
the library's writers format the document, so no call logic is ever re-implemented in
JavaScript. The body is the document itself (size-limited like any JSON body).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from ...report import render_report
from ...schema import ResultDocument
from ...writers import calls_tsv, to_json, variants_tsv
from ..deps import StateDep, authenticate
from ..problems import _problem_ref, _validation_problem
from ..uploads import _check_length, _chunks, too_large
from .common import _COMMON

router = APIRouter(prefix="/v1", dependencies=[Depends(authenticate)], responses=_COMMON)

Rendering = Literal["calls.tsv", "variants.tsv", "results.json", "report.html"]
RENDERINGS: dict[str, tuple[str, Callable[[ResultDocument], str]]] = {
    "calls.tsv": ("text/tab-separated-values; charset=utf-8", calls_tsv),
    "variants.tsv": ("text/tab-separated-values; charset=utf-8", variants_tsv),
    "results.json": ("application/json", to_json),
    # no plot files beside a downloaded report: the page draws the chromatograms itself
    "report.html": ("text/html; charset=utf-8", lambda doc: render_report(doc, Path("."))),
}


@router.post(
    "/render/{name}",
    responses={
        200: {
            "content": {
                "text/tab-separated-values": {},
                "text/html": {},
                "application/json": {},
            },
            "description": "the file",
        },
        408: _problem_ref("the client stopped sending the body"),
        413: _problem_ref("document over the JSON body limit"),
        422: _problem_ref("not a result document"),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ResultDocument"}}
            },
        }
    },
    summary="Format a result document as one of the CLI's run files",
)
async def render(
    name: Annotated[Rendering, PathParam(description="the file to make")],
    request: Request,
    state: StateDep,
) -> Response:
    """calls.tsv, variants.tsv, results.json or report.html of the posted document."""
    s = state.settings
    _check_length(request, s.max_json_bytes)
    body = bytearray()
    async for chunk in _chunks(request, s.body_timeout_s, s.body_deadline_s):
        body += chunk
        if len(body) > s.max_json_bytes:
            raise too_large(s.max_json_bytes, "the JSON body")
    try:
        doc = ResultDocument.model_validate_json(bytes(body))
    except ValidationError as exc:
        raise _validation_problem(exc.errors(include_url=False, include_input=False)) from None
    media, write = RENDERINGS[name]
    text = await run_in_threadpool(write, doc)
    return Response(
        text, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
