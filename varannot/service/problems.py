"""RFC 9457 ``application/problem+json``: the one shape every service error takes.

:class:`ProblemError` is raised anywhere in the service with a status, title, detail and the
file/record concerned; :func:`problem_of` maps library errors (:class:`InputError`,
:class:`BuildMismatchError`, ...) to the same document, so bad input is always a 4xx naming the
file and record, never a bare 500. Validation errors from pydantic are converted here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from ..errors import VarannotError

PROBLEM_JSON = "application/problem+json"


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


def shutting_down() -> ProblemError:
    """The answer to a request the server cancels (SIGTERM past the grace period).

    uvicorn cancels the request's task; caught, it becomes this 503 instead of uvicorn's
    plain-text 500, and the route cleans up what it staged.
    """
    return ProblemError(
        503, "Service unavailable", "the server stopped before this request finished; retry "
        "later (large inputs belong in POST /v1/jobs, which survives restarts)",
        source="request", headers={"Retry-After": "5"},
    )  # fmt: skip
