"""The console as a sub-application mounted at ``/console``.

A sub-application of its own, so that its failures are answered as HTML pages in the
person's language (the service's APIs answer RFC 9457 problem JSON), and so that none of
its pages appear in the OpenAPI document: they are pages, not an API.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from console.client import PREFIX
from console.deps import CsrfRefused, Forbidden, LoginRequired, StepUpRequired
from console.i18n import TEXT
from console.pages import error_page
from console.routers import (
    account,
    agents,
    approver,
    home,
    licence_admin,
    licence_change,
    licence_import,
    licence_issue,
    licence_prints,
    licence_types,
    licences,
    login,
    platform_admin,
    platform_ops,
    seal_admin,
    seal_batch,
    validation,
)
from console.text import CONTROL_CHARACTERS
from core.errors.problem import DependencyUnavailable, ProblemError
from core.services import Services

log = logging.getLogger("govtrust.console")
STATIC = Path(__file__).resolve().parent / "static"


async def _login_required(request: Request, _exc: Exception) -> Response:
    if request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{PREFIX}/login?{urlencode({'next': target})}", 303)
    return RedirectResponse(f"{PREFIX}/login", 303)


async def _step_up(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StepUpRequired)
    query = urlencode({"next": exc.next_path, "acr": exc.acr})
    return RedirectResponse(f"{PREFIX}/login?{query}", 303)


async def _forbidden(request: Request, _exc: Exception) -> Response:
    return error_page(request, 403)


async def _csrf(request: Request, _exc: Exception) -> Response:
    return error_page(request, 403, "error.csrf")


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    status = exc.problem.status
    return error_page(request, status if f"error.{status}" in TEXT["zh"] else 400)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    return error_page(request, status if f"error.{status}" in TEXT["zh"] else 400)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if any(error.get("type") == CONTROL_CHARACTERS for error in exc.errors()):
        return error_page(request, 422, "error.control")
    return error_page(request, 400)


async def _unavailable(request: Request, _exc: Exception) -> Response:
    response = error_page(request, 503)
    response.headers["Retry-After"] = "5"
    return response


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("console page failed: %s", type(exc).__name__)
    return error_page(request, 500)


def build_console(services: Services) -> FastAPI:
    console = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    console.state.services = services
    console.add_exception_handler(LoginRequired, _login_required)
    console.add_exception_handler(StepUpRequired, _step_up)
    console.add_exception_handler(Forbidden, _forbidden)
    console.add_exception_handler(CsrfRefused, _csrf)
    console.add_exception_handler(ProblemError, _problem)
    console.add_exception_handler(StarletteHTTPException, _http)
    console.add_exception_handler(RequestValidationError, _invalid)
    console.add_exception_handler(DependencyUnavailable, _unavailable)
    console.add_exception_handler(Exception, _unexpected)
    console.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in (login.router, home.router, account.router, agents.router, licences.router):
        console.include_router(router)
    # before licence_admin: its /admin/licences/{identifier}/{action} would take their paths
    for router in (
        licence_types.router,
        licence_issue.router,
        licence_import.router,
        licence_prints.router,
        licence_change.router,
    ):
        console.include_router(router)
    console.include_router(licence_admin.router)
    for router in (approver.router, seal_batch.router, validation.router, seal_admin.router):
        console.include_router(router)
    for router in (platform_admin.router, platform_ops.router):
        console.include_router(router)
    return console


def mount_console(app: FastAPI, services: Services) -> None:
    """Mount the console at ``/console`` (and send ``/console`` itself there)."""

    async def to_console() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", 307)

    app.add_api_route(PREFIX, to_console, include_in_schema=False)
    app.mount(PREFIX, build_console(services))
