"""Seal administration: make a seal after previewing its image, grant and withdraw its use
(with a reason and a confirmation), suspend / resume / revoke it, read every use; another
organisation's administrator gets "not found", a person without the role 403."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from console.approving import held_grants, usable_seals
from console.pages import CHINA
from core.audit.entry import parse_entry
from seal.registry import SealRegistry
from tests.console.conftest import Demo, assert_control_characters_refused, csrf_of, log_in


def _seals(demo: Demo) -> SealRegistry:
    services = demo.services
    return SealRegistry(services.sessions, services.keys, services.audit, services.keys.clock)


def _audit(demo: Demo, action: str) -> list[dict[str, object]]:
    with demo.services.sessions() as session:
        entries = [parse_entry(s.entry) for s in demo.services.audit.store.entries(session)]
    return [e.event.__dict__ for e in entries if e.event.action == action]


def _authority_id(demo: Demo) -> str:
    return _seals(demo).get(demo.data["console"]["approval_seal"]).organisation_id


def test_make_a_seal_after_previewing_its_image(demo: Demo, browser: TestClient) -> None:
    home = log_in(browser, demo, "admin")
    assert 'href="/console/admin/seals"' in home.text
    listing = browser.get("/console/admin/seals")
    assert listing.status_code == 200 and "审批专用章" in listing.text
    form = browser.get("/console/admin/seals/new")
    data = {
        "csrf": csrf_of(form.text),
        "organisation_id": _authority_id(demo),
        "kind": "contract",
        "name": "",
        "required_acr": "urn:govtrust:loa:2",
    }
    preview = browser.post("/console/admin/seals/new", data={**data, "step": "preview"})
    assert preview.status_code == 200
    assert 'src="data:image/png;base64,' in preview.text
    before = len(_seals(demo).seals_of(_authority_id(demo)))
    assert not _audit(demo, "seal.created")[before:]  # a preview makes nothing
    made = browser.post(
        "/console/admin/seals/new", data={**data, "step": "create"}, follow_redirects=False
    )
    assert made.status_code == 303
    assert len(_seals(demo).seals_of(_authority_id(demo))) == before + 1
    page = browser.get(made.headers["location"])
    assert "印章已制作" in page.text and "合同专用章" in page.text
    bad = browser.post(
        "/console/admin/seals/new",
        data={**data, "kind": "name", "person_name": "", "step": "preview"},
    )
    assert bad.status_code == 422


def test_grant_and_withdraw_use_with_a_reason(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "admin")
    seal = demo.data["console"]["approval_seal"]
    page = browser.get(f"/console/admin/seals/{seal}")
    assert page.status_code == 200 and "陈静" in page.text
    agent = demo.user("agent")
    until = (demo.services.keys.clock().astimezone(CHINA).date() + timedelta(days=30)).isoformat()
    granted = browser.post(
        f"/console/admin/seals/{seal}/grants",
        data={"csrf": csrf_of(page.text), "id_number": agent["id_number"], "valid_until": until},
        follow_redirects=False,
    )
    assert granted.status_code == 303 and granted.headers["location"].endswith("done=granted")
    assert agent["id_number"] not in granted.headers["location"]
    page = browser.get(granted.headers["location"])
    assert "李四" in page.text
    unknown = browser.post(
        f"/console/admin/seals/{seal}/grants",
        data={"csrf": csrf_of(page.text), "id_number": "110105194912310021", "valid_until": until},
    )
    assert unknown.status_code == 422 and "110105194912310021" not in unknown.text

    link = re.search(rf'href="(/console/admin/seals/{seal}/grants/[0-9a-f]+/withdraw)"', page.text)
    assert link
    form = browser.get(link.group(1))
    assert form.status_code == 200 and 'name="reason"' in form.text
    empty = browser.post(link.group(1), data={"csrf": csrf_of(form.text), "reason": " "})
    assert empty.status_code == 422
    review = browser.post(link.group(1), data={"csrf": csrf_of(form.text), "reason": "调岗"})
    assert "确认撤回用章授权" in review.text
    assert not _audit(demo, "seal.grant_withdrawn")
    done = browser.post(
        link.group(1),
        data={"csrf": csrf_of(form.text), "reason": "调岗", "step": "confirm"},
        follow_redirects=False,
    )
    assert done.headers["location"].endswith("done=withdrawn")
    withdrawn = _audit(demo, "seal.grant_withdrawn")
    assert len(withdrawn) == 1 and withdrawn[0]["details"]["reason"] == "调岗"  # type: ignore[index]


def test_a_second_grant_is_refused_so_a_withdrawal_ends_the_use(
    demo: Demo, browser: TestClient
) -> None:
    """The grant form sent twice made two grants: withdrawing one left the person the use
    of the seal. The second is refused with a message."""
    log_in(browser, demo, "admin")
    seal = demo.data["console"]["approval_seal"]
    page = browser.get(f"/console/admin/seals/{seal}")
    agent = demo.user("agent")
    until = (demo.services.keys.clock().astimezone(CHINA).date() + timedelta(days=30)).isoformat()
    data = {"csrf": csrf_of(page.text), "id_number": agent["id_number"], "valid_until": until}
    first = browser.post(f"/console/admin/seals/{seal}/grants", data=data, follow_redirects=False)
    assert first.status_code == 303
    second = browser.post(f"/console/admin/seals/{seal}/grants", data=data)
    assert second.status_code == 409 and "此人已有该印章的有效授权" in second.text
    assert agent["id_number"] not in second.text
    page = browser.get(f"/console/admin/seals/{seal}")
    links = re.findall(
        rf'href="(/console/admin/seals/{seal}/grants/[0-9a-f]+/withdraw)"', page.text
    )
    assert len(links) == 2  # the approver's and the agent's
    with demo.services.sessions() as session:
        person = demo.services.idp.identities.person_by_subject(session, agent["subject"])
    assert person is not None
    held = [h for h in held_grants(demo.services, person.id) if h.state == "valid"]
    assert len(held) == 1
    withdraw = f"/console/admin/seals/{seal}/grants/{held[0].grant.id}/withdraw"
    done = browser.post(withdraw, data={"csrf": data["csrf"], "reason": "调岗", "step": "confirm"})
    assert done.status_code == 200
    assert all(s.id != seal for s in usable_seals(demo.services, person.id))


def test_text_with_a_control_character_is_refused(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "admin")
    seal = demo.data["console"]["approval_seal"]
    page = browser.get(f"/console/admin/seals/{seal}")
    csrf = csrf_of(page.text)
    until = (demo.services.keys.clock().astimezone(CHINA).date() + timedelta(days=30)).isoformat()
    grant = {
        "csrf": csrf,
        "id_number": demo.user("agent")["id_number"] + "\x00",
        "valid_until": until,
    }
    assert_control_characters_refused(
        browser.post(f"/console/admin/seals/{seal}/grants", data=grant)
    )
    suspend = {"csrf": csrf, "reason": "调岗\x00", "step": "confirm"}
    assert_control_characters_refused(
        browser.post(f"/console/admin/seals/{seal}/suspend", data=suspend)
    )
    assert _seals(demo).get(seal).status == "active"
    made = {
        "csrf": csrf,
        "organisation_id": _authority_id(demo),
        "kind": "contract",
        "name": "合同\x07章",
    }
    assert_control_characters_refused(browser.post("/console/admin/seals/new", data=made))


def test_suspend_resume_revoke_with_confirmation(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "admin")
    seal = demo.data["console"]["approval_seal"]
    page = browser.get(f"/console/admin/seals/{seal}")
    assert browser.get(f"/console/admin/seals/{seal}/resume").status_code == 409
    review = browser.post(
        f"/console/admin/seals/{seal}/suspend",
        data={"csrf": csrf_of(page.text), "reason": "印章保管人变更"},
    )
    assert review.status_code == 200 and "确认暂停印章" in review.text
    assert _seals(demo).get(seal).status == "active"
    for action, state in (("suspend", "suspended"), ("resume", "active"), ("revoke", "revoked")):
        done = browser.post(
            f"/console/admin/seals/{seal}/{action}",
            data={"csrf": csrf_of(page.text), "reason": f"测试{action}", "step": "confirm"},
            follow_redirects=False,
        )
        assert done.status_code == 303, (action, done.text[:300])
        assert _seals(demo).get(seal).status == state
    reasons = [e["details"]["reason"] for e in _audit(demo, "seal.revoked")]  # type: ignore[index]
    assert reasons == ["测试revoke"]
    final = browser.get(f"/console/admin/seals/{seal}")
    assert "已注销" in final.text and f"/admin/seals/{seal}/suspend" not in final.text


def test_every_use_of_a_seal_a_page_at_a_time(demo: Demo, browser: TestClient) -> None:
    from seal.service import StampingService, StampRequest
    from seal.stamping.placement import AtPosition
    from tests.console.pdfs import simple_pdf

    seals = _seals(demo)
    seal = demo.data["console"]["approval_seal"]
    with demo.services.sessions() as session:
        approver = seals.identities.person_by_subject(session, demo.user("approver")["subject"])
    assert approver is not None
    service = StampingService(seals, demo.services.keys)
    for number in range(12):
        service.stamp(
            StampRequest(
                seal,
                simple_pdf(1, f"doc {number}"),
                AtPosition(0, 300, 100),
                "B-B",
                f"事由{number}",
            ),
            person_id=approver.id,
            acr="urn:govtrust:loa:2",
        )
    log_in(browser, demo, "admin")
    first = browser.get(f"/console/admin/seals/{seal}/uses")
    assert first.status_code == 200
    assert first.text.count("<td><code>" + demo.user("approver")["subject"]) == 10
    assert "事由11" in first.text and "事由1<" not in first.text  # newest first
    second = browser.get(f"/console/admin/seals/{seal}/uses?page=2")
    assert second.text.count("<td>事由") == 2 and 'rel="next"' not in second.text


def test_another_organisation_or_role_sees_nothing(demo: Demo, browser: TestClient) -> None:
    seal = demo.data["console"]["approval_seal"]
    log_in(browser, demo, "citizen")  # seal administrator of the demo company only
    listing = browser.get("/console/admin/seals")
    assert listing.status_code == 200 and "审批专用章" not in listing.text
    for path in ("", "/image.png", "/uses", "/suspend"):
        assert browser.get(f"/console/admin/seals/{seal}{path}").status_code == 404, path
    page = browser.get("/console/admin/seals/new")
    refused = browser.post(
        f"/console/admin/seals/{seal}/revoke",
        data={"csrf": csrf_of(page.text), "reason": "x", "step": "confirm"},
    )
    assert refused.status_code == 404
    assert _seals(demo).get(seal).status == "active"
    other = TestClient(browser.app, base_url="https://govtrust.test")
    log_in(other, demo, "approver")  # an approver is no seal administrator
    assert other.get("/console/admin/seals").status_code == 403
    assert other.get(f"/console/admin/seals/{seal}").status_code == 403
