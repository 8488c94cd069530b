"""The licence lifecycle as a pure state machine (no storage, no HTTP).

"电子证照与实体证照同步制发、变更和注销": each version of a licence (identifier after
GB/T 36904, metadata after GB/T 36903) is in one state:

============  ====================================================================
``valid``     in force
``suspended`` temporarily not in force (暂扣); ``resume`` brings it back
``revoked``   cancelled (注销); final
``superseded`` a later version replaced it (change, reissue after loss, renewal); final
``expired``   its last valid day (``valid_until``, inclusive, China time) has passed
============  ====================================================================

Events and the states they apply to (the state of the version named; ``change``,
``reissue`` and ``renew`` also issue a new version, ``None -> valid``, one version higher):

* issue: (new) -> valid
* change, reissue (补发): valid -> superseded
* renew: valid | expired -> superseded
* suspend: valid -> suspended; resume: suspended -> valid
* revoke: valid | suspended | expired -> revoked
* expire: valid | suspended -> expired (reported by :func:`effective_state` at once, recorded
  by the sweeper)

Anything else raises :class:`IllegalTransition` (422) naming the state and the event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Protocol

from core.errors.problem import ProblemError
from core.identifiers.resident_id import holds_resident_id

CHINA = timezone(timedelta(hours=8), "CST")
"""Licence dates are calendar days in China Standard Time (UTC+8, no daylight saving)."""
MAX_REASON_LENGTH = 200
# The audit trail refuses anything shaped like a resident ID number (core.audit.entry).


class LicenceState(StrEnum):
    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"
    EXPIRED = "expired"


class LifecycleEvent(StrEnum):
    ISSUE = "issue"
    CHANGE = "change"
    SUSPEND = "suspend"
    RESUME = "resume"
    REVOKE = "revoke"
    REISSUE = "reissue"
    RENEW = "renew"
    EXPIRE = "expire"


_V, _S, _R, _X, _E = (
    LicenceState.VALID,
    LicenceState.SUSPENDED,
    LicenceState.REVOKED,
    LicenceState.SUPERSEDED,
    LicenceState.EXPIRED,
)
TRANSITIONS: Mapping[LifecycleEvent, Mapping[LicenceState, LicenceState]] = {
    LifecycleEvent.CHANGE: {_V: _X},
    LifecycleEvent.REISSUE: {_V: _X},
    LifecycleEvent.RENEW: {_V: _X, _E: _X},
    LifecycleEvent.SUSPEND: {_V: _S},
    LifecycleEvent.RESUME: {_S: _V},
    LifecycleEvent.REVOKE: {_V: _R, _S: _R, _E: _R},
    LifecycleEvent.EXPIRE: {_V: _E, _S: _E},
}
"""For each event on an existing version: the states it applies to and the state it leads to."""
NEW_VERSION_EVENTS = frozenset(
    {LifecycleEvent.CHANGE, LifecycleEvent.REISSUE, LifecycleEvent.RENEW}
)
"""Events that supersede the version named and issue the next one."""


class IllegalTransition(ProblemError):
    """The event does not apply to a licence in this state (e.g. revoke a revoked licence)."""

    def __init__(self, state: LicenceState | None, event: LifecycleEvent) -> None:
        where = "a new licence" if state is None else f"a licence that is {state.value}"
        super().__init__(
            422,
            "illegal-licence-transition",
            "This licence event is not allowed in the licence's state",
            f"cannot {event.value} {where}",
            state=None if state is None else state.value,
            event=event.value,
        )
        self.state = state
        self.event = event


class InvalidTransitionInput(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(422, "invalid-licence-event", "The licence event is not valid", detail)


@dataclass(frozen=True)
class Transition:
    """One step of one version: what happened, from which state to which, why, by whom, when."""

    event: LifecycleEvent
    from_state: LicenceState | None
    to_state: LicenceState
    reason: str
    actor: str
    at: datetime


class HasValidity(Protocol):
    @property
    def state(self) -> LicenceState: ...

    @property
    def valid_until(self) -> date | None: ...


def china_date(moment: datetime) -> date:
    """The calendar day in China at ``moment`` (a timezone-aware datetime)."""
    if moment.tzinfo is None:
        raise ValueError("china_date() needs a timezone-aware datetime")
    return moment.astimezone(CHINA).date()


def is_past_validity(valid_until: date | None, now: datetime) -> bool:
    """True once the last valid day has ended in China; never for a long-term licence."""
    return valid_until is not None and china_date(now) > valid_until


def effective_state(licence: HasValidity, now: datetime) -> LicenceState:
    """The state a reader should see at ``now``: the stored one, except that a valid or
    suspended version past its ``valid_until`` is ``expired`` even before the sweeper
    records it."""
    if licence.state in (_V, _S) and is_past_validity(licence.valid_until, now):
        return _E
    return licence.state


def check_reason(reason: str) -> str:
    """A transition's reason: non-empty text of at most 200 characters with no ID number
    in it (it goes to the audit trail). Returns it stripped."""
    text = reason.strip()
    if not text:
        raise InvalidTransitionInput("a reason is required")
    if len(text) > MAX_REASON_LENGTH:
        raise InvalidTransitionInput(f"the reason is {MAX_REASON_LENGTH} characters at most")
    if holds_resident_id(text):
        raise InvalidTransitionInput("the reason must not contain an ID number")
    return text


def _check_actor(actor: str) -> str:
    if not actor.strip():
        raise InvalidTransitionInput("an actor is required")
    return actor


def transition(
    state: LicenceState, event: LifecycleEvent, *, reason: str, actor: str, at: datetime
) -> Transition:
    """Apply ``event`` to a version in ``state`` (pass the *effective* state); raise
    :class:`IllegalTransition` if it does not apply."""
    target = TRANSITIONS.get(event, {}).get(state)
    if target is None:
        raise IllegalTransition(state, event)
    return Transition(event, state, target, check_reason(reason), _check_actor(actor), at)


def new_version(event: LifecycleEvent, *, reason: str, actor: str, at: datetime) -> Transition:
    """The first step of a new version: issued, or made by a change, reissue or renewal."""
    if event is not LifecycleEvent.ISSUE and event not in NEW_VERSION_EVENTS:
        raise IllegalTransition(None, event)
    return Transition(event, None, _V, check_reason(reason), _check_actor(actor), at)
