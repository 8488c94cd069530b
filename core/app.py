"""Application assembly: settings -> services -> FastAPI app with every router mounted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from certs import import_router as licence_import_router
from certs import router as certs_router
from certs import sharing_router as licence_sharing_router
from certs import wallet_router as licence_wallet_router
from console.app import mount_console
from core import health
from core.access_log import AccessLog, LineSink
from core.audit import router as audit_router
from core.body_limit import RequestBodyLimit
from core.errors.handlers import install_error_handlers
from core.identifiers import router as identifiers_router
from core.log import access_log_sink, configure_logging
from core.metrics import HttpMetrics, install_metrics
from core.openapi_schema import install_problem_openapi
from core.services import Services, build_services
from core.settings import Settings
from idp.hotpath.asgi import OAuthHotPath
from idp.routers import (
    OAUTH_ERROR_PATHS,
    admin,
    authorize,
    ciba,
    device,
    discovery,
    logout,
    me,
    outbox,
    step_up,
    token,
    userinfo,
)
from keys import router as pki_router
from seal import router as seal_router
from seal.batch import MAX_DOCUMENTS
from seal.service import MAX_DOCUMENT_BYTES
from verify import router as verify_router

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "frame-ancestors 'none'",
}

API_VERSION = "0.1.0"


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response that does not set them itself.

    A plain ASGI middleware rather than ``@app.middleware("http")``: Starlette's
    ``BaseHTTPMiddleware`` costs a task group and memory streams per request."""

    headers: tuple[tuple[bytes, bytes], ...] = tuple(
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in SECURITY_HEADERS.items()
    )

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in self.headers if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# The endpoints that take documents (the API's and the console's): a document's limit and a
# little for the form around it; a batch, each document's. Every other body: DEFAULT_LIMIT.
_FORM_SLACK = 1024 * 1024
UPLOAD_LIMITS = [
    (
        r"/seals/[^/]+/stamp|/signatures/validate(/page)?|/console/(stamp|validate)",
        MAX_DOCUMENT_BYTES + _FORM_SLACK,
    ),
    (r"/seals/[^/]+/stamp-batch|/console/batch", MAX_DOCUMENTS * (MAX_DOCUMENT_BYTES + 4096)),
]


class GovtrustApp(FastAPI):
    """FastAPI with an optional ASGI wrapper (``front``) in front of its whole middleware
    stack, FastAPI's own included: the OAuth hot path (``idp.hotpath.asgi``), which hands
    what it does not answer back to FastAPI. Still a FastAPI app for everything else
    (routers, ``state``, tests' ``TestClient``)."""

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is not None:
            await self.front(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def app_from_environment() -> FastAPI:
    """The factory each uvicorn worker process calls: its own JSON logging and access log
    (uvicorn's own access log is off: ``core.log.configure_logging``), then the app."""
    settings = Settings()
    handler = configure_logging(settings.log_level)
    return create_app(settings, access_log=access_log_sink(handler))


def create_app(
    settings: Settings | None = None,
    services: Services | None = None,
    *,
    access_log: LineSink | None = None,
) -> FastAPI:
    """Build the app. ``services`` may be given (tests); otherwise built from ``settings``.
    ``access_log``: where each request's access line is written (``core.access_log``),
    flushed at shutdown; None, no access log."""
    if services is None:
        services = build_services(settings or Settings())
    owned = services

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        owned.close()
        if access_log is not None:
            access_log.flush()  # a uvicorn worker process ends without logging.shutdown

    app = GovtrustApp(
        title="govtrust",
        version=API_VERSION,
        summary="One identity for every channel, e-seals on approval results, "
        "and electronic licences anyone can verify.",
        lifespan=lifespan,
        # The service exports Prometheus metrics (core.metrics) and JSON logs, not
        # OpenTelemetry: FastAPI's native OpenTelemetry bridge looked its providers up
        # on every request (bench/PROFILE.md).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.services = services
    app.state.metrics = HttpMetrics()
    install_error_handlers(app, OAUTH_ERROR_PATHS)
    fastapi: ASGIApp = partial(FastAPI.__call__, app)
    if services.settings.oauth_hot_path:
        # in front of all the middleware; what it answers carries the security headers and
        # is counted by the metrics, as the general path's answers are
        app.front = OAuthHotPath(
            fastapi,
            services.idp,
            headers=SecurityHeaders.headers,
            note=app.state.metrics.note,
        )
    # before anything reads a body, the hot path included (core.body_limit)
    app.front = RequestBodyLimit(
        app.front or fastapi,
        UPLOAD_LIMITS,
        headers=SecurityHeaders.headers,
        oauth_paths=OAUTH_ERROR_PATHS,
    )
    if access_log is not None:  # every request, the hot path's answers too
        app.front = AccessLog(app.front, access_log)
    install_metrics(app, app.state.metrics)

    app.add_middleware(SecurityHeaders)

    # FastAPI matches a request against the routes in this order, at about 1.5 µs a route
    # (bench/PROFILE.md): the public verification endpoints (every scanned QR code, the
    # status and trust lists) come right after the health checks; their paths shadow no
    # other route (tests/core/test_route_order.py)
    app.include_router(health.router)
    app.include_router(verify_router.router)
    app.include_router(audit_router.router)
    app.include_router(identifiers_router.router)
    app.include_router(pki_router.router)
    for idp_router in (
        discovery.router,
        authorize.router,
        step_up.router,
        token.router,
        userinfo.router,
        logout.router,
        admin.router,
        me.router,
        device.router,  # RFC 8628 device authorization and verification page
        ciba.router,  # OpenID Connect CIBA: counter and hotline
        outbox.router,  # development only: the demo's SMS outbox
    ):
        app.include_router(idp_router)
    app.include_router(seal_router.router)
    app.include_router(certs_router.router)
    app.include_router(licence_import_router.router)  # bulk import from CSV
    app.include_router(licence_sharing_router.router)  # consented sharing (授权用证)
    app.include_router(licence_wallet_router.router)  # wallet and sealed PDFs
    mount_console(app, services)  # the web console's pages at /console (not in the schema)
    install_problem_openapi(app, OAUTH_ERROR_PATHS)
    return app
