"""App factory and server: :func:`create_app` wires settings, engines, job store, metrics,
error handlers and routers; :func:`serve` runs it under uvicorn for ``varannot serve``.

Engines are built in the factory (not at first request) so a bad FASTA or knowledge base fails
start-up with its own message; the job runner starts and stops with the app's lifespan.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import VarannotError
from ..models import Build
from ..schema import ResultDocument
from .jobs import DataDirLock, JobStore, database_url
from .metrics import Metrics, MetricsMiddleware
from .problems import Problem, ProblemError, _problem_response, _validation_problem, problem_of
from .routes import annotate, health, page, reference, render
from .routes import jobs as job_routes
from .runner import EngineSet
from .schemas import AnnotateRequest
from .settings import ServiceSettings, log
from .state import ServiceState

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
        for model in (AnnotateRequest, Problem, ResultDocument):
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
    app.include_router(annotate.router)
    app.include_router(job_routes.router)
    app.include_router(reference.router)
    app.include_router(health.ops)
    app.include_router(render.router)
    app.include_router(page.page)
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
        # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise: only from the
        # configured proxies, so the per-client rate limit keys on the real peer address
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=",".join(settings.forwarded_allow_ips) or None,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 5,
        server_header=False,
        log_level="info",
    )
