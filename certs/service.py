"""Issuing, changing, suspending, resuming, revoking (注销), reissuing (补发), renewing and
expiring licences: "电子证照与实体证照同步制发、变更和注销".

Each step is a transition of :mod:`certs.lifecycle`, written with its history row and its
audit entry (object type ``licence``, object id the version's GB/T 36904 identifier) in one
transaction: a refused step writes nothing. A change, reissue or renewal supersedes the
version named and issues the next version (same serial, version + 1, new check character).
Metadata follows GB/T 36903; holder codes are validated (GB 11643 / GB 32100), blind-indexed
and encrypted.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from certs.errors import InvalidLicenceInput
from certs.identifiers import licence_identifier
from certs.lifecycle import (
    LicenceState,
    LifecycleEvent,
    Transition,
    china_date,
    effective_state,
    new_version,
    transition,
)
from certs.models import Licence
from certs.prints import LicencePrints
from certs.storage import LicenceRow
from certs.type_registry import LicenceTypeRegistry
from certs.types import ValidityOutOfRange, validate_fields
from certs.versions import (
    check_issuer,
    check_name,
    licence_number,
    next_version_row,
    renewal_end,
    serial_text,
)
from core.db.engine import transaction

EXPIRY_ACTOR = "system:licence-expiry"
EXPIRY_REASON = "validity period ended"
ACTIONS = {
    LifecycleEvent.ISSUE: "licence.issued",
    LifecycleEvent.CHANGE: "licence.changed",
    LifecycleEvent.SUSPEND: "licence.suspended",
    LifecycleEvent.RESUME: "licence.resumed",
    LifecycleEvent.REVOKE: "licence.revoked",
    LifecycleEvent.REISSUE: "licence.reissued",
    LifecycleEvent.RENEW: "licence.renewed",
    LifecycleEvent.EXPIRE: "licence.expired",
}


class LicenceService(LicencePrints, LicenceTypeRegistry):
    """The licence registry: reading in :class:`certs.queries.LicenceReads`, types in
    :class:`certs.type_registry.LicenceTypeRegistry`, paper prints in
    :class:`certs.prints.LicencePrints`."""

    # -- writing steps ---------------------------------------------------------------

    def _write(self, session: Session, row: LicenceRow, step: Transition, **details: Any) -> None:
        row.state = step.to_state.value
        row.state_changed_at = step.at
        row.state_reason = step.reason
        session.flush()
        self.store.add_event(session, row.identifier, step)
        self._record(
            session,
            step.actor,
            ACTIONS[step.event],
            row.identifier,
            event=step.event.value,
            from_state=None if step.from_state is None else step.from_state.value,
            to_state=step.to_state.value,
            reason=step.reason,
            version=row.version,
            **details,
        )

    def _step(
        self, session: Session, row: LicenceRow, event: LifecycleEvent, reason: str, actor: str
    ) -> Transition:
        """Check and write ``event`` on ``row``; an expiry that is due is recorded first."""
        now = self.clock()
        stored = LicenceState(row.state)
        effective = effective_state(row.to_licence(), now)
        step = transition(effective, event, reason=reason, actor=actor, at=now)
        if effective is not stored:
            self._write(
                session,
                row,
                transition(
                    stored, LifecycleEvent.EXPIRE, reason=EXPIRY_REASON, actor=EXPIRY_ACTOR, at=now
                ),
            )
        return step

    def _add_version(
        self,
        session: Session,
        row: LicenceRow,
        step: Transition,
        status_list_index: int | None = None,
        **details: Any,
    ) -> None:
        if status_list_index is None:
            status_list_index = self.store.next_value(session, "status-list") - 1
        row.status_list_index = status_list_index
        row.created_at = step.at
        session.add(row)
        self._write(session, row, step, **details)

    def issue(
        self,
        type_code: str,
        issuer_uscc: str,
        issuer_name: str,
        holder_name: str,
        holder_code: str,
        fields: dict[str, Any],
        valid_from: date,
        actor: str,
        *,
        reason: str = "issued",
    ) -> Licence:
        """Issue version 001 of a new licence; its serial and licence number come from the
        counter of its type and issuing authority."""
        now = self.clock()
        issuer = check_issuer(issuer_uscc)
        step = new_version(LifecycleEvent.ISSUE, reason=reason, actor=actor, at=now)
        with transaction(self.sessions) as session:
            licence_type = self._type(session, type_code)
            holder = self._protect(licence_type.holder_code_type, holder_code)
            checked = validate_fields(licence_type, fields)
            try:
                valid_until = licence_type.valid_until(valid_from)
            except ValidityOutOfRange as exc:
                raise InvalidLicenceInput(
                    "invalid-validity", "valid_from is out of range", str(exc)
                ) from exc
            if valid_until is not None and valid_until < china_date(now):
                raise InvalidLicenceInput("licence-already-expired", "The licence would be expired")
            serial = serial_text(self.store.next_value(session, f"serial:{type_code}:{issuer}"))
            row = LicenceRow(
                identifier=licence_identifier(type_code, issuer, serial, 1),
                licence_number=licence_number(type_code, issuer, serial),
                type_code=type_code,
                serial=serial,
                version=1,
                issuer_uscc=issuer,
                issuer_name=check_name(issuer_name, "issuing authority's name"),
                holder_name=check_name(holder_name, "holder's name"),
                holder_code_type=holder.code_type,
                holder_code_index=holder.index,
                holder_code_encrypted=holder.encrypted,
                holder_code=holder.clear,
                holder_code_masked=holder.masked,
                fields=checked,
                issued_on=china_date(now),
                valid_from=valid_from,
                valid_until=valid_until,
            )
            self._add_version(session, row, step, holder_code_type=holder.code_type)
            return row.to_licence()

    def _successor(
        self,
        identifier: str,
        event: LifecycleEvent,
        reason: str,
        actor: str,
        *,
        fields: dict[str, Any] | None = None,
        holder_name: str | None = None,
        valid_until: date | None = None,
    ) -> Licence:
        with transaction(self.sessions) as session:
            old = self._row(session, identifier, lock=True)
            # Counters before the audit trail's append lock, as issue() and prints take
            # them: the other order deadlocks against a concurrent issue on PostgreSQL.
            index = self.store.next_value(session, "status-list") - 1
            step = self._step(session, old, event, reason, actor)
            today = china_date(step.at)
            new = next_version_row(old, today, holder_name)
            if fields is not None:
                new.fields = validate_fields(self._type(session, old.type_code), fields)
            if valid_until is not None:
                new.valid_from, new.valid_until = (
                    today,
                    renewal_end(old.valid_until, valid_until, today),
                )
            self._write(session, old, step, superseded_by=new.identifier)
            self._add_version(
                session,
                new,
                new_version(event, reason=step.reason, actor=actor, at=step.at),
                status_list_index=index,
                supersedes=old.identifier,
            )
            old.superseded_by = new.identifier
            session.flush()
            return new.to_licence()

    def change(
        self,
        identifier: str,
        fields: dict[str, Any],
        reason: str,
        actor: str,
        *,
        holder_name: str | None = None,
    ) -> Licence:
        """变更: a new version with ``fields`` (the complete new set, validated against the
        type) and optionally a new holder name; the version named is superseded."""
        return self._successor(
            identifier, LifecycleEvent.CHANGE, reason, actor, fields=fields, holder_name=holder_name
        )

    def reissue(self, identifier: str, reason: str, actor: str) -> Licence:
        """补发 after loss: the same content as a new version; the old one is superseded with
        ``reason`` (e.g. ``lost``), so its paper prints no longer verify as valid."""
        return self._successor(identifier, LifecycleEvent.REISSUE, reason, actor)

    def renew(
        self, identifier: str, valid_until: date, actor: str, *, reason: str = "renewed"
    ) -> Licence:
        """延续: a new version valid from today until ``valid_until``, which must be later than
        both today and the old version's last day. Long-term licences are not renewed."""
        return self._successor(
            identifier, LifecycleEvent.RENEW, reason, actor, valid_until=valid_until
        )

    def _transition(
        self, identifier: str, event: LifecycleEvent, reason: str, actor: str
    ) -> Licence:
        with transaction(self.sessions) as session:
            row = self._row(session, identifier, lock=True)
            self._write(session, row, self._step(session, row, event, reason, actor))
            return row.to_licence()

    def suspend(self, identifier: str, reason: str, actor: str) -> Licence:
        """暂扣: valid -> suspended."""
        return self._transition(identifier, LifecycleEvent.SUSPEND, reason, actor)

    def resume(self, identifier: str, reason: str, actor: str) -> Licence:
        """suspended -> valid."""
        return self._transition(identifier, LifecycleEvent.RESUME, reason, actor)

    def revoke(self, identifier: str, reason: str, actor: str) -> Licence:
        """注销: valid, suspended or expired -> revoked (final)."""
        return self._transition(identifier, LifecycleEvent.REVOKE, reason, actor)

    def expire_due(self, now: datetime | None = None) -> list[str]:
        """The sweeper: record ``expired`` for every valid or suspended version whose last
        valid day has passed at ``now``; returns their identifiers."""
        moment = self.clock() if now is None else now
        with transaction(self.sessions) as session:
            rows = self.store.due_for_expiry(session, china_date(moment))
            for row in rows:
                step = transition(
                    LicenceState(row.state),
                    LifecycleEvent.EXPIRE,
                    reason=EXPIRY_REASON,
                    actor=EXPIRY_ACTOR,
                    at=moment,
                )
                self._write(session, row, step)
            return [row.identifier for row in rows]
