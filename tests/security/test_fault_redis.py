"""Fault: Redis stopped during logins, then started again.

The service runs on a private ``redis-server`` (never the shared one) and SQLite. Logins and
token requests succeed; the Redis process is killed with SIGKILL; then:

* what needs Redis answers a clear 503 (problem+json, or RFC 6749 error JSON on the OAuth
  endpoints; ``Retry-After``) within a bound, never
  a 500 and never a hang: a new authorization (the interaction lives in Redis), the login
  form of an interaction started before the fault, a pushed authorization request;
* what does not need it keeps working: liveness, discovery, JWKS, the PKI, the token
  endpoint for refresh and client credentials (grants are in the database), introspection,
  UserInfo, the person's own API, and licence verification with the status and trust lists
  (the cache only spares re-signing them);
* ``/readyz`` says not ready and names the cache;
* Redis comes back on the same port (empty: it kept nothing) and the same service, not
  restarted, logs people in again and reports ready.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient

from certs.demo_types import BUSINESS_LICENCE, demo_licence_types
from certs.lifecycle import china_date
from certs.service import LicenceService
from core.app import create_app
from core.db.migrate import upgrade
from core.errors.problem import PROBLEM_MEDIA_TYPE
from core.services import Services, build_services
from tests.certs.conftest import ADMIN, BUSINESS_FIELDS, COMPANY_USCC, ISSUER, ISSUER_NAME
from tests.conftest import make_settings
from tests.idp.oidc_helpers import (
    REDIRECT,
    World,
    authorize_params,
    build_world,
    person_tokens,
    pkce_pair,
)
from tests.security.conftest import LiveClock
from tests.security.faults import PrivateRedis, private_redis
from verify.issuing import QrIssuer
from verify.payload import QrKind
from verify.publication import status_list_uri

BOUND_SECONDS = 5.0  # the cache client gives up after 2 s (connect and read timeouts)


class Scene:
    def __init__(self, services: Services, redis: PrivateRedis) -> None:
        self.services = services
        self.redis = redis
        self.world: World = build_world(services)
        self.browser = TestClient(create_app(services=services), base_url="https://govtrust.test")
        licences = LicenceService(
            services.sessions, services.identifiers, services.audit, services.keys.clock
        )
        for licence_type in demo_licence_types(seal_id="seal-demo-1"):
            licences.register_type(licence_type, ADMIN)
        licence = licences.issue(
            BUSINESS_LICENCE,
            ISSUER,
            ISSUER_NAME,
            BUSINESS_FIELDS["name"],
            COMPANY_USCC,
            BUSINESS_FIELDS,
            china_date(services.keys.clock()),
            ADMIN,
        )
        issuer = QrIssuer(
            services.settings.issuer,
            status_list_uri(services.settings.issuer),
            services.keys,
            services.keys.clock,
        )
        self.qr = issuer.qr_text(issuer.claims(licence, QrKind.ELECTRONIC))

    def timed(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        started = time.monotonic()
        response: httpx.Response = self.browser.request(
            method, url, follow_redirects=False, **kwargs
        )
        elapsed = time.monotonic() - started
        assert elapsed < BOUND_SECONDS, f"{method} {url} took {elapsed:.1f} s"
        assert response.status_code != 500, (url, response.text[:300])
        return response


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    with private_redis(tmp_path) as redis:
        settings = make_settings(tmp_path, redis_url=redis.url, issuer="https://govtrust.test")
        services = build_services(settings, clock=LiveClock())
        try:
            upgrade(services.engine)
            services.keys.init()
            yield Scene(services, redis)
        finally:
            services.close()


def _unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["retry-after"]
    body = response.json()
    assert body["status"] == 503 and body["type"] == "/problems/unavailable"
    assert "Traceback" not in response.text


def test_redis_killed_during_logins_and_back(scene: Scene) -> None:
    world, browser = scene.world, scene.browser
    tokens = person_tokens(browser, world)
    assert scene.timed("GET", "/readyz").status_code == 200
    assert scene.timed("POST", "/verify", json={"qr": scene.qr}).json()["verdict"] == "valid"
    # a login under way when Redis dies: its interaction page was served
    _, challenge = pkce_pair()
    started = scene.timed(
        "GET", f"/authorize?{urlencode(authorize_params(world.web_client_id, challenge))}"
    )
    assert started.status_code == 303
    interaction = started.headers["location"]

    scene.redis.kill()

    # what needs Redis: a clear 503, quickly
    _unavailable(scene.timed("GET", interaction))
    _unavailable(
        scene.timed(
            "GET", f"/authorize?{urlencode(authorize_params(world.web_client_id, challenge))}"
        )
    )
    par = scene.timed(
        "POST",
        "/par",
        data={
            "response_type": "code",
            "client_id": world.web_client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
        auth=(world.web_client_id, world.web_secret),
    )
    assert par.status_code == 503, par.text
    # an OAuth endpoint answers RFC 6749 error JSON, which its clients parse (§5.2)
    assert par.json() == {
        "error": "temporarily_unavailable",
        "error_description": "a backing service is not reachable",
    }
    assert par.headers["retry-after"]

    # what does not need it keeps working
    assert scene.timed("GET", "/healthz").status_code == 200
    assert scene.timed("GET", "/.well-known/openid-configuration").status_code == 200
    assert scene.timed("GET", "/pki/jwks.json").status_code == 200
    refreshed = scene.timed(
        "POST",
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(world.web_client_id, world.web_secret),
    )
    assert refreshed.status_code == 200, refreshed.text
    access = refreshed.json()["access_token"]
    service = scene.timed(
        "POST",
        "/token",
        data={"grant_type": "client_credentials", "scope": "licence:read"},
        auth=(world.service_client_id, world.service_secret),
    )
    assert service.status_code == 200, service.text
    introspected = scene.timed(
        "POST", "/introspect", data={"token": access}, auth=(world.web_client_id, world.web_secret)
    )
    assert introspected.status_code == 200 and introspected.json()["active"] is True
    bearer = {"Authorization": f"Bearer {access}"}
    assert scene.timed("GET", "/userinfo", headers=bearer).status_code == 200
    assert scene.timed("GET", "/me", headers=bearer).status_code == 200
    verified = scene.timed("POST", "/verify", json={"qr": scene.qr})
    assert verified.status_code == 200, verified.text
    assert verified.json()["verdict"] == "valid"
    assert scene.timed("GET", "/verify/status-lists/1").status_code == 200
    assert scene.timed("GET", "/verify/trust-list").status_code == 200

    not_ready = scene.timed("GET", "/readyz")
    assert not_ready.status_code == 503
    assert not_ready.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert not_ready.json()["checks"] == {"database": "ok", "cache": "unavailable"}

    # Redis returns, empty, on the same port; the same service recovers by itself
    scene.redis.start()
    assert scene.timed("GET", "/readyz").status_code == 200
    again = person_tokens(browser, world)
    assert again["access_token"] and again["refresh_token"]
    # the interaction begun before the fault is gone with Redis's memory: a clear page,
    # never a 500
    assert scene.timed("GET", interaction).status_code == 400
    assert scene.timed("POST", "/verify", json={"qr": scene.qr}).json()["verdict"] == "valid"
