"""Registering persons and organisations, and who may act for an organisation.

"一证通办": one person, one record, keyed on the resident ID number (GB 11643-1999); one
organisation, keyed on its unified social credit code (GB 32100-2015). A person acts for an
organisation as its legal representative (法定代表人), or as an agent the legal
representative authorised (授权经办人) for named scopes and a period; only a valid legal
representative grants and revokes agents, and a revocation takes effect at once.

Every change lands in the audit trail ("全程留痕") with opaque ids only: never an ID number,
a phone number or a name (DESIGN.md, "ID numbers are personal data").
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.audit.entry import AuditEvent
from core.audit.trail import AuditTrail
from core.db.engine import transaction
from core.identifiers.protection import IdentifierProtector
from core.identifiers.resident_id import parse_resident_id
from core.identifiers.uscc import parse_uscc
from idp.identities.errors import (
    AgentExists,
    IdentityExists,
    IdentityNotFound,
    InvalidGrant,
    InvalidName,
    NotAllowed,
)
from idp.identities.models import (
    ALL_SCOPES,
    Organisation,
    Person,
    Representation,
    normalise_name,
)
from idp.identities.phone import mask_phone, normalise_phone
from idp.identities.storage import SqlIdentityStore, new_id

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,100}")
_MAX_SCOPES = 50


def new_subject() -> str:
    """A fresh OIDC ``sub``: 128 random bits as 32 hex characters (OpenID Connect Core 1.0
    §2, "locally unique and never reassigned"); independent of the ID number, so the number
    cannot be recovered from it nor two services' subjects linked through it."""
    return secrets.token_hex(16)


def _name(text: str) -> str:
    try:
        return normalise_name(text)
    except ValueError:
        raise InvalidName() from None


def check_agent_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Agent scopes: 1-50 distinct RFC 6749 §3.3 scope tokens, never ``"*"`` (all scopes
    belong to the legal representative alone). Order kept, duplicates dropped."""
    if isinstance(scopes, str):
        raise InvalidGrant("scopes must be a sequence of scope tokens")
    result = tuple(dict.fromkeys(scopes))
    if not result or len(result) > _MAX_SCOPES:
        raise InvalidGrant("grant between 1 and 50 scopes")
    for scope in result:
        if not isinstance(scope, str) or not _SCOPE_TOKEN.fullmatch(scope):
            raise InvalidGrant("a scope is not an RFC 6749 scope token")
        if scope == ALL_SCOPES:
            raise InvalidGrant("an agent cannot be granted every scope")
    return result


class IdentityService:
    """Domain operations on identities; each write is one unit of work with its audit entry."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        protector: IdentifierProtector,
        audit: AuditTrail,
        clock: Callable[[], datetime],
        store: SqlIdentityStore | None = None,
    ) -> None:
        self.sessions = sessions
        self.protector = protector
        self.audit = audit
        self.clock = clock
        self.store = store or SqlIdentityStore()

    def register_person(
        self, id_number: str, name: str, phone: str | None = None, *, actor: str
    ) -> Person:
        """Register a person under a resident ID number (GB 11643-1999).

        The number may be typed with whitespace, full-width digits or a lower-case ``x``.
        Raises :class:`~core.identifiers.errors.InvalidIdentifier` for a malformed number
        (birth dates after today refused), :class:`InvalidName`,
        :class:`~idp.identities.errors.InvalidPhone`, and :class:`IdentityExists` when
        the number is already registered. Audit: ``person.registered`` (person id only).
        """
        now = self.clock()
        resident = parse_resident_id("".join(id_number.split()), today=now.date())
        clean_name = _name(name)
        clean_phone = None if phone is None else normalise_phone(phone)
        try:
            with transaction(self.sessions) as session:
                if self.store.person_by_id_number(session, self.protector, resident) is not None:
                    raise IdentityExists("person")
                person = Person(
                    id=new_id(),
                    subject=new_subject(),
                    name=clean_name,
                    id_number_masked=resident.masked(),
                    phone_masked=None if clean_phone is None else mask_phone(clean_phone),
                    status="active",
                    created_at=now,
                )
                self.store.add_person(session, self.protector, person, resident, clean_phone)
                self.audit.record(
                    session,
                    AuditEvent(
                        actor=actor,
                        action="person.registered",
                        object_type="person",
                        object_id=person.id,
                        details={"phone": clean_phone is not None},
                    ),
                )
        except IntegrityError:  # a concurrent registration of the same number won
            raise IdentityExists("person") from None
        return person

    def register_organisation(
        self, uscc: str, name: str, legal_representative_person_id: str, *, actor: str
    ) -> Organisation:
        """Register an organisation (GB 32100-2015 USCC) with its legal representative,
        who holds every scope (``("*",)``) from now on.

        Raises :class:`~core.identifiers.errors.InvalidIdentifier`, :class:`InvalidName`,
        :class:`IdentityNotFound` (no such active person) and :class:`IdentityExists`.
        Audit: ``organisation.registered`` (organisation, person and representation ids;
        not the USCC, which the audit trail could mistake for an ID number).
        """
        now = self.clock()
        code = parse_uscc(uscc)
        clean_name = _name(name)
        try:
            with transaction(self.sessions) as session:
                person = self.store.person_by_id(session, legal_representative_person_id)
                if person is None or person.status != "active":
                    raise IdentityNotFound("person")
                if self.store.organisation_by_uscc(session, code.value) is not None:
                    raise IdentityExists("organisation")
                organisation = Organisation(
                    id=new_id(), uscc=code.value, name=clean_name, status="active", created_at=now
                )
                self.store.add_organisation(session, organisation)
                representation = Representation(
                    id=new_id(),
                    organisation_id=organisation.id,
                    person_id=person.id,
                    role="legal_representative",
                    scopes=(ALL_SCOPES,),
                    valid_from=now,
                    valid_until=None,
                    granted_by=None,
                    revoked_at=None,
                )
                self.store.add_representation(session, representation)
                self.audit.record(
                    session,
                    AuditEvent(
                        actor=actor,
                        action="organisation.registered",
                        object_type="organisation",
                        object_id=organisation.id,
                        details={
                            "legal_representative": person.id,
                            "representation": representation.id,
                        },
                    ),
                )
        except IntegrityError:
            raise IdentityExists("organisation") from None
        return organisation

    def _require_legal_representative(
        self, session: Session, organisation_id: str, person_id: str, at: datetime
    ) -> None:
        person = self.store.person_by_id(session, person_id)
        if person is None or person.status != "active":
            raise NotAllowed("only an active legal representative may do this")
        for held in self.store.representations_of_person(session, person_id, at):
            if held.organisation_id == organisation_id and held.role == "legal_representative":
                return
        raise NotAllowed("only the organisation's legal representative may do this")

    def grant_agent(
        self,
        org_id: str,
        person_id: str,
        scopes: Iterable[str],
        valid_until: datetime | None,
        *,
        granted_by: str,
    ) -> Representation:
        """Authorise ``person_id`` to act for ``org_id`` with ``scopes`` until ``valid_until``
        (exclusive; ``None``: until revoked), effective now.

        Only a valid legal representative of that organisation may grant
        (:class:`NotAllowed`); an agent cannot pass its authority on. Raises
        :class:`IdentityNotFound` for an unknown or disabled organisation or person and
        :class:`InvalidGrant` for bad scopes or a ``valid_until`` not after now.
        Audit: ``agent.granted``.
        """
        now = self.clock()
        granted = check_agent_scopes(scopes)
        if valid_until is not None:
            if valid_until.tzinfo is None:
                raise InvalidGrant("valid_until must be timezone-aware")
            if valid_until <= now:
                raise InvalidGrant("valid_until must be in the future")
        with transaction(self.sessions) as session:
            # held: two grants of one person at once make one (the second sees the first)
            organisation = self.store.organisation_by_id(session, org_id, hold=True)
            if organisation is None or organisation.status != "active":
                raise IdentityNotFound("organisation")
            self._require_legal_representative(session, org_id, granted_by, now)
            agent = self.store.person_by_id(session, person_id)
            if agent is None or agent.status != "active":
                raise IdentityNotFound("person")
            if any(
                held.organisation_id == org_id and held.role == "agent"
                for held in self.store.representations_of_person(session, person_id, now)
            ):
                raise AgentExists()
            representation = Representation(
                id=new_id(),
                organisation_id=org_id,
                person_id=person_id,
                role="agent",
                scopes=granted,
                valid_from=now,
                valid_until=valid_until,
                granted_by=granted_by,
                revoked_at=None,
            )
            self.store.add_representation(session, representation)
            self.audit.record(
                session,
                AuditEvent(
                    actor=granted_by,
                    action="agent.granted",
                    object_type="representation",
                    object_id=representation.id,
                    details={
                        "organisation": org_id,
                        "person": person_id,
                        "scopes": list(granted),
                        "valid_until": None if valid_until is None else valid_until.isoformat(),
                    },
                ),
            )
        return representation

    def revoke_agent(self, representation_id: str, *, by: str) -> Representation:
        """End an agent's authority now. Only a valid legal representative of the
        organisation may (:class:`NotAllowed`); a legal representative is not revoked this
        way. Revoking twice keeps the first revocation and records nothing new.
        Audit: ``agent.revoked``."""
        now = self.clock()
        with transaction(self.sessions) as session:
            current = self.store.representation_by_id(session, representation_id)
            if current is None:
                raise IdentityNotFound("representation")
            self._require_legal_representative(session, current.organisation_id, by, now)
            if current.role != "agent":
                raise NotAllowed("only an agent's authority is revoked this way")
            if current.revoked_at is not None and current.revoked_at <= now:
                return current
            revoked = self.store.revoke_representation(session, representation_id, now)
            self.audit.record(
                session,
                AuditEvent(
                    actor=by,
                    action="agent.revoked",
                    object_type="representation",
                    object_id=representation_id,
                    details={"organisation": current.organisation_id, "person": current.person_id},
                ),
            )
        return revoked

    def acting_options(self, person_id: str) -> list[Organisation]:
        """The active organisations an active person may act for now (as legal
        representative or agent), each once, by name."""
        now = self.clock()
        with self.sessions() as session:
            person = self.store.person_by_id(session, person_id)
            if person is None or person.status != "active":
                return []
            found = self.store.organisations_represented_by(session, person_id, now)
        return sorted(found, key=lambda o: (o.name, o.id))
