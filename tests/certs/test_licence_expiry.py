"""Expiry and renewal on both backends: expiry is reported at once (China time) and recorded
by the sweeper; renewal (延续) issues a new version with a new validity."""

from __future__ import annotations

from datetime import date

import pytest

from certs.lifecycle import IllegalTransition, LicenceState, effective_state
from certs.service import LicenceService
from core.errors.problem import ProblemError
from core.services import Services
from tests.certs.conftest import (
    ADMIN,
    issue_business,
    issue_food,
    issue_guide,
    licence_audit,
)
from tests.conftest import FrozenClock

VALID, SUSPENDED, REVOKED, SUPERSEDED, EXPIRED = (
    LicenceState.VALID,
    LicenceState.SUSPENDED,
    LicenceState.REVOKED,
    LicenceState.SUPERSEDED,
    LicenceState.EXPIRED,
)


def status_of(error: pytest.ExceptionInfo[ProblemError]) -> int:
    return error.value.problem.status


def test_renew(licences: LicenceService, clock: FrozenClock) -> None:
    food = issue_food(licences)
    assert food.valid_until == date(2031, 11, 26)
    clock.advance(days=365 * 4)
    renewed = licences.renew(food.identifier, date(2036, 11, 26), ADMIN)
    assert (renewed.version, renewed.valid_from, renewed.valid_until) == (
        2,
        date(2030, 11, 26),
        date(2036, 11, 26),
    )
    assert licences.get(food.identifier).state is SUPERSEDED
    with pytest.raises(ProblemError) as info:
        licences.renew(renewed.identifier, date(2036, 11, 26), ADMIN)
    assert status_of(info) == 422
    business = issue_business(licences)
    with pytest.raises(ProblemError) as info:
        licences.renew(business.identifier, date(2040, 1, 1), ADMIN)
    assert status_of(info) == 422


def test_expiry_is_reported_at_once_and_recorded_by_the_sweeper(
    services: Services, licences: LicenceService, clock: FrozenClock
) -> None:
    food = issue_food(licences)
    guide = issue_guide(licences)  # 3 years
    business = issue_business(licences)  # long-term
    clock.advance(days=365 * 3 + 1)
    assert effective_state(licences.get(guide.identifier), clock()) is EXPIRED
    assert licences.get(guide.identifier).state is VALID  # nothing written yet
    assert licences.expire_due() == [guide.identifier]
    assert licences.expire_due() == []
    assert licences.get(guide.identifier).state is EXPIRED
    [*_, expired] = licences.history(guide.identifier)
    assert (expired.event, expired.from_state, expired.to_state) == ("expire", VALID, EXPIRED)
    assert licence_audit(services, guide.identifier)[-1].event.action == "licence.expired"
    licences.suspend(food.identifier, "check", ADMIN)
    clock.advance(days=365 * 2)
    assert licences.expire_due() == [food.identifier]  # suspended ones expire too
    assert licences.get(business.identifier).state is VALID


def test_a_step_on_an_overdue_licence_records_the_expiry_first(
    licences: LicenceService, clock: FrozenClock
) -> None:
    food = issue_food(licences)
    clock.advance(days=365 * 5 + 2)
    with pytest.raises(IllegalTransition) as info:
        licences.suspend(food.identifier, "check", ADMIN)
    assert info.value.problem.extensions["state"] == "expired"
    assert [h.event for h in licences.history(food.identifier)] == ["issue"]
    renewed = licences.renew(food.identifier, date(2037, 1, 1), ADMIN)
    assert [(h.event, h.to_state) for h in licences.history(food.identifier)] == [
        ("issue", VALID),
        ("expire", EXPIRED),
        ("renew", SUPERSEDED),
    ]
    assert renewed.state is VALID
    revoked = licences.revoke(renewed.identifier, "closed", ADMIN)
    assert revoked.state is REVOKED
