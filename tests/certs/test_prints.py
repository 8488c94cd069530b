"""Physical prints: each print serial is tied to a version, and a scanned paper copy says
what it is worth now (valid, superseded by version N, print reported lost, ...)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from certs.errors import PrintNotFound, PrintStateConflict
from certs.service import LicenceService
from core.errors.problem import ProblemError
from core.services import Services
from tests.certs.conftest import (
    ADMIN,
    BUSINESS_FIELDS,
    issue_business,
    issue_food,
    licence_audit,
    table_counts,
)
from tests.conftest import FrozenClock


def test_issue_print_change_reprint(services: Services, licences: LicenceService) -> None:
    first = issue_business(licences)
    old_print = licences.record_print(first.identifier, "counter-clerk")
    assert licences.print_status(old_print).verdict == "valid"
    second = licences.change(
        first.identifier, dict(BUSINESS_FIELDS, address="新地址"), "address changed", ADMIN
    )
    new_print = licences.record_print(second.identifier, "counter-clerk")
    old, new = licences.print_status(old_print), licences.print_status(new_print)
    assert (old.verdict, old.message, old.version, old.current_version) == (
        "superseded",
        "superseded by version 2",
        1,
        2,
    )
    assert old.current_identifier == second.identifier
    assert (new.verdict, new.message, new.version, new.is_valid) == ("valid", "valid", 2, True)
    third = licences.change(second.identifier, BUSINESS_FIELDS, "address corrected", ADMIN)
    assert licences.print_status(old_print).message == "superseded by version 3"
    assert licences.print_status(new_print).current_identifier == third.identifier
    assert [p.print_serial for p in licences.prints(first.identifier)] == [old_print, new_print]
    printed = [e.event for e in licence_audit(services, first.identifier)]
    assert [(e.action, e.details.get("print_serial")) for e in printed][1] == (
        "licence.printed",
        old_print,
    )


def test_lost_print_never_verifies(services: Services, licences: LicenceService) -> None:
    licence = issue_business(licences)
    lost = licences.record_print(licence.identifier, "clerk")
    kept = licences.record_print(licence.identifier, "clerk")
    assert lost != kept
    reported = licences.report_print_lost(lost, "holder-agent")
    assert (reported.status, reported.reported_at) == ("lost", licences.clock())
    status = licences.print_status(lost)
    assert (status.verdict, status.message, status.is_valid) == (
        "print_lost",
        "print reported lost",
        False,
    )
    assert licences.print_status(kept).verdict == "valid"
    before = table_counts(services)
    with pytest.raises(PrintStateConflict):
        licences.report_print_lost(lost, "holder-agent")
    assert table_counts(services) == before
    assert licence_audit(services, licence.identifier)[-1].event.action == "licence.print_lost"


def test_reissue_after_loss_makes_old_prints_superseded(licences: LicenceService) -> None:
    licence = issue_food(licences)
    paper = licences.record_print(licence.identifier, "clerk")
    licences.report_print_lost(paper, "clerk")
    other_paper = licences.record_print(licence.identifier, "clerk")
    licences.reissue(licence.identifier, "lost", ADMIN)
    assert licences.print_status(paper).verdict == "print_lost"
    assert licences.print_status(other_paper).message == "superseded by version 2"


def test_destroyed_print(licences: LicenceService) -> None:
    paper = licences.record_print(issue_business(licences).identifier, "clerk")
    assert licences.report_print_destroyed(paper, "clerk").status == "destroyed"
    assert licences.print_status(paper).verdict == "print_destroyed"
    with pytest.raises(PrintStateConflict):
        licences.report_print_lost(paper, "clerk")


def test_suspended_revoked_and_expired_prints(licences: LicenceService, clock: FrozenClock) -> None:
    food = issue_food(licences)
    paper = licences.record_print(food.identifier, "clerk")
    licences.suspend(food.identifier, "investigation", ADMIN)
    assert licences.print_status(paper).verdict == "suspended"
    licences.resume(food.identifier, "closed", ADMIN)
    clock.advance(days=365 * 5 + 1)
    assert licences.print_status(paper).verdict == "expired"
    business = issue_business(licences)
    old_paper = licences.record_print(business.identifier, "clerk")
    changed = licences.change(business.identifier, BUSINESS_FIELDS, "change", ADMIN)
    licences.revoke(changed.identifier, "closed", ADMIN)
    assert licences.print_status(old_paper).verdict == "revoked"  # revoked beats superseded


@pytest.mark.parametrize("prepare", ["change", "suspend", "revoke"])
def test_only_a_valid_current_version_is_printed(
    services: Services, licences: LicenceService, prepare: str
) -> None:
    licence = issue_business(licences)
    if prepare == "change":
        licences.change(licence.identifier, BUSINESS_FIELDS, "change", ADMIN)
    elif prepare == "suspend":
        licences.suspend(licence.identifier, "check", ADMIN)
    else:
        licences.revoke(licence.identifier, "closed", ADMIN)
    before = table_counts(services)
    with pytest.raises(PrintStateConflict) as info:
        licences.record_print(licence.identifier, "clerk")
    assert info.value.problem.status == 409
    assert table_counts(services) == before


def test_unknown_prints_and_licences(licences: LicenceService) -> None:
    calls: list[Callable[[], object]] = [
        lambda: licences.print_status("0000000000000000"),
        lambda: licences.report_print_lost("0000000000000000", "clerk"),
        lambda: licences.record_print("1.2.156.3005.2.nothing", "clerk"),
    ]
    for call in calls:
        with pytest.raises(ProblemError) as info:
            call()
        assert info.value.problem.status == 404
    with pytest.raises(PrintNotFound):
        licences.print_status("")
