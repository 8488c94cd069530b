"""The licence registry on both backends: issue, change, suspend/resume, revoke, reissue,
renew, expiry, lookups, holder search, audit; refused steps write nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from certs.demo_types import BUSINESS_LICENCE, FOOD_BUSINESS_LICENCE
from certs.identifiers import parse_licence_identifier
from certs.lifecycle import IllegalTransition, LicenceState
from certs.service import LicenceService
from core.db.base import Base
from core.errors.problem import ProblemError
from core.services import Services
from tests.certs.conftest import (
    ADMIN,
    BUSINESS_FIELDS,
    COMPANY_USCC,
    FOOD_FIELDS,
    ISSUER,
    ISSUER_NAME,
    OTHER_ISSUER,
    PERSON_ID,
    audit_entries,
    issue_business,
    issue_food,
    issue_guide,
    licence_audit,
    table_counts,
)

VALID, SUSPENDED, REVOKED, SUPERSEDED, EXPIRED = (
    LicenceState.VALID,
    LicenceState.SUSPENDED,
    LicenceState.REVOKED,
    LicenceState.SUPERSEDED,
    LicenceState.EXPIRED,
)
LICENCE_TABLES = ["licence_types", "licences", "licence_events", "licence_prints"]


def status_of(error: pytest.ExceptionInfo[ProblemError]) -> int:
    return error.value.problem.status


def test_migration_matches_the_models(services: Services) -> None:
    with services.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    ours = [d for d in diff if any(t in repr(d) for t in [*LICENCE_TABLES, "licence_counters"])]
    assert ours == []


def test_issue_an_organisation_licence(services: Services, licences: LicenceService) -> None:
    licence = issue_business(licences)
    parsed = parse_licence_identifier(licence.identifier)
    assert (parsed.type_code, parsed.issuer, parsed.serial, parsed.version) == (
        BUSINESS_LICENCE,
        ISSUER,
        "0000001",
        "001",
    )
    assert licence.licence_number == "0012200000000001"
    assert (licence.state, licence.version, licence.valid_until) == (VALID, 1, None)
    assert (licence.holder_code_type, licence.holder_code_masked) == ("001", COMPANY_USCC)
    assert licence.issued_on == date(2026, 11, 27)
    assert licence.fields == BUSINESS_FIELDS
    assert licences.get(licence.identifier) == licence
    assert licences.holder_code(licence.identifier) == COMPANY_USCC
    [history] = licences.history(licence.identifier)
    assert (history.event, history.from_state, history.to_state) == ("issue", None, VALID)
    assert (history.actor, history.reason) == (ADMIN, "issued")
    [entry] = licence_audit(services, licence.identifier)
    assert (entry.event.action, entry.event.object_type) == ("licence.issued", "licence")
    assert entry.event.details["holder_code_type"] == "001"


def test_fields_are_validated_against_the_type(
    services: Services, licences: LicenceService
) -> None:
    before = table_counts(services)
    bad = dict(BUSINESS_FIELDS, registered_capital="")
    with pytest.raises(ProblemError) as info:
        licences.issue(
            BUSINESS_LICENCE, ISSUER, ISSUER_NAME, "x", COMPANY_USCC, bad, date(2026, 11, 27), ADMIN
        )
    assert status_of(info) == 422
    assert info.value.problem.extensions["errors"][0]["path"] == "/registered_capital"
    assert table_counts(services) == before


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"type_code": "11100000MB0143028R999"}, 404),
        ({"issuer": "11220000013544541K"}, 422),
        ({"holder_name": "  "}, 422),
        ({"valid_from": date(2021, 1, 1)}, 422),  # a 5-year licence that has already ended
        ({"valid_from": date(9999, 6, 1)}, 422),  # it would end after 9999-12-31
    ],
)
def test_issue_refusals(
    services: Services, licences: LicenceService, change: dict[str, Any], status: int
) -> None:
    values: dict[str, Any] = {
        "type_code": FOOD_BUSINESS_LICENCE,
        "issuer": ISSUER,
        "holder_name": "长春示例餐饮有限公司",
        "valid_from": date(2026, 11, 27),
    }
    values.update(change)
    before = table_counts(services)
    with pytest.raises(ProblemError) as info:
        licences.issue(
            values["type_code"],
            values["issuer"],
            ISSUER_NAME,
            values["holder_name"],
            COMPANY_USCC,
            FOOD_FIELDS,
            values["valid_from"],
            ADMIN,
        )
    assert status_of(info) == status
    assert table_counts(services) == before


def test_change_supersedes_with_a_new_version(services: Services, licences: LicenceService) -> None:
    first = issue_business(licences)
    new_fields = dict(BUSINESS_FIELDS, address="吉林省长春市朝阳区新地址8号")
    second = licences.change(first.identifier, new_fields, "address changed", ADMIN)
    old = licences.get(first.identifier)
    assert (old.state, old.superseded_by, old.state_reason) == (
        SUPERSEDED,
        second.identifier,
        "address changed",
    )
    assert (second.state, second.version, second.supersedes) == (VALID, 2, first.identifier)
    assert second.fields == new_fields and old.fields == BUSINESS_FIELDS
    assert second.licence_number == first.licence_number
    assert parse_licence_identifier(second.identifier).serial == first.serial
    assert second.status_list_index != first.status_list_index
    assert licences.current_version(first.identifier) == second
    assert licences.current_version(first.licence_number) == second
    assert [v.version for v in licences.versions(first.identifier)] == [1, 2]
    actions = [e.event.action for e in audit_entries(services)[-2:]]
    assert actions == ["licence.changed", "licence.changed"]
    assert licence_audit(services, first.identifier)[-1].event.details["to_state"] == "superseded"
    renamed = licences.change(second.identifier, new_fields, "renamed", ADMIN, holder_name="新名称")
    assert (renamed.version, renamed.holder_name) == (3, "新名称")


def test_a_change_must_still_match_the_type(services: Services, licences: LicenceService) -> None:
    first = issue_business(licences)
    before = table_counts(services)
    with pytest.raises(ProblemError) as info:
        licences.change(first.identifier, {"name": "only a name"}, "change", ADMIN)
    assert status_of(info) == 422
    assert table_counts(services) == before
    assert licences.get(first.identifier).state is VALID


def test_suspend_resume_revoke(services: Services, licences: LicenceService) -> None:
    licence = issue_food(licences)
    assert (
        licences.suspend(licence.identifier, "under investigation", "inspector-1").state
        is SUSPENDED
    )
    assert licences.resume(licence.identifier, "investigation closed", ADMIN).state is VALID
    revoked = licences.revoke(licence.identifier, "business closed", ADMIN)
    assert (revoked.state, revoked.state_reason) == (REVOKED, "business closed")
    events = [
        (h.event, h.from_state, h.to_state, h.actor) for h in licences.history(licence.identifier)
    ]
    assert events == [
        ("issue", None, VALID, ADMIN),
        ("suspend", VALID, SUSPENDED, "inspector-1"),
        ("resume", SUSPENDED, VALID, ADMIN),
        ("revoke", VALID, REVOKED, ADMIN),
    ]
    actions = [e.event.action for e in licence_audit(services, licence.identifier)]
    assert actions == ["licence.issued", "licence.suspended", "licence.resumed", "licence.revoked"]


@pytest.mark.parametrize(
    ("prepare", "attempt"),
    [
        (["revoke"], "revoke"),
        (["suspend"], "change"),
        ([], "resume"),
        (["suspend"], "reissue"),
        (["revoke"], "suspend"),
        (["change"], "revoke"),  # the old version: superseded is final
    ],
)
def test_illegal_transitions_write_nothing(
    services: Services, licences: LicenceService, prepare: list[str], attempt: str
) -> None:
    licence = issue_food(licences)
    steps = {
        "revoke": lambda: licences.revoke(licence.identifier, "r", ADMIN),
        "suspend": lambda: licences.suspend(licence.identifier, "r", ADMIN),
        "resume": lambda: licences.resume(licence.identifier, "r", ADMIN),
        "change": lambda: licences.change(licence.identifier, FOOD_FIELDS, "r", ADMIN),
        "reissue": lambda: licences.reissue(licence.identifier, "lost", ADMIN),
    }
    for name in prepare:
        steps[name]()
    before = table_counts(services)
    state = licences.get(licence.identifier).state
    with pytest.raises(IllegalTransition) as info:
        steps[attempt]()
    assert info.value.problem.status == 422
    assert info.value.problem.extensions == {"state": state.value, "event": attempt}
    assert table_counts(services) == before


def test_unknown_licence_is_404(licences: LicenceService) -> None:
    missing = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
    calls: list[Callable[[], object]] = [
        lambda: licences.get(missing),
        lambda: licences.suspend(missing, "r", ADMIN),
        lambda: licences.current_version(missing),
        lambda: licences.current_version("no-such-number"),
    ]
    for call in calls:
        with pytest.raises(ProblemError) as info:
            call()
        assert status_of(info) == 404


def test_licence_numbers_are_per_type_and_issuer(licences: LicenceService) -> None:
    mine = issue_business(licences)
    theirs = issue_business(licences, OTHER_ISSUER)
    assert mine.licence_number == theirs.licence_number  # same type, same division, serial 1
    with pytest.raises(ProblemError) as info:
        licences.current_version(mine.licence_number)
    assert status_of(info) == 409
    assert licences.current_version(mine.licence_number, issuer_uscc=OTHER_ISSUER) == theirs
    assert issue_business(licences).licence_number == "0012200000000002"


def test_reissue_after_loss(licences: LicenceService) -> None:
    licence = issue_guide(licences)
    second = licences.reissue(licence.identifier, "lost", ADMIN)
    old = licences.get(licence.identifier)
    assert (old.state, old.state_reason) == (SUPERSEDED, "lost")
    assert (second.version, second.fields, second.valid_until) == (
        2,
        licence.fields,
        licence.valid_until,
    )
    assert licences.holder_code(second.identifier) == PERSON_ID
    assert [h.event for h in licences.history(second.identifier)] == ["reissue"]


def test_an_issuer_with_an_all_digit_uscc(licences: LicenceService) -> None:
    all_digit_issuer = "123456789012345678"  # a valid USCC made only of digits
    licence = issue_business(licences, all_digit_issuer)
    assert licence.issuer_uscc == all_digit_issuer


def test_only_government_organs_and_public_institutions_issue(licences: LicenceService) -> None:
    """GB 32100 codes starting 11 (机关) or 12 (事业单位) issue licences; an enterprise does not."""
    with pytest.raises(ProblemError) as refused:
        licences.issue(
            BUSINESS_LICENCE,
            COMPANY_USCC,
            "福州示例科技有限公司",
            "某公司",
            COMPANY_USCC,
            BUSINESS_FIELDS,
            date(2026, 11, 27),
            ADMIN,
        )
    assert refused.value.problem.type.endswith("issuer-not-an-authority")
    assert status_of(refused) == 422


def test_the_status_read_names_the_same_version_in_force(licences: LicenceService) -> None:
    """``current_status`` (what every online verification reads: states only) agrees with
    ``current_version`` (the whole version) through a licence's life."""
    first = issue_business(licences)

    def agree(identifier: str) -> LicenceState:
        status, version = licences.current_status(identifier), licences.current_version(identifier)
        assert (status.identifier, status.version, status.state, status.valid_until) == (
            version.identifier,
            version.version,
            version.state,
            version.valid_until,
        )
        return status.state

    assert agree(first.identifier) is VALID
    licences.suspend(first.identifier, "under investigation", ADMIN)
    assert agree(first.identifier) is SUSPENDED
    licences.resume(first.identifier, "closed", ADMIN)
    second = licences.change(
        first.identifier, dict(BUSINESS_FIELDS, address="新地址"), "moved", ADMIN
    )
    assert agree(first.identifier) is VALID  # the old version's question names the new one
    assert licences.current_status(first.identifier).identifier == second.identifier
    licences.revoke(second.identifier, "closed", ADMIN)
    assert agree(first.identifier) is REVOKED and agree(second.identifier) is REVOKED
    for unknown in (first.identifier[:-1] + "9", "not an identifier"):
        with pytest.raises(ProblemError) as info:
            licences.current_status(unknown)
        assert status_of(info) == 404
