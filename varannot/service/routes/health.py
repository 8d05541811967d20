"""Operational endpoints without an API key: ``/healthz`` (liveness), ``/readyz`` (engines
loaded, job workers running, database reachable) and ``/metrics`` (Prometheus).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..deps import StateDep
from ..problems import ProblemError, _problem_ref
from ..schemas import Health, Readiness

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
