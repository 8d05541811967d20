"""Prometheus metrics: request counts and latency per route, documents, uploads and job states.

Each app gets its own registry (tests build many apps in one process); job counts are collected
from the job store at scrape time so several server processes sharing a database agree.
:class:`MetricsMiddleware` labels requests by route template, not raw path, to keep cardinality
bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .settings import log

if TYPE_CHECKING:
    from .state import ServiceState


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
