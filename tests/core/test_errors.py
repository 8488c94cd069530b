"""Bad input gets a 4xx with problem+json (RFC 9457), never a 500 or a stack trace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from core.app import create_app
from core.audit.entry import AuditEvent
from core.audit.storage import AuditEntryRow
from core.db.engine import transaction
from core.errors import OAuthError
from core.identifiers.resident_id import check_digit
from core.services import Services

PROBLEM = "application/problem+json"
VALID_ID = "11010519491231002X"
BAD_DATE = "11010519491331002" + check_digit("11010519491331002")  # 13th month


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    app = create_app(services=services)
    extra = APIRouter()

    @extra.get("/boom")
    def boom() -> None:
        raise RuntimeError(f"failed while handling {VALID_ID}")

    @extra.post("/audited")
    def audited() -> None:
        with transaction(services.sessions) as session:
            services.audit.record(
                session, AuditEvent("test", "test.noted", "note", "n1", details={"x": VALID_ID})
            )

    @extra.post("/oauth-like")
    def oauth_like() -> None:
        raise OAuthError("invalid_grant", "the code was already used")

    @extra.post("/store")
    def store(value: str) -> dict[str, str]:
        with services.sessions() as session:
            stored = session.execute(text("SELECT CAST(:v AS TEXT)"), {"v": value}).scalar()
        return {"stored": str(stored)}

    app.include_router(extra)
    yield TestClient(app, raise_server_exceptions=False)


def assert_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    return body  # type: ignore[no-any-return]


def test_unknown_route(client: TestClient) -> None:
    assert_problem(client.get("/no/such/route"), 404)


def test_wrong_method(client: TestClient) -> None:
    assert_problem(client.delete("/healthz"), 405)


def test_body_that_is_not_json(client: TestClient) -> None:
    response = client.post(
        "/identifiers/validate", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert assert_problem(response, 400)["type"] == "/problems/malformed-json"


def test_body_of_the_wrong_shape_does_not_echo_input(client: TestClient) -> None:
    response = client.post("/identifiers/validate", json={"kind": "passport", "value": VALID_ID})
    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["body", "kind"]
    assert VALID_ID not in response.text


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("110105194912310021", "check"),
        (BAD_DATE, "birth_date"),
        ("1101051949123100", "length"),
        ("11010519491231X021", "charset"),
    ],
)
def test_malformed_id_number(client: TestClient, value: str, reason: str) -> None:
    response = client.post("/identifiers/validate", json={"kind": "resident_id", "value": value})
    body = assert_problem(response, 422)
    assert body["type"] == "/problems/invalid-identifier"
    assert body["reason"] == reason
    assert value not in response.text


def test_valid_id_number_comes_back_masked(client: TestClient) -> None:
    response = client.post("/identifiers/validate", json={"kind": "resident_id", "value": VALID_ID})
    assert response.status_code == 200
    assert response.json()["display"] == "110105********002X"
    assert VALID_ID not in response.text


def test_uscc(client: TestClient) -> None:
    ok = client.post("/identifiers/validate", json={"kind": "uscc", "value": "91350100M000100Y43"})
    assert ok.status_code == 200 and ok.json()["region_code"] == "350100"
    bad = client.post("/identifiers/validate", json={"kind": "uscc", "value": "91350100M000100Y44"})
    assert assert_problem(bad, 422)["reason"] == "check"


def test_unexpected_error_is_a_bare_500_problem(client: TestClient) -> None:
    response = client.get("/boom")
    body = assert_problem(response, 500)
    assert "detail" not in body
    assert "Traceback" not in response.text and VALID_ID not in response.text


def test_oauth_errors_use_rfc6749_json(client: TestClient) -> None:
    response = client.post("/oauth-like")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "the code was already used",
    }


def test_security_headers_on_every_response(client: TestClient) -> None:
    for response in (client.get("/healthz"), client.get("/missing")):
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_a_value_the_database_refuses_is_a_422(client: TestClient, backend: str) -> None:
    """PostgreSQL refuses a NUL character in text (found by the contract fuzzer on
    ``POST /seals``); SQLite stores it. Either way the answer is never a 500."""
    response = client.post("/store", params={"value": "a\x00b"})
    if backend == "real":
        body = assert_problem(response, 422)
        assert body["type"].endswith("invalid-value")
    else:
        assert response.status_code == 200
    assert client.post("/store", params={"value": "ok"}).json() == {"stored": "ok"}


def test_text_with_an_id_number_reaching_the_audit_trail_is_a_422_and_nothing_is_written(
    client: TestClient, services: Services
) -> None:
    """Free text is checked where it is typed; should any reach an audit entry, the entry
    is refused, its transaction rolled back, and the answer names the input, not a 500."""
    with services.sessions() as session:
        before = session.scalar(select(func.count()).select_from(AuditEntryRow))
    body = assert_problem(client.post("/audited"), 422)
    assert body["type"].endswith("personal-data-in-text") and VALID_ID not in str(body)
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntryRow)) == before
