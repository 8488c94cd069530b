"""Interoperability: an independent relying party (npm ``openid-client`` v6) against
``govtrust serve --demo``.

``rp.mjs`` discovers the provider, runs the authorization code flow with PKCE S256, state and
nonce through the login pages, and lets openid-client validate the ID token (JWKS signature,
iss, aud, nonce, at_hash) and the RFC 9207 ``iss`` response parameter; then userinfo, refresh,
introspection and revocation. With ``RP_FLOW=par-dpop`` it pushes the authorization request
(RFC 9126) and gets DPoP-bound tokens (RFC 9449) from a service that asks for DPoP nonces
(openid-client answers ``use_dpop_nonce`` itself); with ``RP_FLOW=device`` it is a kiosk
running the device grant (RFC 8628) with DPoP while the person approves on the
verification page. Its dependencies come from ``package-lock.json``
(``npm ci --prefix tests/interop``, which ``.ci/run`` does). Without node or those
dependencies the tests are skipped, unless ``GOVTRUST_TEST_REQUIRE_REAL_BACKENDS=1`` (CI).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
RP = HERE / "rp.mjs"
REQUIRE_REAL = os.environ.get("GOVTRUST_TEST_REQUIRE_REAL_BACKENDS") == "1"
RP_TIMEOUT = 90


@dataclass
class Service:
    issuer: str
    demo: dict[str, Any]
    log: Path

    @property
    def web(self) -> dict[str, Any]:
        client: dict[str, Any] = self.demo["idp"]["clients"]["web"]
        return client

    @property
    def citizen(self) -> dict[str, Any]:
        user: dict[str, Any] = self.demo["idp"]["users"]["citizen"]
        return user


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    missing = None
    if found is None:
        missing = "node is not installed"
    elif not (HERE / "node_modules" / "openid-client").is_dir():
        missing = "openid-client is not installed (npm ci --prefix tests/interop)"
    if missing:
        if REQUIRE_REAL:
            pytest.fail(f"{missing} (GOVTRUST_TEST_REQUIRE_REAL_BACKENDS=1)")
        pytest.skip(missing)
    assert found is not None
    return found


@pytest.fixture
def service(node: str, tmp_path: Path) -> Iterator[Service]:
    """A fresh ``serve --demo`` per test (no consent or session left over from another)."""
    yield from serve(tmp_path)


@pytest.fixture
def nonce_service(node: str, tmp_path: Path) -> Iterator[Service]:
    """``serve --demo`` asking DPoP clients for server nonces (RFC 9449 §8, §9)."""
    yield from serve(tmp_path, GOVTRUST_DPOP_NONCE_REQUIRED="true")


def serve(workdir: Path, **settings: str) -> Iterator[Service]:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVTRUST_")}
    env["GOVTRUST_ISSUER"] = issuer
    env.update(settings)
    log = workdir / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "core", "serve", "--demo", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{issuer}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "service did not start"
            time.sleep(0.2)
        demo = json.loads((workdir / "var" / "demo.json").read_text(encoding="utf-8"))
        yield Service(issuer, demo, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_rp(
    node: str,
    service: Service,
    *,
    client_secret: str | None = None,
    flow: str = "code",
    channel: str = "web",
) -> subprocess.CompletedProcess[str]:
    """Run the relying party; credentials go through the environment, not the command line."""
    registered: dict[str, Any] = service.demo["idp"]["clients"][channel]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOVTRUST_", "RP_"))}
    env.update(
        RP_ISSUER=service.issuer,
        RP_CLIENT_ID=registered["client_id"],
        RP_CLIENT_SECRET=client_secret or registered["client_secret"],
        RP_AUTH_METHOD=registered["token_endpoint_auth_method"],
        RP_REDIRECT_URI=(registered["redirect_uris"] or [""])[0],
        RP_USERNAME=service.citizen["id_number"],
        RP_PASSWORD=service.citizen["password"],
        RP_ACTING_AS="self",
        RP_FLOW=flow,
    )
    return subprocess.run(
        [node, str(RP)],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=RP_TIMEOUT,
        check=False,
    )


def jwt_payloads(text: str) -> list[str]:
    """Decoded payloads of anything in ``text`` that looks like a JWT."""
    decoded = []
    for word in text.replace('"', " ").split():
        parts = word.split(".")
        if len(parts) == 3 and all(parts):
            try:
                decoded.append(base64.urlsafe_b64decode(parts[1] + "==").decode())
            except ValueError:
                continue
    return decoded


def test_openid_client_code_flow_userinfo_refresh_introspection_revocation(
    node: str, service: Service
) -> None:
    run = run_rp(node, service)
    assert run.returncode == 0, (run.stdout, run.stderr)
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1, run.stdout
    result = json.loads(lines[0])
    assert result["ok"] is True

    id_number = service.citizen["id_number"]
    subject = service.citizen["subject"]
    # The flow went through every page, and the response carried RFC 9207 iss.
    assert result["issuer"] == service.issuer
    assert result["pages"] == ["login", "identity", "consent"]
    assert result["callback_parameters"] == ["code", "iss", "state"]
    assert set(result["scope"].split()) == {"openid", "profile", "phone", "offline_access"}

    # The ID token (validated by openid-client): a pseudonymous subject, never the ID number.
    claims = result["id_token_claims"]
    assert result["sub"] == claims["sub"] == subject
    assert claims["sub"] != id_number
    assert claims["iss"] == service.issuer
    assert claims["aud"] in ("demo-web", ["demo-web"])
    assert claims["name"] == "张三"
    assert claims["phone_number"] == "+86" + service.citizen["phone"]
    assert "id_number" not in claims and "act" not in claims

    # Userinfo (openid-client checks its sub against the ID token's).
    userinfo = result["userinfo"]
    assert userinfo["sub"] == subject
    assert userinfo["name"] == "张三"
    assert userinfo["phone_number"] == "+86" + service.citizen["phone"]

    # Refresh: a new access token and a new refresh token (rotation); the old one is dead.
    refresh = result["refresh"]
    assert refresh["new_access_token"] is True
    assert refresh["new_refresh_token"] is True
    assert refresh["access_token_claims"]["sub"] == subject
    if refresh["id_token_claims"] is not None:
        assert refresh["id_token_claims"]["sub"] == subject

    # Introspection (RFC 7662).
    introspection = result["introspection"]
    assert introspection["access_token"]["active"] is True
    assert introspection["access_token"]["sub"] == subject
    assert introspection["access_token"]["client_id"] == "demo-web"
    assert introspection["refresh_token"]["active"] is True
    assert introspection["old_refresh_token"] == {"active": False}

    # Revocation (RFC 7009) of the refresh token: inactive, unusable, and its grant's access
    # tokens go with it.
    after = result["after_revocation"]
    assert after["refresh_token"] == {"active": False}
    assert after["access_token"] == {"active": False}
    assert after["refresh"]["failed"] is True
    assert after["refresh"]["error"] == "invalid_grant"
    assert result["errors"] == [after["refresh"]]

    # The ID number appears nowhere: not in the RP's output, not inside any JWT it printed,
    # not in the service's log.
    for text in (run.stdout, run.stderr, *jwt_payloads(run.stdout)):
        assert id_number not in text
    assert id_number not in service.log.read_text(encoding="utf-8", errors="replace")


def test_openid_client_with_a_wrong_client_secret_fails_at_the_token_endpoint(
    node: str, service: Service
) -> None:
    run = run_rp(node, service, client_secret="not-" + service.web["client_secret"])
    assert run.returncode == 1, (run.stdout, run.stderr)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["ok"] is False
    assert result["stage"] == "token endpoint (authorization_code)"
    assert result["error"]["status"] == 401
    assert "invalid_client" in run.stdout
    assert service.citizen["id_number"] not in run.stdout + run.stderr


def result_of(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert run.returncode == 0, (run.stdout, run.stderr)
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 1, run.stdout
    result: dict[str, Any] = json.loads(lines[0])
    assert result["ok"] is True
    return result


def no_id_number(service: Service, run: subprocess.CompletedProcess[str]) -> None:
    id_number = service.citizen["id_number"]
    for text in (run.stdout, run.stderr, *jwt_payloads(run.stdout)):
        assert id_number not in text
    assert id_number not in service.log.read_text(encoding="utf-8", errors="replace")


def test_openid_client_par_and_dpop_with_server_nonces(node: str, nonce_service: Service) -> None:
    from idp.oauth.dpop import thumbprint

    run = run_rp(node, nonce_service, flow="par-dpop")
    result = result_of(run)
    # RFC 9126: only client_id and request_uri travelled through the browser, once.
    assert result["authorization_parameters"] == ["client_id", "request_uri"]
    assert result["pages"] == ["login", "identity", "consent"]
    assert result["reused_request_uri_status"] == 400
    # RFC 9449: the tokens are bound to openid-client's key, though the server asked for
    # nonces at the token endpoint and at userinfo (openid-client retried with them).
    assert result["token_type"].lower() == "dpop"
    jwk = {k: v for k, v in result["dpop_public_jwk"].items() if k in ("kty", "crv", "x", "y")}
    assert result["access_token_claims"]["cnf"] == {"jkt": thumbprint(jwk)}
    assert result["userinfo"]["sub"] == result["sub"] == nonce_service.citizen["subject"]
    assert result["bearer_userinfo_status"] == 401  # a bound token is useless without its key
    no_id_number(nonce_service, run)


def test_openid_client_device_flow_with_dpop(node: str, service: Service) -> None:
    run = run_rp(node, service, flow="device", channel="kiosk")
    result = result_of(run)
    assert result["verification_uri"] == f"{service.issuer}/device"
    assert result["user_code_matches"] is True
    assert result["token_type"].lower() == "dpop"
    assert "jkt" in result["access_token_claims"]["cnf"]
    assert result["sub"] == service.citizen["subject"]
    assert result["id_token_claims"]["aud"] in ("demo-kiosk", ["demo-kiosk"])
    assert result["userinfo"]["sub"] == service.citizen["subject"]
    # the device code is single-use: polling again after success fails
    assert result["reuse"]["failed"] is True and result["reuse"]["error"] == "invalid_grant"
    no_id_number(service, run)
