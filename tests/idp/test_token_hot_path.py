"""What the token endpoints' hot path must keep doing after its profile-driven changes
(bench/PROFILE.md): headers and metrics from plain ASGI middleware, no thread-pool trip for
the provider, ID-token claims read in the request's unit of work, no OpenTelemetry bridge."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from core.app import SECURITY_HEADERS, SecurityHeaders, create_app
from core.metrics import HttpMetrics, MetricsMiddleware
from core.services import Services
from idp.routers import token
from tests.idp.oidc_helpers import World, person_tokens


def small_app() -> tuple[FastAPI, HttpMetrics]:
    app = FastAPI()
    metrics = HttpMetrics()

    @app.get("/framed")
    def framed() -> JSONResponse:
        return JSONResponse({}, headers={"X-Frame-Options": "SAMEORIGIN"})

    @app.get("/items/{item_id}")
    def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(SecurityHeaders)
    return app, metrics


def test_security_headers_are_added_but_never_override_a_response_s_own() -> None:
    app, _ = small_app()
    client = TestClient(app)
    plain = client.get("/items/1")
    for name, value in SECURITY_HEADERS.items():
        assert plain.headers[name] == value
    framed = client.get("/framed")
    assert framed.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert framed.headers["x-content-type-options"] == "nosniff"


def test_metrics_count_by_route_template_and_status_even_when_the_handler_fails() -> None:
    app, metrics = small_app()
    client = TestClient(app, raise_server_exceptions=False)
    client.get("/items/secret-id")
    assert client.get("/boom").status_code == 500
    client.get("/nowhere")
    text = metrics.render().body.decode()
    assert 'method="GET",route="/items/{item_id}",status="200"} 1.0' in text
    assert 'route="/boom",status="500"} 1.0' in text
    assert 'route="unmatched",status="404"} 1.0' in text
    assert "secret-id" not in text


def test_the_token_endpoints_get_the_provider_without_a_thread() -> None:
    # FastAPI runs a plain ``def`` dependency in the thread pool; this one must be async.
    assert inspect.iscoroutinefunction(token._provider)
    for route in token.router.routes:
        assert inspect.iscoroutinefunction(route.endpoint)  # type: ignore[attr-defined]


def test_no_opentelemetry_work_per_request(services: Services) -> None:
    app = create_app(services=services)
    assert app._native_telemetry.enabled() is False


@pytest.fixture
def general(services: Services) -> TestClient:
    """The app without the OAuth hot path: the general path answers every refresh (the hot
    path's own refresh: tests/idp/test_refresh_hot_path.py)."""
    without = dataclasses.replace(
        services, settings=services.settings.model_copy(update={"oauth_hot_path": False})
    )
    return TestClient(create_app(services=without), base_url="https://govtrust.test")


def test_id_token_claims_are_read_in_the_request_s_unit_of_work(
    services: Services, general: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = general
    tokens = person_tokens(client, world)
    ctx = services.idp.ctx
    sessions = ctx.sessions
    opened: list[int] = []

    def counting_sessions() -> Session:
        opened.append(1)
        return sessions()

    monkeypatch.setattr(ctx, "sessions", counting_sessions)
    refreshed = client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(world.web_client_id, world.web_secret),
    )
    assert refreshed.status_code == 200, refreshed.text
    assert "id_token" in refreshed.json()
    assert len(opened) == 1  # the unit of work only; the claims used it too


def test_a_refresh_reads_its_grant_once(
    services: Services, general: TestClient, world: World
) -> None:
    """The grant checked with the refresh token is the one the new tokens name: read once
    (the session keeps a row only while something refers to it)."""
    client = general
    tokens = person_tokens(client, world)
    grant_reads: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM oauth_grants" in statement:
            grant_reads.append(statement)

    event.listen(services.engine, "before_cursor_execute", note)
    try:
        refreshed = client.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=(world.web_client_id, world.web_secret),
        )
    finally:
        event.remove(services.engine, "before_cursor_execute", note)
    assert refreshed.status_code == 200, refreshed.text
    assert len(grant_reads) == 1
