"""The seal registry: make seals, authorise people to use them, suspend and revoke them.

Who may do what (the organisation's own representatives, see ``idp.identities``):

- a seal administrator (a representation allowing ``seal:admin``; the legal
  representative allows everything) creates seals, grants and withdraws their use,
  suspends, resumes and revokes them;
- a person with a valid grant uses the seal, logged in at the seal's ``required_acr``.

Revoking a seal revokes its certificate (CRL and OCSP say so at once); the grant's and the
seal's status are checked on every use. Every change and every refusal is audited.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy.orm import Session, sessionmaker

from core.audit.entry import AuditEvent
from core.audit.trail import AuditTrail
from core.db.engine import transaction
from core.errors.problem import ProblemError
from core.identifiers.free_text import without_id_number
from idp.identities.storage import SqlIdentityStore
from idp.oauth.sessions import LOA_TWO_FACTOR, loa_at_least
from keys.registry import KeyRegistry
from keys.revocation import Revocation
from seal.images import SealDesign, check_uploaded_seal, render_seal
from seal.models import KIND_TITLES, SEAL_ADMIN_SCOPE, Seal, SealGrant, SealKind
from seal.storage import SealGrantRow, SealRow, SqlSealStore

SEAL_LIFETIME = timedelta(days=3 * 365)
REVOKED_CERTIFICATE = "the seal's certificate is revoked"
"""Why a seal whose certificate was revoked by another path than the seal's own revocation
(``govtrust keys revoke-certificate``) is refused: it would seal documents that fail
validation (RFC 5280 §5.3.1)."""
TRANSITIONS = {
    ("active", "suspended"),
    ("active", "revoked"),
    ("suspended", "active"),
    ("suspended", "revoked"),
}


class SealNotFound(ProblemError):
    def __init__(self) -> None:
        super().__init__(404, "seal-not-found", "No such seal")


class SealUseRefused(ProblemError):
    """Use of a seal refused; ``reason`` says why (it is also in the audit trail)."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            403, "seal-use-refused", "Use of this seal is refused", reason, reason=reason
        )
        self.reason = reason


class NotSealAdministrator(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            403, "not-seal-administrator", "Only the organisation's seal administrators may do this"
        )


class SealGrantExists(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            409,
            "seal-grant-exists",
            "The person already holds a valid authorisation to use this seal",
            "Withdraw it first to authorise another period",
        )


class SealRegistry:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        keys: KeyRegistry,
        audit: AuditTrail,
        clock: Callable[[], datetime],
    ) -> None:
        self.sessions = sessions
        self.keys = keys
        self.audit = audit
        self.clock = clock
        self.store = SqlSealStore()
        self.identities = SqlIdentityStore()

    # -- who is who ----------------------------------------------------------------

    def is_administrator(self, session: Session, organisation_id: str, person_id: str) -> bool:
        now = self.clock()
        return any(
            rep.organisation_id == organisation_id and rep.allows(SEAL_ADMIN_SCOPE)
            for rep in self.identities.representations_of_person(session, person_id, now)
        )

    def _seal_row(self, session: Session, seal_id: str, *, for_update: bool = False) -> SealRow:
        row = self.store.seal_row(session, seal_id, for_update=for_update)
        if row is None:
            raise SealNotFound()
        return row

    def _active(self, session: Session, organisation_id: str) -> bool:
        organisation = self.identities.organisation_by_id(session, organisation_id)
        return organisation is not None and organisation.status == "active"

    def _require_admin(self, session: Session, organisation_id: str, person_id: str) -> None:
        if not self.is_administrator(session, organisation_id, person_id):
            raise NotSealAdministrator()

    def _event(
        self, session: Session, actor: str, action: str, seal_id: str, **details: object
    ) -> None:
        self.audit.record(
            session,
            AuditEvent(
                actor=actor,
                action=action,
                object_type="seal",
                object_id=seal_id,
                details=dict(details),
            ),
        )

    # -- seals ---------------------------------------------------------------------

    def create(
        self,
        *,
        organisation_id: str,
        kind: SealKind,
        by: str,
        name: str | None = None,
        person_name: str | None = None,
        image_png: bytes | None = None,
        required_acr: str = LOA_TWO_FACTOR,
        lifetime: timedelta = SEAL_LIFETIME,
    ) -> Seal:
        """A new seal with its own key and certificate, and its image (drawn or uploaded)."""
        with self.sessions() as session:
            organisation = self.identities.organisation_by_id(session, organisation_id)
            if organisation is None or organisation.status != "active":
                raise ProblemError(404, "organisation-not-found", "No such organisation")
            self._require_admin(session, organisation_id, by)
        title = name or KIND_TITLES[kind]
        image = (
            check_uploaded_seal(image_png)
            if image_png is not None
            else render_seal(
                SealDesign(
                    kind=kind,
                    organisation=organisation.name,
                    title=None if kind == "name" else title,
                    code=None,
                    person_name=person_name,
                )
            )
        )
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation.name[:64]),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, organisation.uscc),
                x509.NameAttribute(NameOID.COMMON_NAME, title[:64]),
            ]
        )
        key = self.keys.create_object_key("seal", subject, actor=by)
        now = self.clock()
        assert key.certificate is not None
        row = SealRow(
            id=secrets.token_hex(16),
            organisation_id=organisation_id,
            uscc=organisation.uscc,
            organisation_name=organisation.name,
            kind=kind,
            name=title,
            status="active",
            key_kid=key.kid,
            image_png=image,
            valid_from=now,
            valid_until=min(now + lifetime, key.certificate.not_valid_after_utc),
            required_acr=required_acr,
            created_at=now,
        )
        with transaction(self.sessions) as session:
            session.add(row)
            session.flush()
            self._event(
                session,
                by,
                "seal.created",
                row.id,
                kind=kind,
                key=key.kid,
                organisation=organisation_id,
            )
        return row.to_seal()

    def get(self, seal_id: str) -> Seal:
        with self.sessions() as session:
            return self._seal_row(session, seal_id).to_seal()

    def image(self, seal_id: str) -> bytes:
        with self.sessions() as session:
            return bytes(self._seal_row(session, seal_id).image_png)

    def seals_of(self, organisation_id: str) -> list[Seal]:
        with self.sessions() as session:
            return self.store.seals_of(session, organisation_id)

    def set_status(self, seal_id: str, status: str, *, by: str, reason: str) -> Seal:
        """Suspend, resume or revoke. Revoking also revokes the seal's certificate, in the
        same transaction: the seal is never revoked while CRL and OCSP still call its
        certificate good."""
        if not reason.strip():
            raise ProblemError(422, "reason-required", "A reason is required")
        without_id_number(reason, "reason")  # it goes into the audit entry
        with transaction(self.sessions) as session:
            # held until the commit: a concurrent change waits, then sees this one's status
            row = self._seal_row(session, seal_id, for_update=True)
            self._require_admin(session, row.organisation_id, by)
            if (row.status, status) not in TRANSITIONS:
                raise ProblemError(
                    409, "illegal-transition", f"A {row.status} seal cannot become {status}"
                )
            row.status, row.status_changed_at = status, self.clock()
            self._event(session, by, f"seal.{status}", seal_id, reason=reason[:200])
            if status == "revoked":  # with its certificate, in the same transaction
                key = next(k for k in self.keys.list_keys("seal") if k.kid == row.key_kid)
                assert key.certificate is not None and key.issuer_kid is not None
                Revocation(self.keys).revoke_in(
                    session,
                    key.issuer_kid,
                    key.certificate.serial_number,
                    x509.ReasonFlags.cessation_of_operation,
                    actor=by,
                )
        return self.get(seal_id)

    # -- authorisations ------------------------------------------------------------

    def grant(self, seal_id: str, person_id: str, *, by: str, valid_until: datetime) -> SealGrant:
        """Authorise the person to use the seal from now until ``valid_until``; one valid
        grant per person and seal (:class:`SealGrantExists`, 409): a second one would
        outlive the withdrawal of the first."""
        now = self.clock()
        if valid_until <= now:
            raise ProblemError(422, "invalid-period", "valid_until must be in the future")
        with transaction(self.sessions) as session:
            # held until the commit: a grant made at the same time waits, then sees this one
            row = self._seal_row(session, seal_id, for_update=True)
            self._require_admin(session, row.organisation_id, by)
            if self.identities.person_by_id(session, person_id) is None:
                raise ProblemError(404, "person-not-found", "No such person")
            if any(held.valid_at(now) for held in self.store.grants(session, seal_id, person_id)):
                raise SealGrantExists()
            grant = SealGrantRow(
                id=secrets.token_hex(16),
                seal_id=seal_id,
                person_id=person_id,
                granted_by=by,
                valid_from=now,
                valid_until=valid_until,
            )
            session.add(grant)
            session.flush()
            self._event(
                session,
                by,
                "seal.granted",
                seal_id,
                grant=grant.id,
                person=person_id,
                until=valid_until.isoformat(),
            )
            return grant.to_grant()

    def withdraw(self, grant_id: str, *, by: str, reason: str = "") -> SealGrant:
        """End a grant now; ``reason`` (optional) goes into the audit entry."""
        with transaction(self.sessions) as session:
            grant = session.get(SealGrantRow, grant_id)
            if grant is None:
                raise ProblemError(404, "grant-not-found", "No such authorisation")
            row = self._seal_row(session, grant.seal_id)
            self._require_admin(session, row.organisation_id, by)
            if grant.revoked_at is None:
                grant.revoked_at = self.clock()
                details: dict[str, object] = {"grant": grant_id}
                if reason.strip():
                    details["reason"] = reason.strip()[:200]
                self._event(session, by, "seal.grant_withdrawn", grant.seal_id, **details)
            return grant.to_grant()

    def authorise_system_use(self, seal_id: str, actor: str) -> Seal:
        """The seal, if a govtrust function it is bound to (a licence type names it as the
        seal its licences are sealed with) may use it now: active and within its validity.
        No person's grant is involved; the binding is the seal administrator's decision."""
        now = self.clock()
        with self.sessions() as session:
            row = self.store.seal_row(session, seal_id)
            holder_active = row is not None and self._active(session, row.organisation_id)
            revoked = row is not None and self.keys.certificate_revoked(session, row.key_kid)
        if row is None:
            raise SealNotFound()
        seal = row.to_seal()
        reason = None
        if seal.status != "active":
            reason = f"the seal is {seal.status}"
        elif revoked:
            reason = REVOKED_CERTIFICATE
        elif not seal.usable_at(now):
            reason = "the seal is outside its validity"
        elif not holder_active:
            reason = "the seal's organisation is disabled"
        if reason is not None:
            with transaction(self.sessions) as session:
                self._event(session, actor, "seal.use_refused", seal_id, reason=reason)
            raise SealUseRefused(reason)
        return seal

    def authorise_use(self, seal_id: str, person_id: str, acr: str | None) -> Seal:
        """The seal, if ``person_id`` may use it now at ``acr``; else :class:`SealUseRefused`
        (and the refusal is recorded)."""
        now = self.clock()
        with self.sessions() as session:
            row = self.store.seal_row(session, seal_id)
            seal = None if row is None else row.to_seal()
            grants = self.store.grants(session, seal_id, person_id) if seal else []
            holder_active = seal is not None and self._active(session, seal.organisation_id)
            person = self.identities.person_by_id(session, person_id)
            revoked = row is not None and self.keys.certificate_revoked(session, row.key_kid)
        reason = None
        if seal is None:
            raise SealNotFound()
        if seal.status != "active":
            reason = f"the seal is {seal.status}"
        elif revoked:
            reason = REVOKED_CERTIFICATE
        elif not seal.usable_at(now):
            reason = "the seal is outside its validity"
        elif not holder_active:
            reason = "the seal's organisation is disabled"
        elif person is None or person.status != "active":
            reason = "the person is disabled"
        elif not any(grant.valid_at(now) for grant in grants):
            reason = "no valid authorisation to use this seal"
        elif not acr or not loa_at_least(acr, seal.required_acr):
            reason = f"log in at {seal.required_acr} to use this seal"
        if reason is not None:
            with transaction(self.sessions) as session:
                self._event(session, person_id, "seal.use_refused", seal_id, reason=reason)
            raise SealUseRefused(reason)
        return seal
