"""The licence lifecycle state machine (pure): every event in every state, expiry in China
time, and what a transition carries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from certs.lifecycle import (
    NEW_VERSION_EVENTS,
    IllegalTransition,
    InvalidTransitionInput,
    LicenceState,
    LifecycleEvent,
    check_reason,
    effective_state,
    new_version,
    transition,
)

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
V, S, R, X, E = (
    LicenceState.VALID,
    LicenceState.SUSPENDED,
    LicenceState.REVOKED,
    LicenceState.SUPERSEDED,
    LicenceState.EXPIRED,
)
Ev = LifecycleEvent
LEGAL = {
    (V, Ev.CHANGE): X,
    (V, Ev.REISSUE): X,
    (V, Ev.RENEW): X,
    (E, Ev.RENEW): X,
    (V, Ev.SUSPEND): S,
    (S, Ev.RESUME): V,
    (V, Ev.REVOKE): R,
    (S, Ev.REVOKE): R,
    (E, Ev.REVOKE): R,
    (V, Ev.EXPIRE): E,
    (S, Ev.EXPIRE): E,
}
EXISTING_EVENTS = [event for event in LifecycleEvent if event is not Ev.ISSUE]
ALL_PAIRS = [(state, event) for state in LicenceState for event in EXISTING_EVENTS]


@dataclass(frozen=True)
class Version:
    state: LicenceState
    valid_until: date | None


def step(state: LicenceState, event: LifecycleEvent) -> LicenceState:
    return transition(state, event, reason="because", actor="admin", at=NOW).to_state


@pytest.mark.parametrize(("state", "event"), [p for p in ALL_PAIRS if p in LEGAL])
def test_legal_transition(state: LicenceState, event: LifecycleEvent) -> None:
    assert step(state, event) is LEGAL[(state, event)]


@pytest.mark.parametrize(("state", "event"), [p for p in ALL_PAIRS if p not in LEGAL])
def test_illegal_transition_names_state_and_event(
    state: LicenceState, event: LifecycleEvent
) -> None:
    with pytest.raises(IllegalTransition) as info:
        step(state, event)
    problem = info.value.problem
    assert problem.status == 422
    assert problem.extensions == {"state": state.value, "event": event.value}
    assert f"cannot {event.value} a licence that is {state.value}" == problem.detail


@pytest.mark.parametrize(
    ("state", "event"),
    [(R, Ev.REVOKE), (S, Ev.CHANGE), (V, Ev.RESUME), (X, Ev.SUSPEND), (E, Ev.SUSPEND)],
)
def test_the_examples_from_the_issue_are_illegal(
    state: LicenceState, event: LifecycleEvent
) -> None:
    with pytest.raises(IllegalTransition):
        step(state, event)


def test_superseded_and_revoked_are_final() -> None:
    for state in (R, X):
        for event in EXISTING_EVENTS:
            with pytest.raises(IllegalTransition):
                step(state, event)


def test_transition_carries_reason_actor_and_time() -> None:
    done = transition(V, Ev.SUSPEND, reason="  under investigation ", actor="inspector", at=NOW)
    assert (done.event, done.from_state, done.to_state) == (Ev.SUSPEND, V, S)
    assert (done.reason, done.actor, done.at) == ("under investigation", "inspector", NOW)


def test_new_versions_start_valid_only_from_issue_change_reissue_renew() -> None:
    for event in [Ev.ISSUE, *NEW_VERSION_EVENTS]:
        first = new_version(event, reason="r", actor="a", at=NOW)
        assert (first.from_state, first.to_state) == (None, V)
    for event in (Ev.SUSPEND, Ev.RESUME, Ev.REVOKE, Ev.EXPIRE):
        with pytest.raises(IllegalTransition) as info:
            new_version(event, reason="r", actor="a", at=NOW)
        assert info.value.problem.extensions["state"] is None


@pytest.mark.parametrize("bad", ["", "   ", "x" * 201, "holder 11010519491231002X asked"])
def test_reason_is_required_short_and_free_of_id_numbers(bad: str) -> None:
    with pytest.raises(InvalidTransitionInput) as info:
        transition(V, Ev.SUSPEND, reason=bad, actor="a", at=NOW)
    assert info.value.problem.status == 422
    assert "11010519491231002X" not in str(info.value)


def test_reason_may_hold_ordinary_numbers_and_an_actor_is_required() -> None:
    assert check_reason("case 2026-0042, licence 0011220000000001") != ""
    with pytest.raises(InvalidTransitionInput):
        transition(V, Ev.SUSPEND, reason="r", actor=" ", at=NOW)


def test_expiry_is_at_the_end_of_the_last_day_in_china() -> None:
    licence = Version(V, date(2026, 12, 31))
    last_second = datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in Beijing
    assert effective_state(licence, last_second) is V
    assert effective_state(licence, datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) is E


def test_expiry_of_suspended_but_not_of_final_states_or_long_term() -> None:
    later = datetime(2040, 1, 1, tzinfo=UTC)
    assert effective_state(Version(S, date(2030, 1, 1)), later) is E
    assert effective_state(Version(R, date(2030, 1, 1)), later) is R
    assert effective_state(Version(X, date(2030, 1, 1)), later) is X
    assert effective_state(Version(V, None), later) is V


def test_effective_state_needs_an_aware_time() -> None:
    with pytest.raises(ValueError):
        effective_state(Version(V, date(2030, 1, 1)), datetime(2040, 1, 1))
