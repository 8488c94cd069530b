"""Holders on both backends: a resident ID number (111) is kept only encrypted and
blind-indexed, a USCC (001) in clear too; holder codes are checked against the type; a holder
is found by blind index; no ID number reaches a table in clear or the audit trail."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text

from certs.demo_types import BUSINESS_LICENCE, TOUR_GUIDE_CARD
from certs.service import LicenceService
from core.errors.problem import ProblemError
from core.services import Services
from tests.certs.conftest import (
    ADMIN,
    BUSINESS_FIELDS,
    COMPANY_USCC,
    FOOD_FIELDS,
    GUIDE_FIELDS,
    ISSUER,
    ISSUER_NAME,
    PERSON_ID,
    audit_entries,
    issue_business,
    issue_food,
    issue_guide,
    table_counts,
)


def status_of(error: pytest.ExceptionInfo[ProblemError]) -> int:
    return error.value.problem.status


def test_a_person_licence_keeps_the_id_number_only_encrypted(
    services: Services, licences: LicenceService
) -> None:
    licence = issue_guide(licences)
    assert (licence.holder_code_type, licence.holder_code_masked) == ("111", "110105********002X")
    assert PERSON_ID not in repr(licence)
    assert licences.holder_code(licence.identifier) == PERSON_ID
    with services.sessions() as session:
        rows = session.execute(text("SELECT * FROM licences")).all()
        events = session.execute(text("SELECT * FROM licence_events")).all()
    assert PERSON_ID not in repr(rows) + repr(events)
    assert PERSON_ID not in repr([e.to_json() for e in audit_entries(services)])
    assert [found.identifier for found in licences.search_by_holder(PERSON_ID)] == [
        licence.identifier
    ]
    assert licences.search_by_holder("110105 19491231 002x")[0].identifier == licence.identifier


def test_search_by_holder(licences: LicenceService) -> None:
    business = issue_business(licences)
    food = issue_food(licences)
    issue_guide(licences)
    changed = licences.change(food.identifier, FOOD_FIELDS, "premises renamed", ADMIN)
    found = {licence.identifier for licence in licences.search_by_holder(COMPANY_USCC)}
    assert found == {business.identifier, changed.identifier}
    assert licences.search_by_holder("91350100M000100Y43".lower()) != []
    assert licences.search_by_holder("110105194912310011") == []  # valid, holds nothing
    with pytest.raises(ProblemError) as info:
        licences.search_by_holder("11010519491231002Y")
    assert status_of(info) == 422


@pytest.mark.parametrize(
    ("type_code", "holder_code"),
    [
        (BUSINESS_LICENCE, PERSON_ID),  # an organisation's licence needs a USCC
        (TOUR_GUIDE_CARD, COMPANY_USCC),  # a person's needs an ID number
        (TOUR_GUIDE_CARD, "110105194912310021"),  # wrong check digit
    ],
)
def test_holder_code_must_fit_the_type(
    services: Services, licences: LicenceService, type_code: str, holder_code: str
) -> None:
    before = table_counts(services)
    fields = BUSINESS_FIELDS if type_code == BUSINESS_LICENCE else GUIDE_FIELDS
    with pytest.raises(ProblemError) as info:
        licences.issue(
            type_code, ISSUER, ISSUER_NAME, "x", holder_code, fields, date(2026, 11, 27), ADMIN
        )
    assert status_of(info) == 422
    assert holder_code not in str(info.value.problem.to_dict())
    assert table_counts(services) == before


def test_reasons_with_id_numbers_are_refused(services: Services, licences: LicenceService) -> None:
    licence = issue_guide(licences)
    before = table_counts(services)
    with pytest.raises(ProblemError) as info:
        licences.suspend(licence.identifier, f"holder {PERSON_ID} complained", ADMIN)
    assert status_of(info) == 422
    assert PERSON_ID not in str(info.value.problem.to_dict())
    assert table_counts(services) == before
