"""The approver's pages: my seals and grants; one document uploaded, previewed, moved,
confirmed after a step-up to two factors, downloaded and validated; a batch with a bad
document in it; and what another person (or role) gets: 403 or "not found"."""

from __future__ import annotations

import contextlib
import io
import re
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from console.approving import held_draft
from console.routers import approver, seal_batch
from core.audit.entry import parse_entry
from tests.console.conftest import (
    Demo,
    assert_control_characters_refused,
    csrf_of,
    log_in,
    step_up,
)
from tests.console.pdfs import ANCHOR, simple_pdf


def _upload(
    browser: TestClient, demo: Demo, name: str = "decision.pdf", **fields: str
) -> httpx.Response:
    form = browser.get("/console/stamp")
    assert form.status_code == 200, form.text[:300]
    data = {
        "csrf": csrf_of(form.text),
        "seal_id": demo.data["console"]["approval_seal"],
        "mode": "anchor",
        "anchor": ANCHOR,
        "size": "100",
        "level": "B-T",
        "purpose": "行政许可决定书",
        **fields,
    }
    return browser.post(
        "/console/stamp",
        data=data,
        files={"document": (name, simple_pdf(2), "application/pdf")},
        follow_redirects=False,
    )


def _audit(demo: Demo, action: str) -> list[dict[str, object]]:
    with demo.services.sessions() as session:
        entries = [parse_entry(s.entry) for s in demo.services.audit.store.entries(session)]
    return [e.event.__dict__ for e in entries if e.event.action == action]


def test_an_approver_sees_their_seals_and_grants(demo: Demo, browser: TestClient) -> None:
    home = log_in(browser, demo, "approver")
    assert 'href="/console/stamp"' in home.text
    mine = browser.get("/console/seals/mine")
    assert mine.status_code == 200
    assert "审批专用章" in mine.text and "福州市市场监督管理局" in mine.text
    assert "双因素（二级）" in mine.text  # the level the seal needs
    seal = demo.data["console"]["approval_seal"]
    image = browser.get(f"/console/seals/mine/{seal}/image.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"


def test_seal_one_document_with_preview_step_up_and_download(
    demo: Demo, browser: TestClient
) -> None:
    log_in(browser, demo, "approver")
    uploaded = _upload(browser, demo, "行政许可决定书.pdf")
    assert uploaded.status_code == 303, uploaded.text[:500]
    draft = uploaded.headers["location"]
    assert re.fullmatch(r"/console/stamp/[0-9a-f]{32}", draft)
    preview = browser.get(draft)
    assert preview.status_code == 200
    assert "第 2 页 / 共 2 页" in preview.text  # the anchor's last occurrence
    assert 'data-testid="step-up-note"' in preview.text  # password only: below level 2
    image = browser.get(f"{draft}/preview.png")
    assert image.status_code == 200
    assert Image.open(io.BytesIO(image.content)).size[1] == 900

    moved = browser.post(
        f"{draft}/placement",
        data={
            "csrf": csrf_of(preview.text),
            "mode": "position",
            "page": "1",
            "x": "400",
            "y": "80",
            "size": "100",
        },
        follow_redirects=False,
    )
    assert moved.status_code == 303
    preview = browser.get(draft)
    assert "第 1 页 / 共 2 页 · x 400, y 80" in preview.text

    refused = browser.post(
        f"{draft}/confirm", data={"csrf": csrf_of(preview.text)}, follow_redirects=False
    )
    assert "acr=urn%3Agovtrust%3Aloa%3A2" in refused.headers["location"]
    assert not _audit(demo, "seal.used")  # nothing sealed before the step-up
    back = step_up(browser, demo, "approver", refused)
    assert back.status_code == 200 and str(back.url).endswith(draft)
    assert 'data-testid="step-up-note"' not in back.text
    assert "确认盖章" in back.text

    done = browser.post(f"{draft}/confirm", data={"csrf": csrf_of(back.text)})
    assert done.status_code == 200 and "盖章完成" in done.text, done.text[:500]
    used = _audit(demo, "seal.used")
    assert len(used) == 1 and used[0]["object_id"] == demo.data["console"]["approval_seal"]
    assert used[0]["details"]["purpose"] == "行政许可决定书"  # type: ignore[index]
    assert used[0]["document_hash"] in done.text
    sealed = browser.get(f"{draft}/sealed.pdf")
    assert sealed.status_code == 200 and sealed.content.startswith(b"%PDF")
    assert sealed.headers["content-disposition"] == (  # the name as uploaded, RFC 6266
        'attachment; filename="sealed-_.pdf"; '
        f"filename*=UTF-8''{quote('sealed-行政许可决定书.pdf')}"
    )

    form = browser.get("/console/validate")
    report = browser.post(
        "/console/validate",
        data={"csrf": csrf_of(form.text)},
        files={"document": ("sealed.pdf", sealed.content, "application/pdf")},
    )
    assert report.status_code == 200
    assert "审批专用章" in report.text
    assert 'data-testid="verdict">有效' in report.text


def _stepped_up(browser: TestClient, demo: Demo, draft: str) -> str:
    """Step the approver's login up to the seal's level through the draft's confirmation
    (refused below it); a CSRF token of the session then."""
    review = browser.get(draft)
    refused = browser.post(
        f"{draft}/confirm", data={"csrf": csrf_of(review.text)}, follow_redirects=False
    )
    return csrf_of(step_up(browser, demo, "approver", refused).text)


def _meet_at_usable_seal(monkeypatch: pytest.MonkeyPatch, router: Any) -> None:
    """Requests to ``router`` wait for each other once they have read their draft."""
    meeting = threading.Barrier(2)
    seal_of = router.usable_seal

    def slow_usable_seal(*args: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            meeting.wait(timeout=1)  # the other request has read the draft too
        return seal_of(*args)

    monkeypatch.setattr(router, "usable_seal", slow_usable_seal)


def _twice_at_once(browser: TestClient, path: str, data: dict[str, str]) -> list[httpx.Response]:
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda _: browser.post(path, data=data), (1, 2)))


def test_a_confirmation_sent_twice_at_once_stamps_once(
    demo: Demo, browser: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A double click on "confirm": both requests find the draft unsealed and wait for each
    other there, so both would stamp if the draft were not held by one: one seal use."""
    log_in(browser, demo, "approver")
    draft = _upload(browser, demo).headers["location"]
    csrf = _stepped_up(browser, demo, draft)
    _meet_at_usable_seal(monkeypatch, approver)
    answers = _twice_at_once(browser, f"{draft}/confirm", {"csrf": csrf})
    assert all(a.status_code == 200 for a in answers), [a.text[:300] for a in answers]
    assert len(_audit(demo, "seal.used")) == 1
    assert "盖章完成" in browser.get(f"{draft}/done").text


def _stepped_up_draft(browser: TestClient, demo: Demo) -> tuple[str, str]:
    """A draft uploaded by the approver, logged in at the seal's level: (its path, a CSRF
    token of the session)."""
    log_in(browser, demo, "approver")
    draft = _upload(browser, demo).headers["location"]
    return draft, _stepped_up(browser, demo, draft)


def test_a_seal_moved_while_the_document_is_sealed_keeps_the_sealed_result(
    demo: Demo, browser: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The move has read the draft (unsealed) when the confirmation seals it: saving the
    moved draft then erased the sealed document, and a second confirmation sealed it again.
    The move now holds the draft as a confirmation does, reads it again and is refused."""
    draft, csrf = _stepped_up_draft(browser, demo)
    loaded, sealed = threading.Event(), threading.Event()
    spec_of = approver.placement_spec

    def slow_placement_spec(*args: Any) -> Any:
        loaded.set()  # the move has read the draft
        sealed.wait(timeout=5)
        return spec_of(*args)

    monkeypatch.setattr(approver, "placement_spec", slow_placement_spec)
    moves: list[httpx.Response] = []
    move = threading.Thread(
        target=lambda: moves.append(
            browser.post(
                f"{draft}/placement",
                data={"csrf": csrf, "mode": "anchor", "anchor": ANCHOR, "size": "110"},
            )
        )
    )
    move.start()
    assert loaded.wait(timeout=5)
    done = browser.post(f"{draft}/confirm", data={"csrf": csrf}, follow_redirects=False)
    sealed.set()
    move.join()
    assert done.headers["location"] == f"{draft}/done"
    assert moves[0].status_code == 409 and "该文件已盖章，印章位置不能再修改" in moves[0].text
    assert browser.get(f"{draft}/done").status_code == 200  # still sealed
    again = browser.post(f"{draft}/confirm", data={"csrf": csrf}, follow_redirects=False)
    assert again.headers["location"] == f"{draft}/done"
    assert len(_audit(demo, "seal.used")) == 1


def test_a_seal_is_not_moved_while_a_confirmation_holds_the_draft(
    demo: Demo, browser: TestClient
) -> None:
    draft, csrf = _stepped_up_draft(browser, demo)
    move = {"csrf": csrf, "mode": "position", "page": "1", "x": "400", "y": "80"}
    with held_draft(demo.services, draft.rsplit("/", 1)[-1]):  # as a confirmation holds it
        refused = browser.post(f"{draft}/placement", data=move)
    assert refused.status_code == 409 and "该文件正在盖章，印章位置未修改" in refused.text
    assert "x 400, y 80" not in browser.get(draft).text
    moved = browser.post(f"{draft}/placement", data=move, follow_redirects=False)
    assert moved.status_code == 303 and "x 400, y 80" in browser.get(draft).text


def test_placement_errors_are_shown_on_the_form(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "approver")
    missing = _upload(browser, demo, anchor="NOWHERE")
    assert missing.status_code == 422 and "文件中没有找到该关键字" in missing.text
    off_page = _upload(browser, demo, mode="position", page="9", x="10", y="10")
    assert off_page.status_code == 422 and "印章无法盖在该位置" in off_page.text
    form = browser.get("/console/stamp")
    not_pdf = browser.post(
        "/console/stamp",
        data={
            "csrf": csrf_of(form.text),
            "seal_id": demo.data["console"]["approval_seal"],
            "anchor": ANCHOR,
        },
        files={"document": ("x.pdf", b"not a pdf", "application/pdf")},
    )
    assert not_pdf.status_code == 422 and "不是可读取的PDF" in not_pdf.text


def _batch(
    browser: TestClient, demo: Demo, documents: list[tuple[str, bytes]], purpose: str = "批量审批"
) -> httpx.Response:
    """The batch form posted with the approval seal, the anchor and ``documents``."""
    form = browser.get("/console/batch")
    return browser.post(
        "/console/batch",
        data={
            "csrf": csrf_of(form.text),
            "seal_id": demo.data["console"]["approval_seal"],
            "anchor": ANCHOR,
            "level": "B-B",
            "purpose": purpose,
        },
        files=[("documents", (name, pdf, "application/pdf")) for name, pdf in documents],
        follow_redirects=False,
    )


def test_an_anchor_or_purpose_with_a_control_character_is_refused(
    demo: Demo, browser: TestClient
) -> None:
    log_in(browser, demo, "approver")
    for bad in ({"anchor": "盖\x00章"}, {"purpose": "许可\x00"}):
        assert_control_characters_refused(_upload(browser, demo, **bad))
    draft = _upload(browser, demo).headers["location"]
    preview = browser.get(draft)
    move = {"csrf": csrf_of(preview.text), "mode": "anchor", "anchor": "\x00"}
    assert_control_characters_refused(browser.post(f"{draft}/placement", data=move))
    batch = _batch(browser, demo, [("a.pdf", simple_pdf(1))], purpose="批量\x00")
    assert_control_characters_refused(batch)


def test_a_batch_with_a_bad_document_and_the_zip(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "approver")
    posted = _batch(
        browser,
        demo,
        [
            ("a.pdf", simple_pdf(1)),
            ("b.pdf", simple_pdf(1, "no anchor here")),
            ("c.pdf", simple_pdf(3)),
        ],
    )
    assert posted.status_code == 303, posted.text[:500]
    review = browser.get(posted.headers["location"])
    assert review.text.count("<tr><td>") == 3
    refused = browser.post(
        f"{posted.headers['location']}/confirm",
        data={"csrf": csrf_of(review.text)},
        follow_redirects=False,
    )
    back = step_up(browser, demo, "approver", refused)
    assert "确认为 3 份文件盖章" in back.text
    started = browser.post(
        f"{posted.headers['location']}/confirm",
        data={"csrf": csrf_of(back.text)},
        follow_redirects=False,
    )
    assert started.status_code == 303
    job = started.headers["location"]
    assert re.fullmatch(r"/console/jobs/[A-Za-z0-9_-]+", job)
    page = browser.get(job)  # the test client ran the background job already
    assert "已完成：2 / 3 份盖章成功" in page.text
    assert "文件中没有找到该关键字" in page.text
    progress = browser.get(f"{job}/progress").json()
    assert progress == {"done": 3, "total": 3, "finished": True}
    archive = zipfile.ZipFile(io.BytesIO(browser.get(f"{job}/result.zip").content))
    names = archive.namelist()
    assert "report.json" in names and len([n for n in names if n.startswith("sealed/")]) == 2
    assert len(_audit(demo, "seal.used")) == 2

    other = TestClient(browser.app, base_url="https://govtrust.test")
    log_in(other, demo, "admin")  # a seal administrator, but not this job's owner
    assert other.get(job).status_code in (403, 404)
    assert other.get(f"{job}/result.zip").status_code in (403, 404)


def test_a_batch_confirmed_twice_at_once_seals_each_document_once(
    demo: Demo, browser: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A double click on "confirm": both requests had read the draft before either took it,
    so both started a job. One takes it now; the other shows that job."""
    log_in(browser, demo, "approver")
    posted = _batch(browser, demo, [("a.pdf", simple_pdf(1))])
    draft = posted.headers["location"]
    data = {"csrf": _stepped_up(browser, demo, draft)}
    _meet_at_usable_seal(monkeypatch, seal_batch)
    answers = _twice_at_once(browser, f"{draft}/confirm", data)
    jobs = {str(a.url) for a in answers}  # where each was sent: the one job
    assert len(jobs) == 1 and all(a.status_code == 200 for a in answers), jobs
    job = jobs.pop()
    assert "已完成：1 / 1 份盖章成功" in browser.get(job).text
    assert len(_audit(demo, "seal.used")) == 1
    later = browser.post(f"{draft}/confirm", data=data)
    assert str(later.url) == job and len(_audit(demo, "seal.used")) == 1


def test_other_people_get_403_or_not_found(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "approver")
    draft = _upload(browser, demo).headers["location"]
    citizen = TestClient(browser.app, base_url="https://govtrust.test")
    log_in(citizen, demo, "citizen")  # no grant: not an approver
    for path in ("/console/seals/mine", "/console/stamp", "/console/batch", draft):
        assert citizen.get(path).status_code == 403, path
    assert "/console/stamp" not in citizen.get("/console/").text

    approver_two = TestClient(browser.app, base_url="https://govtrust.test")
    from datetime import timedelta

    from seal.registry import SealRegistry

    services = demo.services
    seals = SealRegistry(services.sessions, services.keys, services.audit, services.keys.clock)
    admin = demo.user("admin")
    with services.sessions() as session:
        agent = seals.identities.person_by_subject(session, demo.user("agent")["subject"])
        admin_person = seals.identities.person_by_subject(session, admin["subject"])
    assert agent is not None and admin_person is not None
    seals.grant(
        demo.data["console"]["approval_seal"],
        agent.id,
        by=admin_person.id,
        valid_until=services.keys.clock() + timedelta(days=1),
    )
    log_in(approver_two, demo, "agent")  # an approver too, but not the draft's owner
    assert approver_two.get("/console/seals/mine").status_code == 200
    assert approver_two.get(draft).status_code == 404
    assert approver_two.get(f"{draft}/preview.png").status_code == 404
    foreign_seal = browser.get("/console/stamp")
    foreign = approver_two.post(
        "/console/stamp",
        data={
            "csrf": csrf_of(approver_two.get("/console/stamp").text),
            "seal_id": demo.data["certs"]["licence_types_sealed_by"],  # not granted to 李四
            "anchor": ANCHOR,
        },
        files={"document": ("d.pdf", simple_pdf(1), "application/pdf")},
    )
    assert foreign.status_code == 404
    assert foreign_seal.status_code == 200
