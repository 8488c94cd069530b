"""Prometheus metrics: request counts and latencies by route template, never by raw path.

Labelling by the route template (``/audit/proof/inclusion``) rather than the URL keeps the
label set bounded and keeps identifiers out of metric labels.
"""

from __future__ import annotations

import time

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HttpMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "govtrust_http_requests_total",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "govtrust_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            registry=self.registry,
        )

        # (method, route, status): the two series a request counts in. prometheus_client's
        # labels() builds, checks and looks up its label tuple under a lock on every call,
        # a few µs a request on the token endpoint (bench/PROFILE.md, seventh pass); the
        # keys are as bounded as the labels themselves (route templates, never raw paths)
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def note(self, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request."""
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        series[0].inc()
        series[1].observe(seconds)

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def _route_template(scope: Scope) -> str:
    """The template of the route that answered (set in the scope by the router)."""
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))


class MetricsMiddleware:
    """Counts and times every HTTP request by method, route template and status.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` (``@app.middleware``) runs
    each request through a task group and memory streams, which cost more CPU than the
    token endpoint's own work (``bench/PROFILE.md``)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.note(
                scope["method"], _route_template(scope), status, time.perf_counter() - started
            )


def install_metrics(app: FastAPI, metrics: HttpMetrics) -> None:
    app.add_middleware(MetricsMiddleware, metrics=metrics)
