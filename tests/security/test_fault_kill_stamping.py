"""Fault: ``govtrust serve`` killed with SIGKILL during a batch stamping job.

A private installation on a SQLite file; an approver holding a grant on the authority's
seal gets a token (two factors) and starts a batch of distinct PDFs over HTTP against a
``govtrust serve`` subprocess. Once the job reports a few documents done, the server is
killed with SIGKILL. Afterwards:

* every document is either sealed *with* its ``seal.used`` audit entry or not at all: the
  entries name distinct documents, exactly the first k of the batch in order, none twice;
* the job itself is gone (its progress lived in the in-process cache) and the sealed PDFs
  of those k documents were never delivered: the service keeps no documents, only the
  record of each use (see tests/security/README.md, "Faults");
* the restarted service lists those k uses to the seal administrator; the approver sends
  the remaining documents again and then each of the batch's documents has exactly one
  use;
* ``govtrust audit verify`` passes and a checkpoint signed before the job is consistent with
  one signed after the re-run.
"""

from __future__ import annotations

import hashlib
import io
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyotp
import pytest
from fastapi.testclient import TestClient
from pypdf import PdfWriter
from sqlalchemy import text

from core.app import create_app
from core.audit.entry import parse_entry
from idp.accounts.service import set_password
from idp.clients.channels import Channel
from idp.identities.service import IdentityService
from idp.second_factor import enrol_totp
from seal.registry import SealRegistry
from tests.idp.oidc_helpers import (
    PASSWORD,
    REDIRECT,
    authorize_params,
    callback_params,
    client_service,
    csrf_of,
    login_and_consent,
    pkce_pair,
)
from tests.security.faults import (
    GOVTRUST,
    Installation,
    assert_consistent,
    audit_ok,
    free_port,
    install,
    signed_checkpoint,
)

ADMIN_ID_NUMBER = "350102198503150022"  # install()'s licence and seal administrator
CLERK_ID_NUMBER = "350102198001010011"
LOA2 = "urn:govtrust:loa:2"
SCOPE = "openid seal:admin seal:use"
DOCUMENTS = 24


@dataclass(frozen=True)
class Tokens:
    admin: str
    clerk: str


def two_factor_token(
    browser: TestClient, client_id: str, secret: str, id_number: str, totp: str
) -> str:
    """A person's access token at LoA 2 from the code flow (password, then TOTP now)."""
    verifier, challenge = pkce_pair()
    params = authorize_params(client_id, challenge, scope=SCOPE, acr_values=LOA2)
    page = login_and_consent(browser, params, username=id_number, password=PASSWORD)
    action = re.search(r'action="(/interaction/[^"/]+)/second-factor"', page.text)
    assert action, page.text[:300]
    page = browser.post(
        f"{action.group(1)}/second-factor",
        data={"method": "totp", "otp": pyotp.TOTP(totp).now(), "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    page = browser.get(page.headers["location"], follow_redirects=False)
    while page.status_code == 200:
        field = "acting_as" if 'name="acting_as"' in page.text else "consent"
        form = re.search(r'action="([^"]+)"', page.text)
        assert form
        page = browser.post(
            form.group(1),
            data={field: "self" if field == "acting_as" else "allow", "csrf": csrf_of(page.text)},
            follow_redirects=False,
        )
        if not page.headers["location"].startswith(REDIRECT):
            page = browser.get(page.headers["location"], follow_redirects=False)
    back = callback_params(page)
    response = browser.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def approver_tokens(installation: Installation) -> Tokens:
    """A clerk with a grant on the seal; tokens of the administrator and of the clerk."""
    services = installation.services()
    try:
        clock = services.keys.clock
        ids = IdentityService(services.sessions, services.identifiers, services.audit, clock)
        clerk = ids.register_person(CLERK_ID_NUMBER, "李四", actor="t")
        set_password(services.idp, installation.admin_id, PASSWORD)
        set_password(services.idp, clerk.id, PASSWORD)
        admin_totp = enrol_totp(services.idp, installation.admin_id, "王芳")[0]
        clerk_totp = enrol_totp(services.idp, clerk.id, "李四")[0]
        SealRegistry(services.sessions, services.keys, services.audit, clock).grant(
            installation.seal_id,
            clerk.id,
            by=installation.admin_id,
            valid_until=datetime.now(UTC) + timedelta(days=30),
        )
        client, secret = client_service(services).register(
            name="审批系统", channel=Channel.WEB, redirect_uris=[REDIRECT], scope=SCOPE
        )
        assert secret
        app = create_app(services=services)
        admin = two_factor_token(
            TestClient(app, base_url="https://govtrust.test"),
            client.client_id,
            secret,
            ADMIN_ID_NUMBER,
            admin_totp,
        )
        clerk_token = two_factor_token(
            TestClient(app, base_url="https://govtrust.test"),
            client.client_id,
            secret,
            CLERK_ID_NUMBER,
            clerk_totp,
        )
        return Tokens(admin, clerk_token)
    finally:
        services.close()


def pdf(number: int) -> bytes:
    """A distinct one-page PDF."""
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.add_metadata({"/Title": f"审批结果 {number:04d}"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@contextmanager
def served(installation: Installation) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``govtrust serve`` (one worker, the embedded SQLite file) on a free loopback port."""
    port = free_port()
    process = subprocess.Popen(
        [*GOVTRUST, "serve", "--port", str(port), "--no-migrate"],
        env=installation.env,
        cwd=installation.data_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                _, err = process.communicate(timeout=5)
                pytest.fail(f"govtrust serve did not start: {err.decode()[-2000:]}")
            time.sleep(0.1)
        yield process, base
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def used_documents(installation: Installation) -> list[str]:
    """The document hashes of the seal's ``seal.used`` audit entries, in log order."""
    services = installation.services()
    try:
        with services.sessions() as session:
            rows = session.execute(
                text(
                    "SELECT entry FROM audit_entries WHERE action = 'seal.used' "
                    "AND object_id = :seal ORDER BY idx"
                ),
                {"seal": installation.seal_id},
            ).scalars()
            return [str(parse_entry(bytes(row)).event.document_hash) for row in rows]
    finally:
        services.close()


def stamp_batch(base: str, installation: Installation, token: str, docs: list[bytes]) -> str:
    response = httpx.post(
        f"{base}/seals/{installation.seal_id}/stamp-batch",
        headers={"Authorization": f"Bearer {token}"},
        files=[("documents", (f"d{i}.pdf", doc, "application/pdf")) for i, doc in enumerate(docs)],
        data={"level": "B-T", "page": "0", "x": "400", "y": "100", "purpose": "批量审批"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def progress(base: str, token: str, job: str) -> dict[str, object]:
    response = httpx.get(
        f"{base}/seal-jobs/{job}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


@pytest.mark.slow
def test_serve_killed_during_batch_stamping(tmp_path: Path) -> None:
    installation = install(tmp_path)
    tokens = approver_tokens(installation)
    documents = [pdf(number) for number in range(DOCUMENTS)]
    hashes = [hashlib.sha256(document).hexdigest() for document in documents]
    assert len(set(hashes)) == DOCUMENTS
    before = signed_checkpoint(installation)

    with served(installation) as (process, base):
        job = stamp_batch(base, installation, tokens.clerk, documents)
        deadline = time.monotonic() + 60
        while int(str(progress(base, tokens.clerk, job)["done"])) < 3:
            assert time.monotonic() < deadline, "the batch made no progress"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    assert process.returncode == -signal.SIGKILL

    # sealed with its audit entry, or not at all; never twice
    sealed = used_documents(installation)
    assert 3 <= len(sealed) < DOCUMENTS, len(sealed)
    assert sealed == hashes[: len(sealed)]
    audit_ok(installation)

    with served(installation) as (_, base):
        clerk = {"Authorization": f"Bearer {tokens.clerk}"}
        # the job died with the process that ran it
        assert httpx.get(f"{base}/seal-jobs/{job}", headers=clerk, timeout=10).status_code == 404
        # the seal administrator sees exactly the uses that happened
        uses = httpx.get(
            f"{base}/seals/{installation.seal_id}/uses",
            params={"limit": 100},
            headers={"Authorization": f"Bearer {tokens.admin}"},
            timeout=10,
        )
        assert uses.status_code == 200, uses.text
        listed = {use["document_sha256"] for use in uses.json()}
        assert listed == set(sealed)
        # the approver sends what was not sealed
        rest = [doc for doc, digest in zip(documents, hashes, strict=True) if digest not in listed]
        again = stamp_batch(base, installation, tokens.clerk, rest)
        deadline = time.monotonic() + 90
        while not (state := progress(base, tokens.clerk, again))["finished"]:
            assert time.monotonic() < deadline, "the second batch did not finish"
            time.sleep(0.1)
        assert all(item["ok"] for item in state["items"])  # type: ignore[attr-defined]

    assert sorted(used_documents(installation)) == sorted(hashes)  # each exactly once
    audit_ok(installation)
    after = signed_checkpoint(installation)
    services = installation.services()
    try:
        first, second = assert_consistent(services, before, after)
    finally:
        services.close()
    assert second - first == DOCUMENTS
