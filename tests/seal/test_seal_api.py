"""Seals over HTTP: an administrator makes a seal and authorises an approver, who stamps
a PDF after stepping up to two factors; anyone validates it; misuse is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from core.app import create_app
from core.services import Services
from idp.accounts.service import set_password
from idp.clients.channels import Channel
from idp.identities.service import IdentityService
from idp.second_factor import enrol_totp
from tests.conftest import FrozenClock
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

BOSS, CLERK = "11010519491231002X", "350102198001010011"
LOA2 = "urn:govtrust:loa:2"


class Office:
    def __init__(self, services: Services) -> None:
        ids = IdentityService(
            services.sessions, services.identifiers, services.audit, services.keys.clock
        )
        boss = ids.register_person(BOSS, "张三", actor="t")
        clerk = ids.register_person(CLERK, "李四", actor="t")
        self.org = ids.register_organisation(
            "91350100M000100Y43", "福州示例科技有限公司", boss.id, actor="t"
        ).id
        self.clerk_subject = clerk.subject
        self.secrets = {}
        for person in (boss, clerk):
            set_password(services.idp, person.id, PASSWORD)
            self.secrets[person.id] = enrol_totp(services.idp, person.id, person.name)[0]
        self.boss_id, self.clerk_id = boss.id, clerk.id
        clients = client_service(services)
        client, secret = clients.register(
            name="审批系统",
            channel=Channel.WEB,
            redirect_uris=[REDIRECT],
            scope="openid seal:admin seal:use",
        )
        assert secret
        self.client_id, self.client_secret = client.client_id, secret


@pytest.fixture
def office(services: Services) -> Office:
    return Office(services)


@pytest.fixture
def app(services: Services):  # type: ignore[no-untyped-def]
    return create_app(services=services)


def token_for(
    app,
    office: Office,
    id_number: str,
    person_id: str,  # type: ignore[no-untyped-def]
    clock: FrozenClock,
    *,
    two_factor: bool = True,
) -> str:
    browser = TestClient(app, base_url="https://govtrust.test")
    verifier, challenge = pkce_pair()
    extra = {"acr_values": LOA2} if two_factor else {}
    params = authorize_params(
        office.client_id, challenge, scope="openid seal:admin seal:use", **extra
    )
    page = login_and_consent(browser, params, username=id_number)
    if two_factor:
        action = re.search(r'action="(/interaction/[^"/]+)/second-factor"', page.text)
        assert action, page.text[:300]
        clock.advance(seconds=30)
        code = pyotp.TOTP(office.secrets[person_id]).at(clock.now)
        page = browser.post(
            f"{action.group(1)}/second-factor",
            data={"method": "totp", "otp": code, "csrf": csrf_of(page.text)},
            follow_redirects=False,
        )
        page = browser.get(page.headers["location"], follow_redirects=False)
        while page.status_code == 200:
            field = "acting_as" if 'name="acting_as"' in page.text else "consent"
            value = "self" if field == "acting_as" else "allow"
            action2 = re.search(r'action="([^"]+)"', page.text)
            assert action2
            page = browser.post(
                action2.group(1),
                data={field: value, "csrf": csrf_of(page.text)},
                follow_redirects=False,
            )
            if not page.headers["location"].startswith(REDIRECT):
                page = browser.get(page.headers["location"], follow_redirects=False)
    back = callback_params(page)
    tokens = browser.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(office.client_id, office.client_secret),
    ).json()
    return str(tokens["access_token"])


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    yield TestClient(app, base_url="https://govtrust.test")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_make_authorise_stamp_and_validate(
    app,
    client: TestClient,
    office: Office,
    clock: FrozenClock,
    cjk_one_page_pdf: bytes,  # type: ignore[no-untyped-def]
) -> None:
    boss = token_for(app, office, BOSS, office.boss_id, clock)
    made = client.post(
        "/seals", json={"organisation_id": office.org, "kind": "approval"}, headers=bearer(boss)
    )
    assert made.status_code == 201, made.text
    seal = made.json()
    assert seal["name"] == "审批专用章" and seal["uscc"] == "91350100M000100Y43"
    until = (clock.now + timedelta(days=30)).isoformat()
    naive = client.post(  # a time without its offset names no moment: 422, not a 500
        f"/seals/{seal['id']}/grants",
        headers=bearer(boss),
        json={"person_subject": office.clerk_subject, "valid_until": "2030-01-01T00:00:00"},
    )
    assert naive.status_code == 422 and naive.headers["content-type"] == "application/problem+json"
    granted = client.post(
        f"/seals/{seal['id']}/grants",
        headers=bearer(boss),
        json={"person_subject": office.clerk_subject, "valid_until": until},
    )
    assert granted.status_code == 201, granted.text
    twice = client.post(  # a second valid grant would outlive the first one's withdrawal
        f"/seals/{seal['id']}/grants",
        headers=bearer(boss),
        json={"person_subject": office.clerk_subject, "valid_until": until},
    )
    assert twice.status_code == 409 and twice.headers["content-type"] == "application/problem+json"
    assert twice.json()["type"].endswith("/seal-grant-exists")
    clerk = token_for(app, office, CLERK, office.clerk_id, clock)
    stamped = client.post(
        f"/seals/{seal['id']}/stamp",
        headers=bearer(clerk),
        files={"document": ("a.pdf", cjk_one_page_pdf, "application/pdf")},
        data={"level": "B-B", "anchor": "盖章", "purpose": "准予许可决定书"},
    )
    assert stamped.status_code == 200, stamped.text[:500]
    assert stamped.headers["content-type"] == "application/pdf"
    with_id = client.post(  # the purpose goes into the audit entry: no ID number in it
        f"/seals/{seal['id']}/stamp",
        headers=bearer(clerk),
        files={"document": ("a.pdf", cjk_one_page_pdf, "application/pdf")},
        data={"level": "B-B", "anchor": "盖章", "purpose": "为11010519491231002X办理"},
    )
    assert with_id.status_code == 422 and "11010519491231002X" not in with_id.text
    report = client.post(
        "/signatures/validate", files={"document": ("s.pdf", stamped.content, "application/pdf")}
    )
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["overall"] == "TOTAL-PASSED", body
    assert body["signatures"][0]["seal"]["uscc"] == "91350100M000100Y43"


def test_misuse_is_refused_and_recorded(
    app,
    client: TestClient,
    office: Office,
    clock: FrozenClock,
    cjk_one_page_pdf: bytes,  # type: ignore[no-untyped-def]
) -> None:
    boss = token_for(app, office, BOSS, office.boss_id, clock)
    seal = client.post(
        "/seals", json={"organisation_id": office.org, "kind": "approval"}, headers=bearer(boss)
    ).json()
    files = {"document": ("a.pdf", cjk_one_page_pdf, "application/pdf")}
    data = {"level": "B-B", "page": "0", "x": "300", "y": "200"}
    # no authorisation
    clerk = token_for(app, office, CLERK, office.clerk_id, clock)
    refused = client.post(
        f"/seals/{seal['id']}/stamp", headers=bearer(clerk), files=files, data=data
    )
    assert refused.status_code == 403 and refused.json()["reason"].startswith("no valid")
    until = (clock.now + timedelta(days=30)).isoformat()
    client.post(
        f"/seals/{seal['id']}/grants",
        headers=bearer(boss),
        json={"person_subject": office.clerk_subject, "valid_until": until},
    )
    # authorised, but logged in with a password only
    weak = token_for(app, office, CLERK, office.clerk_id, clock, two_factor=False)
    too_low = client.post(
        f"/seals/{seal['id']}/stamp", headers=bearer(weak), files=files, data=data
    )
    assert too_low.status_code == 403 and "log in at" in too_low.json()["reason"]
    # a clerk cannot manage seals; no token is 401
    assert (
        client.post(
            "/seals",
            json={"organisation_id": office.org, "kind": "official"},
            headers=bearer(clerk),
        ).status_code
        == 403
    )
    assert client.post(f"/seals/{seal['id']}/stamp", files=files, data=data).status_code == 401
    # revoked seal
    client.post(f"/seals/{seal['id']}/revoke", headers=bearer(boss), json={"reason": "注销"})
    revoked = client.post(
        f"/seals/{seal['id']}/stamp", headers=bearer(clerk), files=files, data=data
    )
    assert revoked.status_code == 403 and "revoked" in revoked.json()["reason"]
    # bad documents
    bad = client.post(
        f"/seals/{seal['id']}/stamp",
        headers=bearer(clerk),
        data=data,
        files={"document": ("x.pdf", b"not a pdf", "application/pdf")},
    )
    assert bad.status_code in (400, 403, 422)
    garbage = client.post(
        "/signatures/validate",
        files={"document": ("x.pdf", b"%PDF-1.7 garbage", "application/pdf")},
    )
    assert garbage.status_code == 422
    assert garbage.headers["content-type"] == "application/problem+json"


def _setup(app, client: TestClient, office: Office, clock: FrozenClock):  # type: ignore[no-untyped-def]
    boss = token_for(app, office, BOSS, office.boss_id, clock)
    seal = client.post(
        "/seals", json={"organisation_id": office.org, "kind": "approval"}, headers=bearer(boss)
    ).json()
    until = (clock.now + timedelta(days=30)).isoformat()
    client.post(
        f"/seals/{seal['id']}/grants",
        headers=bearer(boss),
        json={"person_subject": office.clerk_subject, "valid_until": until},
    )
    clerk = token_for(app, office, CLERK, office.clerk_id, clock)
    return boss, clerk, seal


def test_batch_with_progress_and_every_use_listed(
    app,
    client: TestClient,
    office: Office,
    clock: FrozenClock,
    cjk_one_page_pdf: bytes,  # type: ignore[no-untyped-def]
) -> None:
    import io
    import json
    import zipfile

    boss, clerk, seal = _setup(app, client, office, clock)
    files = [
        ("documents", ("a.pdf", cjk_one_page_pdf, "application/pdf")),
        ("documents", ("b.pdf", b"not a pdf", "application/pdf")),
        ("documents", ("c.pdf", cjk_one_page_pdf, "application/pdf")),
    ]
    job = client.post(
        f"/seals/{seal['id']}/stamp-batch",
        headers=bearer(clerk),
        files=files,
        data={"level": "B-B", "anchor": "盖章", "purpose": "批量审批"},
    )
    assert job.status_code == 202, job.text
    progress = client.get(f"/seal-jobs/{job.json()['id']}", headers=bearer(clerk)).json()
    assert progress["finished"] and progress["done"] == progress["total"] == 3
    assert [item["ok"] for item in progress["items"]] == [True, False, True]
    assert client.get(f"/seal-jobs/{job.json()['id']}", headers=bearer(boss)).status_code == 404
    bundle = zipfile.ZipFile(
        io.BytesIO(
            client.get(f"/seal-jobs/{job.json()['id']}/result.zip", headers=bearer(clerk)).content
        )
    )
    report = json.loads(bundle.read("report.json"))
    assert len([name for name in bundle.namelist() if name.startswith("sealed/")]) == 2
    assert report[1]["problem"]["status"] in (400, 422)
    uses = client.get(f"/seals/{seal['id']}/uses", headers=bearer(boss)).json()
    assert len(uses) == 2 and {use["purpose"] for use in uses} == {"批量审批"}
    assert uses[0]["person_subject"] == office.clerk_subject
    assert len(uses[0]["document_sha256"]) == 64
    # not an administrator of that organisation: as if the seal did not exist
    assert client.get(f"/seals/{seal['id']}/uses", headers=bearer(clerk)).status_code == 404


def test_a_database_failure_on_one_document_does_not_lose_the_batch(
    app,
    client: TestClient,
    office: Office,
    clock: FrozenClock,
    cjk_one_page_pdf: bytes,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database fails while the second document is sealed: the job still finishes,
    that item says 503, and the first and third documents, whose uses are audited, are in
    the result (before, the job stayed unfinished and every sealed document was lost)."""
    import io
    import zipfile

    from sqlalchemy.exc import OperationalError

    from seal.service import StampingService

    _, clerk, seal = _setup(app, client, office, clock)
    stamp, calls = StampingService.stamp, []

    def failing_second(self: StampingService, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise OperationalError("INSERT INTO audit_entries", {}, Exception("server closed"))
        return stamp(self, *args, **kwargs)

    monkeypatch.setattr(StampingService, "stamp", failing_second)
    files = [("documents", (f"{n}.pdf", cjk_one_page_pdf, "application/pdf")) for n in "abc"]
    job = client.post(
        f"/seals/{seal['id']}/stamp-batch",
        headers=bearer(clerk),
        files=files,
        data={"level": "B-B", "anchor": "盖章", "purpose": "批量审批"},
    )
    assert job.status_code == 202, job.text
    progress = client.get(f"/seal-jobs/{job.json()['id']}", headers=bearer(clerk)).json()
    assert progress["finished"] and progress["done"] == 3
    assert [item["ok"] for item in progress["items"]] == [True, False, True]
    assert progress["items"][1]["problem"]["status"] == 503
    result = client.get(f"/seal-jobs/{job.json()['id']}/result.zip", headers=bearer(clerk))
    bundle = zipfile.ZipFile(io.BytesIO(result.content))
    assert len([name for name in bundle.namelist() if name.startswith("sealed/")]) == 2


def test_revocation_keeps_timestamped_documents_valid_but_not_later_ones(
    app,
    client: TestClient,
    office: Office,
    clock: FrozenClock,
    cjk_one_page_pdf: bytes,  # type: ignore[no-untyped-def]
) -> None:
    boss, clerk, seal = _setup(app, client, office, clock)
    files = {"document": ("a.pdf", cjk_one_page_pdf, "application/pdf")}
    before_bt = client.post(
        f"/seals/{seal['id']}/stamp",
        headers=bearer(clerk),
        files=files,
        data={"level": "B-T", "anchor": "盖章"},
    )
    before_bb = client.post(
        f"/seals/{seal['id']}/stamp",
        headers=bearer(clerk),
        files=files,
        data={"level": "B-B", "anchor": "盖章"},
    )
    assert before_bt.status_code == before_bb.status_code == 200
    clock.advance(hours=1)
    boss = token_for(app, office, BOSS, office.boss_id, clock)  # the first one expired
    revoked = client.post(
        f"/seals/{seal['id']}/revoke", headers=bearer(boss), json={"reason": "印章遗失"}
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    clock.advance(hours=1)

    def verdict(pdf: bytes) -> dict:  # type: ignore[type-arg]
        return client.post(
            "/signatures/validate", files={"document": ("s.pdf", pdf, "application/pdf")}
        ).json()  # type: ignore[no-any-return]

    timestamped = verdict(before_bt.content)
    assert timestamped["overall"] == "TOTAL-PASSED", timestamped
    # judged at its proven (timestamp) time, when the seal was still good
    assert timestamped["signatures"][0]["proven_signing_time"] is not None
    # a B-B document has only a claimed time: nothing proves it predates the revocation
    untimestamped = verdict(before_bb.content)
    assert untimestamped["overall"] != "TOTAL-PASSED", untimestamped["signatures"][0]
    clerk = token_for(app, office, CLERK, office.clerk_id, clock)  # the old token expired
    later = client.post(
        f"/seals/{seal['id']}/stamp",
        headers=bearer(clerk),
        files=files,
        data={"level": "B-T", "anchor": "盖章"},
    )
    assert later.status_code == 403


def test_the_validation_report_as_a_page(
    app,
    client: TestClient,
    office: Office,
    clock: FrozenClock,
    cjk_one_page_pdf: bytes,  # type: ignore[no-untyped-def]
) -> None:
    _boss, clerk, seal = _setup(app, client, office, clock)
    stamped = client.post(
        f"/seals/{seal['id']}/stamp",
        headers=bearer(clerk),
        files={"document": ("a.pdf", cjk_one_page_pdf, "application/pdf")},
        data={"level": "B-T", "anchor": "盖章"},
    )
    form = client.get("/signatures/validate")
    assert form.status_code == 200 and 'type="file"' in form.text
    page = client.post(
        "/signatures/validate/page",
        files={"document": ("s.pdf", stamped.content, "application/pdf")},
    )
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'class="verdict TOTAL-PASSED"' in page.text and "福州示例科技有限公司" in page.text
    tampered = bytearray(stamped.content)
    tampered[len(tampered) // 3] ^= 0x01
    bad = client.post(
        "/signatures/validate/page",
        files={"document": ("t.pdf", bytes(tampered), "application/pdf")},
    )
    assert 'class="verdict TOTAL-PASSED"' not in bad.text
    garbage = client.post(
        "/signatures/validate/page", files={"document": ("x.pdf", b"junk", "application/pdf")}
    )
    assert garbage.status_code == 422 and 'role="alert"' in garbage.text
