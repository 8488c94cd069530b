"""Where identities are kept: four tables and the one class that knows them.

No table holds a resident ID number or a phone number in clear ("保护公民个人隐私"): each
is stored as a blind index (HMAC-SHA256, for equality lookups) and an AES-256-GCM blob
(:class:`~core.identifiers.protection.IdentifierProtector`), beside its masked form for
display. :meth:`SqlIdentityStore.decrypt_id_number` is the only way back to the clear
number. The unified social credit code is public (printed on the business licence) and is
stored as is.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ColumnElement, ForeignKey, LargeBinary, String, or_, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db.base import Base
from core.db.types import UtcDateTime
from core.identifiers.protection import IdentifierProtector
from core.identifiers.resident_id import ResidentId, parse_resident_id
from core.identifiers.uscc import parse_uscc
from idp.identities.errors import IdentityNotFound
from idp.identities.models import Organisation, Person, Representation, Role, Status
from idp.identities.phone import mask_phone, normalise_phone

RESIDENT_ID_KIND = "resident_id"
"""The protector's kind for resident ID numbers (blind index and encryption)."""
PHONE_KIND = "phone"
"""The protector's kind for mobile numbers."""


def new_id() -> str:
    """An opaque internal id: 32 hex characters of a random UUID (RFC 9562 version 4)."""
    return uuid.uuid4().hex


class PersonRow(Base):
    __tablename__ = "persons"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    id_number_index: Mapped[str] = mapped_column(String(64), unique=True)
    id_number_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    phone_index: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    phone_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    phone_masked: Mapped[str | None] = mapped_column(String(11), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (CheckConstraint("status IN ('active', 'disabled')", name="status"),)


class OrganisationRow(Base):
    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (CheckConstraint("status IN ('active', 'disabled')", name="status"),)


class RepresentationRow(Base):
    __tablename__ = "representations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("organisations.id"), index=True
    )
    person_id: Mapped[str] = mapped_column(String(32), ForeignKey("persons.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    scopes: Mapped[str] = mapped_column(String(1000))
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    granted_by: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("persons.id"), nullable=True
    )
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    __table_args__ = (CheckConstraint("role IN ('legal_representative', 'agent')", name="role"),)


class RealNameRow(Base):
    """The embedded default's real-name registry (实名核验): who is registered under a number."""

    __tablename__ = "real_name_registry"

    id_number_index: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


def _status(value: str) -> Status:
    if value == "active":
        return "active"
    if value == "disabled":
        return "disabled"
    raise ValueError("unknown status in storage")


def _role(value: str) -> Role:
    if value == "legal_representative":
        return "legal_representative"
    if value == "agent":
        return "agent"
    raise ValueError("unknown role in storage")


def _person(row: PersonRow) -> Person:
    return Person(
        id=row.id,
        subject=row.subject,
        name=row.name,
        id_number_masked=row.id_number_masked,
        phone_masked=row.phone_masked,
        status=_status(row.status),
        created_at=row.created_at,
    )


def _organisation(row: OrganisationRow) -> Organisation:
    return Organisation(
        id=row.id,
        uscc=row.uscc,
        name=row.name,
        status=_status(row.status),
        created_at=row.created_at,
    )


def _held_by(person_id: str, at: datetime) -> tuple[ColumnElement[bool], ...]:
    """A representation of ``person_id`` that is valid at ``at``: begun, neither ended nor
    revoked."""
    return (
        RepresentationRow.person_id == person_id,
        RepresentationRow.valid_from <= at,
        or_(RepresentationRow.valid_until.is_(None), RepresentationRow.valid_until > at),
        or_(RepresentationRow.revoked_at.is_(None), RepresentationRow.revoked_at > at),
    )


def _representation(row: RepresentationRow) -> Representation:
    return Representation(
        id=row.id,
        organisation_id=row.organisation_id,
        person_id=row.person_id,
        role=_role(row.role),
        scopes=tuple(row.scopes.split()),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        granted_by=row.granted_by,
        revoked_at=row.revoked_at,
    )


def parse_id_number(text: str | ResidentId) -> ResidentId:
    """Parse a resident ID number as people type it: whitespace anywhere (grouped as
    ``110105 19491231 002X``), full-width digits, lower-case ``x`` (GB 11643-1999)."""
    if isinstance(text, ResidentId):
        return text
    return parse_resident_id("".join(text.split()))


def id_number_index(protector: IdentifierProtector, id_number: ResidentId) -> str:
    """The blind index of a parsed (normalised) resident ID number."""
    return protector.blind_index(RESIDENT_ID_KIND, id_number.value)


class SqlIdentityStore:
    """Reads and writes persons, organisations, representations and the real-name registry.

    Every method works in the caller's session (and so in the caller's transaction).
    """

    # Persons

    def add_person(
        self,
        session: Session,
        protector: IdentifierProtector,
        person: Person,
        id_number: ResidentId,
        phone: str | None = None,
    ) -> None:
        """Insert ``person``; the number and phone are stored only blinded and encrypted.

        A second person with the same number violates ``uq_persons_id_number_index``
        (:class:`sqlalchemy.exc.IntegrityError` at flush).
        """
        phone_value = None if phone is None else normalise_phone(phone)
        session.add(
            PersonRow(
                id=person.id,
                subject=person.subject,
                name=person.name,
                id_number_index=id_number_index(protector, id_number),
                id_number_encrypted=protector.encrypt(RESIDENT_ID_KIND, id_number.value),
                id_number_masked=id_number.masked(),
                phone_index=(
                    None if phone_value is None else protector.blind_index(PHONE_KIND, phone_value)
                ),
                phone_encrypted=(
                    None if phone_value is None else protector.encrypt(PHONE_KIND, phone_value)
                ),
                phone_masked=None if phone_value is None else mask_phone(phone_value),
                status=person.status,
                created_at=person.created_at,
            )
        )
        session.flush()

    def person_by_id(self, session: Session, person_id: str) -> Person | None:
        row = session.get(PersonRow, person_id)
        return None if row is None else _person(row)

    def person_by_subject(self, session: Session, subject: str) -> Person | None:
        row = session.scalars(select(PersonRow).where(PersonRow.subject == subject)).first()
        return None if row is None else _person(row)

    def person_by_id_number(
        self, session: Session, protector: IdentifierProtector, text: str | ResidentId
    ) -> Person | None:
        """Find a person by resident ID number, as typed (see :func:`parse_id_number`).

        Raises :class:`~core.identifiers.errors.InvalidIdentifier` for a malformed number.
        """
        id_number = parse_id_number(text)
        query = select(PersonRow).where(
            PersonRow.id_number_index == id_number_index(protector, id_number)
        )
        row = session.scalars(query).first()
        return None if row is None else _person(row)

    def person_by_phone(
        self, session: Session, protector: IdentifierProtector, phone: str
    ) -> list[Person]:
        """Every person registered with this mobile number, oldest first.

        Numbers are not unique (a family may share one), so this is a list. Raises
        :class:`~idp.identities.errors.InvalidPhone` for something not a mobile number.
        """
        index = protector.blind_index(PHONE_KIND, normalise_phone(phone))
        query = (
            select(PersonRow)
            .where(PersonRow.phone_index == index)
            .order_by(PersonRow.created_at, PersonRow.id)
        )
        return [_person(row) for row in session.scalars(query)]

    def decrypt_id_number(
        self, session: Session, protector: IdentifierProtector, person_id: str
    ) -> ResidentId:
        """The person's resident ID number in clear: the only way back to it.

        Callers must hold the person's consent (or a legal basis) for this use; the result
        prints masked (``repr``/``str``), ``.value`` is the clear number.
        """
        row = session.get(PersonRow, person_id)
        if row is None:
            raise IdentityNotFound("person")
        return ResidentId(protector.decrypt(RESIDENT_ID_KIND, bytes(row.id_number_encrypted)))

    # Organisations

    def add_organisation(self, session: Session, organisation: Organisation) -> None:
        """Insert ``organisation``; a second one with the same USCC violates
        ``uq_organisations_uscc``."""
        session.add(
            OrganisationRow(
                id=organisation.id,
                uscc=parse_uscc(organisation.uscc).value,
                name=organisation.name,
                status=organisation.status,
                created_at=organisation.created_at,
            )
        )
        session.flush()

    def organisation_by_id(
        self, session: Session, organisation_id: str, *, hold: bool = False
    ) -> Organisation | None:
        """``hold``: the row locked until the transaction ends (``FOR UPDATE``; on SQLite the
        write transaction holds the database), to serialise changes of its representations."""
        row = session.get(OrganisationRow, organisation_id, with_for_update=hold or None)
        return None if row is None else _organisation(row)

    def organisation_by_uscc(self, session: Session, text: str) -> Organisation | None:
        """Find an organisation by USCC as typed (lower case and full-width accepted)."""
        value = parse_uscc(text).value
        row = session.scalars(select(OrganisationRow).where(OrganisationRow.uscc == value)).first()
        return None if row is None else _organisation(row)

    # Representations

    def add_representation(self, session: Session, representation: Representation) -> None:
        """Insert ``representation``; scopes are stored space-separated (RFC 6749 §3.3)."""
        if any(not scope or " " in scope for scope in representation.scopes):
            raise ValueError("scopes must be non-empty and without spaces")
        session.add(
            RepresentationRow(
                id=representation.id,
                organisation_id=representation.organisation_id,
                person_id=representation.person_id,
                role=representation.role,
                scopes=" ".join(representation.scopes),
                valid_from=representation.valid_from,
                valid_until=representation.valid_until,
                granted_by=representation.granted_by,
                revoked_at=representation.revoked_at,
            )
        )
        session.flush()

    def representation_by_id(
        self, session: Session, representation_id: str
    ) -> Representation | None:
        row = session.get(RepresentationRow, representation_id)
        return None if row is None else _representation(row)

    def representations_of_person(
        self, session: Session, person_id: str, at: datetime
    ) -> list[Representation]:
        """The person's representations that are valid at ``at``, oldest first."""
        query = (
            select(RepresentationRow)
            .where(*_held_by(person_id, at))
            .order_by(RepresentationRow.valid_from, RepresentationRow.id)
        )
        return [_representation(row) for row in session.scalars(query)]

    def organisations_represented_by(
        self, session: Session, person_id: str, at: datetime
    ) -> list[Organisation]:
        """The active organisations the person holds a representation of that is valid at
        ``at``, each once, in the order of :meth:`representations_of_person` (one query)."""
        query = (
            select(OrganisationRow)
            .join(RepresentationRow, RepresentationRow.organisation_id == OrganisationRow.id)
            .where(*_held_by(person_id, at), OrganisationRow.status == "active")
            .order_by(RepresentationRow.valid_from, RepresentationRow.id)
        )
        rows = {row.id: row for row in session.scalars(query)}  # first representation first
        return [_organisation(row) for row in rows.values()]

    def representatives_of_organisation(
        self, session: Session, organisation_id: str, at: datetime | None = None
    ) -> list[Representation]:
        """Everyone who represents the organisation, oldest first: all representations
        ever recorded, or only those valid at ``at`` when given."""
        query = (
            select(RepresentationRow)
            .where(RepresentationRow.organisation_id == organisation_id)
            .order_by(RepresentationRow.valid_from, RepresentationRow.id)
        )
        found = [_representation(row) for row in session.scalars(query)]
        return found if at is None else [r for r in found if r.is_valid_at(at)]

    def revoke_representation(
        self, session: Session, representation_id: str, at: datetime
    ) -> Representation:
        """Mark the representation revoked at ``at``; an earlier revocation stands."""
        row = session.get(RepresentationRow, representation_id)
        if row is None:
            raise IdentityNotFound("representation")
        if row.revoked_at is None or row.revoked_at > at:
            row.revoked_at = at
            session.flush()
        return _representation(row)

    # Real-name registry

    def real_name(self, session: Session, index: str) -> str | None:
        """The registered name for a resident ID number's blind index."""
        row = session.get(RealNameRow, index)
        return None if row is None else row.name

    def put_real_name(self, session: Session, index: str, name: str, at: datetime) -> None:
        """Register (or correct) the name registered under a number's blind index."""
        row = session.get(RealNameRow, index)
        if row is None:
            session.add(RealNameRow(id_number_index=index, name=name, created_at=at))
        else:
            row.name = name
        session.flush()
