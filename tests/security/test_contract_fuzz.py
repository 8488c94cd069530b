"""Contract fuzzing: schemathesis drives every operation of ``openapi/openapi.json`` against
the service served over HTTP on loopback, with schema-valid and schema-invalid input, without
a token and with a real token obtained through the provider (a person's with every scope of
the person-facing APIs, or an admin client's for ``/admin``).

For every answer: never a 5xx; the status and content type are ones the document declares;
a JSON body matches its schema; and every error is a problem document (RFC 9457:
``application/problem+json`` with ``type``, ``title`` and ``status``), or RFC 6749 error
JSON on the OAuth endpoints, or the provider's HTML error page on the browser endpoints.

Bounded: a few examples per operation and mode (``FUZZ_EXAMPLES``), derandomised so that a
failure reproduces; the whole module runs in about a minute.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hypothesis
import pytest
import requests
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from certs.demo_types import demo_licence_types
from certs.service import LicenceService
from core.app import create_app
from core.openapi_document import COMMITTED
from core.services import Services
from idp.accounts.service import set_password
from idp.clients.channels import Channel
from idp.clients.service import ClientService
from idp.identities.service import IdentityService
from idp.oauth.server import ACCOUNT_SCOPE
from seal.registry import SealRegistry
from tests.idp.oidc_helpers import (
    CITIZEN_ID,
    COMPANY_USCC,
    PASSWORD,
    REDIRECT,
    code_flow_tokens,
)
from tests.security.conftest import module_services, serve

pytestmark = pytest.mark.slow

FUZZ_EXAMPLES = 12
PROBLEM = "application/problem+json"
PERSON_SCOPE = (
    f"openid profile phone organisation offline_access {ACCOUNT_SCOPE} "
    "seal:admin seal:use licence:admin licence:read"
)
ADMIN_SCOPE = "admin:clients admin:identities admin:sessions licence:read"
OAUTH_ENDPOINTS = frozenset(
    {"/token", "/par", "/introspect", "/revoke", "/device_authorization", "/bc-authorize"}
)
BEARER_ENDPOINTS = frozenset({"/userinfo"})  # RFC 6750 §3: OAuth error JSON + challenge
BROWSER_ENDPOINTS = frozenset({"/authorize", "/logout"})  # RFC 6749 §4.1.2.1: a page


# DER request bodies (RFC 6960, RFC 3161) go on the wire as the bytes generated.
schemathesis.serializer.alias(
    ["application/ocsp-request", "application/timestamp-query"], "application/octet-stream"
)
SCHEMA = schemathesis.openapi.from_dict(json.loads(Path(COMMITTED).read_text(encoding="utf-8")))
LABELS = sorted(
    result.ok().label for result in SCHEMA.get_all_operations() if isinstance(result, Ok)
)


@dataclass(frozen=True)
class Target:
    """The service under test: its base URL and the tokens the fuzzer may send."""

    base_url: str
    person_token: str
    admin_token: str


def _person_token(services: Services, client_id: str, secret: str) -> str:
    browser = TestClient(create_app(services=services), base_url="https://govtrust.test")
    tokens = code_flow_tokens(browser, client_id, secret, username=CITIZEN_ID, scope=PERSON_SCOPE)
    assert set(tokens["scope"].split()) == set(PERSON_SCOPE.split())
    return str(tokens["access_token"])


def _admin_token(services: Services, client_id: str, secret: str) -> str:
    browser = TestClient(create_app(services=services), base_url="https://govtrust.test")
    tokens = browser.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": ADMIN_SCOPE},
        auth=(client_id, secret),
    )
    assert tokens.status_code == 200, tokens.text
    return str(tokens.json()["access_token"])


def build_target_world(services: Services) -> tuple[str, str]:
    """A citizen who represents a company holding a seal, the demo licence types, a portal
    with every person-facing scope and an admin client; return the two tokens."""
    clock = services.idp.ctx.clock
    identities = IdentityService(services.sessions, services.identifiers, services.audit, clock)
    citizen = identities.register_person(CITIZEN_ID, "张三", "13800138000", actor="test")
    set_password(services.idp, citizen.id, PASSWORD)
    company = identities.register_organisation(
        COMPANY_USCC, "福州示例科技有限公司", citizen.id, actor="test"
    )
    seal = SealRegistry(services.sessions, services.keys, services.audit, clock).create(
        organisation_id=company.id, kind="official", by=citizen.id
    )
    licences = LicenceService(services.sessions, services.identifiers, services.audit, clock)
    for licence_type in demo_licence_types(seal_id=seal.id):
        licences.register_type(licence_type, "test")
    clients = ClientService(services.sessions, services.audit, services.idp.ctx.hash_key, clock)
    portal, portal_secret = clients.register(
        name="省政务服务网", channel=Channel.WEB, redirect_uris=[REDIRECT], scope=PERSON_SCOPE
    )
    admin, admin_secret = clients.register(
        name="政务管理后台", channel=Channel.SERVICE, scope=ADMIN_SCOPE
    )
    assert portal_secret and admin_secret
    return (
        _person_token(services, portal.client_id, portal_secret),
        _admin_token(services, admin.client_id, admin_secret),
    )


@pytest.fixture(scope="module", params=["embedded", "real"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """The app on SQLite, then on PostgreSQL + Redis, served over HTTP; once per module."""
    with module_services(tmp_path_factory.mktemp("fuzz"), str(request.param)) as services:
        person, admin = build_target_world(services)
        with serve(create_app(services=services)) as base_url:
            yield Target(base_url, person, admin)


def _header(response: Response, name: str) -> str:
    values = {key.lower(): value for key, value in response.headers.items()}.get(name, [""])
    return values[0] if values else ""


def problem_or_oauth_error(case: Case, response: Response) -> None:
    """Every error answer is a problem document, OAuth error JSON where RFC 6749/6750 say
    so, or the provider's error page where a browser is talking."""
    if response.status_code < 400:
        return
    path = case.operation.path
    media_type = _header(response, "content-type").split(";")[0].strip()
    where = f"{case.method} {case.formatted_path} -> {response.status_code} {media_type}"
    if path in BROWSER_ENDPOINTS and media_type == "text/html":
        assert _header(response, "x-frame-options") == "DENY", where
        return
    if (path in OAUTH_ENDPOINTS or path in BEARER_ENDPOINTS) and media_type == "application/json":
        body = json.loads(response.content)
        assert isinstance(body, dict) and isinstance(body.get("error"), str), where
        return
    assert media_type == PROBLEM, f"{where}: {response.content[:300]!r}"
    body = json.loads(response.content)
    assert isinstance(body, dict), where
    assert isinstance(body.get("type"), str) and isinstance(body.get("title"), str), where
    assert body.get("status") == response.status_code, where


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _headers(target: Target, path: str, authenticated: bool) -> dict[str, str]:
    if not authenticated:
        return {}
    token = target.admin_token if path.startswith("/admin") else target.person_token
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "token"])
@pytest.mark.parametrize("label", LABELS)
def test_operation_honours_its_contract(target: Target, label: str, authenticated: bool) -> None:
    operation = SCHEMA.find_operation_by_label(label)
    assert operation is not None
    session = requests.Session()
    headers = _headers(target, operation.path, authenticated)
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    strategy = hypothesis.strategies.one_of(
        [operation.as_strategy(generation_mode=mode) for mode in modes]
    )

    @hypothesis.settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def fuzz(case: Case) -> None:
        if authenticated and case.headers:
            # the fuzzer's own Authorization header would replace the real token
            case.headers.pop("Authorization", None)
        response = case.call(
            base_url=target.base_url, session=session, headers=headers, allow_redirects=False
        )
        case.validate_response(response, checks=CHECKS, headers=headers)
        problem_or_oauth_error(case, response)

    try:
        fuzz()
    finally:
        session.close()
