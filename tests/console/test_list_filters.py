"""Server-side filters of the lists that had none: every use of a seal by date range and
by person, and the platform's audit search by date range beside its exact criteria; both
still a page at a time, the filters kept in the pager's links."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from console.pages import CHINA
from core.audit.entry import AuditEvent
from core.db.engine import transaction
from seal.registry import SealRegistry
from seal.service import StampingService, StampRequest
from seal.stamping.placement import AtPosition
from tests.conftest import FrozenClock
from tests.console.conftest import Demo, log_in, step_up
from tests.console.pdfs import simple_pdf


def _date(clock: FrozenClock, days: int = 0) -> str:
    return (clock().astimezone(CHINA).date() + timedelta(days=days)).isoformat()


def _stamp(demo: Demo, count: int, purpose: str) -> None:
    services = demo.services
    seals = SealRegistry(services.sessions, services.keys, services.audit, services.keys.clock)
    seal = demo.data["console"]["approval_seal"]
    with services.sessions() as session:
        approver = seals.identities.person_by_subject(session, demo.user("approver")["subject"])
    assert approver is not None
    service = StampingService(seals, services.keys)
    for number in range(count):
        service.stamp(
            StampRequest(
                seal,
                simple_pdf(1, f"{purpose} {number}"),
                AtPosition(0, 300, 100),
                "B-B",
                f"{purpose}{number}",
            ),
            person_id=approver.id,
            acr="urn:govtrust:loa:2",
        )


def test_seal_uses_by_date_range_and_person(
    demo: Demo, browser: TestClient, clock: FrozenClock
) -> None:
    first_day = _date(clock)
    _stamp(demo, 11, "早")
    clock.advance(days=2)
    _stamp(demo, 1, "晚")
    seal = demo.data["console"]["approval_seal"]
    uses = f"/console/admin/seals/{seal}/uses"
    log_in(browser, demo, "admin")

    everything = browser.get(uses)
    assert 'id="since"' in everything.text and 'id="person"' in everything.text
    assert "晚0" in everything.text and 'rel="next"' in everything.text

    early = browser.get(f"{uses}?since={first_day}&until={first_day}")
    assert early.status_code == 200
    assert "晚0" not in early.text and early.text.count("<td>早") == 10
    assert f"since={first_day}&amp;until={first_day}&amp;page=2" in early.text  # kept
    second = browser.get(f"{uses}?since={first_day}&until={first_day}&page=2")
    assert second.text.count("<td>早") == 1 and 'rel="next"' not in second.text

    late = browser.get(f"{uses}?since={_date(clock)}")
    assert late.text.count("<td>晚") == 1 and "<td>早" not in late.text
    backwards = browser.get(f"{uses}?since={_date(clock)}&until={first_day}")
    assert "<td>晚" not in backwards.text and "<td>早" not in backwards.text
    widest = browser.get(f"{uses}?since=0001-01-01&until=9999-12-31")  # overflowed: a 500
    assert widest.status_code == 200 and widest.text.count("<td>晚") == 1

    approver = demo.user("approver")["subject"]
    by_approver = browser.get(f"{uses}?person={approver}&since={_date(clock)}")
    assert by_approver.text.count("<td>晚") == 1
    assert f'<option value="{approver}" selected>' in by_approver.text
    by_nobody = browser.get(f"{uses}?person={demo.user('citizen')['subject']}")
    assert "<td>晚" not in by_nobody.text and "<td>早" not in by_nobody.text


@pytest.mark.parametrize("query", ["since=2026-02-30", "until=yesterday", "since=1"])
def test_a_bad_date_is_refused(demo: Demo, browser: TestClient, query: str) -> None:
    seal = demo.data["console"]["approval_seal"]
    log_in(browser, demo, "admin")
    assert browser.get(f"/console/admin/seals/{seal}/uses?{query}").status_code in (400, 422)


def _note(demo: Demo, object_id: str) -> None:
    with transaction(demo.services.sessions) as session:
        demo.services.audit.record(
            session,
            AuditEvent(actor="test", action="test.noted", object_type="t", object_id=object_id),
        )


def test_audit_search_by_date_range(
    demo: Demo, browser: TestClient, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = demo.services.settings.model_copy(
        update={"platform_admins": [demo.user("admin")["subject"]]}
    )
    monkeypatch.setattr(demo.services, "settings", settings)
    first_day = _date(clock)
    for number in range(11):
        _note(demo, f"early-{number}")
    clock.advance(days=3)
    _note(demo, "late-0")
    page = log_in(browser, demo, "admin", start="/console/platform")
    assert step_up(browser, demo, "admin", page).status_code == 200
    audit = "/console/platform/audit?action=test.noted"

    everything = browser.get(audit)
    assert 'id="since"' in everything.text and 'id="until"' in everything.text
    assert "late-0" in everything.text and 'rel="next"' in everything.text
    early = browser.get(f"{audit}&until={first_day}")
    assert "late-0" not in early.text and early.text.count("early-") == 10
    assert f"until={first_day}&amp;page=2" in early.text  # the pager keeps the range
    second = browser.get(f"{audit}&until={first_day}&page=2")
    assert second.text.count("early-") == 1 and 'rel="next"' not in second.text
    late = browser.get(f"{audit}&since={_date(clock, -1)}")
    assert "late-0" in late.text and "early-" not in late.text
    window = browser.get(f"{audit}&since={first_day}&until={first_day}&object_id=early-3")
    assert window.text.count("<code>early-") == 1  # with the exact criteria too
    assert browser.get("/console/platform/audit?since=2026-13-01").status_code in (400, 422)
