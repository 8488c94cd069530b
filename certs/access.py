"""Who may do what with a licence (plain functions; the API and the CLI both use them).

* A **licence administrator** of an issuing authority is a person who represents the
  authority (an organisation, by its USCC) with a representation that allows
  ``licence:admin`` (the legal representative allows everything). Over HTTP the token must
  also carry the OAuth scope ``licence:admin``. An administrator issues, changes, suspends,
  resumes, revokes, reissues and renews the licences of *their* authorities only (the
  licence's issuer USCC is one of theirs), records prints and reports prints lost.
* A **holder** reads their own licences: a person whose resident ID number is the holder
  code (type ``111``), or who represents the organisation whose USCC is the holder code
  (type ``001``) with a representation allowing ``licence:read``. Over HTTP: a person's
  token with ``account`` (:data:`idp.oauth.server.ACCOUNT_SCOPE`, the person's own account,
  held by the service's own channel clients only), never ``openid`` alone: a third party's
  token from consented sharing (:mod:`certs.sharing`) has ``openid`` too, and reads only the
  licence types consented to, at ``/shared-licences``.
* Anyone else is told that the licence does not exist (404), never that it is forbidden
  (403), so that an identifier cannot be probed (IDOR).

Holders are matched by the blind index of the holder code (:mod:`certs.queries`), the same
index :mod:`idp.identities` keeps of a person's number: no clear number is compared or read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from certs.errors import LicenceNotFound, PrintNotFound
from certs.models import Licence, LicenceHistoryEntry
from certs.queries import USCC_KIND
from certs.service import LicenceService
from certs.versions import is_issuing_authority
from core.errors.problem import ProblemError
from core.identifiers.protection import IdentifierProtector
from idp.identities.storage import PersonRow, SqlIdentityStore
from idp.oauth.server import ACCOUNT_SCOPE

LICENCE_ADMIN_SCOPE = "licence:admin"
"""OAuth scope, and representation scope, of a licence administrator."""
LICENCE_READ_SCOPE = "licence:read"
"""Representation scope that lets a person read the licences held by an organisation."""
HOLDER_TOKEN_SCOPE = ACCOUNT_SCOPE
"""OAuth scope of a person's token that reads the person's own licences."""


class NotLicenceAdministrator(ProblemError):
    """The caller administers no issuing authority (or not the one named)."""

    def __init__(self) -> None:
        super().__init__(
            403,
            "not-licence-administrator",
            "Not a licence administrator of this issuing authority",
            "a representation of the issuing authority allowing licence:admin is required",
        )


@dataclass(frozen=True)
class Authority:
    """An issuing authority the caller administers."""

    organisation_id: str
    uscc: str
    name: str


@dataclass(frozen=True)
class Caller:
    """A person as far as licences are concerned.

    ``subject`` is the person's opaque subject (the actor in the audit trail);
    ``authorities`` the issuing authorities they administer (empty unless acting as an
    administrator); ``holder_indexes`` the blind indexes of the holder codes whose licences
    they read as holder (empty unless acting as a holder).
    """

    person_id: str
    subject: str
    authorities: tuple[Authority, ...] = ()
    holder_indexes: frozenset[str] = frozenset()

    def administers(self, issuer_uscc: str) -> bool:
        return any(authority.uscc == issuer_uscc for authority in self.authorities)

    def authority(self, uscc: str | None) -> Authority:
        """The authority named by ``uscc``, or the only one when none is named (403 if the
        caller does not administer it, or must choose among several)."""
        if uscc is None:
            if len(self.authorities) == 1:
                return self.authorities[0]
            if not self.authorities:
                raise NotLicenceAdministrator()
            raise ProblemError(
                422,
                "issuer-required",
                "Name the issuing authority",
                "you administer several issuing authorities: give issuer_uscc",
            )
        for authority in self.authorities:
            if authority.uscc == uscc.strip().upper():
                return authority
        raise NotLicenceAdministrator()


def administered_authorities(
    session: Session, person_id: str, at: datetime, store: SqlIdentityStore | None = None
) -> tuple[Authority, ...]:
    """The active licence-issuing organisations (government organs and public institutions,
    :func:`certs.versions.is_issuing_authority`) the person represents at ``at`` with
    ``licence:admin``: a company's legal representative administers no licences."""
    identities = store or SqlIdentityStore()
    found: dict[str, Authority] = {}
    for held in identities.representations_of_person(session, person_id, at):
        if not held.allows(LICENCE_ADMIN_SCOPE):
            continue
        organisation = identities.organisation_by_id(session, held.organisation_id)
        if (
            organisation is not None
            and organisation.status == "active"
            and is_issuing_authority(organisation.uscc)
        ):
            found[organisation.id] = Authority(
                organisation.id, organisation.uscc, organisation.name
            )
    return tuple(sorted(found.values(), key=lambda a: a.uscc))


def holder_indexes(
    session: Session,
    protector: IdentifierProtector,
    person_id: str,
    at: datetime,
    store: SqlIdentityStore | None = None,
) -> frozenset[str]:
    """The blind indexes of the holder codes whose licences the person reads as holder: their
    own resident ID number's, and the USCC of every active organisation they represent at
    ``at`` with ``licence:read``."""
    identities = store or SqlIdentityStore()
    person = session.get(PersonRow, person_id)
    if person is None or person.status != "active":
        return frozenset()
    indexes = {person.id_number_index}
    for held in identities.representations_of_person(session, person_id, at):
        if not held.allows(LICENCE_READ_SCOPE):
            continue
        organisation = identities.organisation_by_id(session, held.organisation_id)
        if organisation is not None and organisation.status == "active":
            indexes.add(protector.blind_index(USCC_KIND, organisation.uscc))
    return frozenset(indexes)


def caller_for(
    licences: LicenceService, person_id: str, *, admin: bool, holder: bool
) -> Caller | None:
    """The :class:`Caller` for an active person (None if there is no such person):
    administrator rights only with ``admin``, holder rights only with ``holder``."""
    now = licences.clock()
    with licences.sessions() as session:
        person = session.get(PersonRow, person_id)
        if person is None or person.status != "active":
            return None
        return Caller(
            person_id=person.id,
            subject=person.subject,
            authorities=administered_authorities(session, person.id, now) if admin else (),
            holder_indexes=(
                holder_indexes(session, licences.protector, person.id, now)
                if holder
                else frozenset()
            ),
        )


def caller_by_subject(licences: LicenceService, subject: str) -> Caller | None:
    """An administrator named by their subject (the command line's ``--by``)."""
    with licences.sessions() as session:
        person = SqlIdentityStore().person_by_subject(session, subject)
    if person is None:
        return None
    return caller_for(licences, person.id, admin=True, holder=False)


def may_administer(caller: Caller, licence: Licence) -> bool:
    """True when the caller administers the licence's issuing authority."""
    return caller.administers(licence.issuer_uscc)


def _holder_index(licences: LicenceService, identifier: str) -> str | None:
    with licences.sessions() as session:
        row = licences.store.row(session, identifier)
        return None if row is None else row.holder_code_index


def is_holder(caller: Caller, licences: LicenceService, licence: Licence) -> bool:
    """True when the caller holds the licence (for themselves or an organisation)."""
    if not caller.holder_indexes:
        return False
    return _holder_index(licences, licence.identifier) in caller.holder_indexes


def may_read(caller: Caller, licences: LicenceService, licence: Licence) -> bool:
    """An administrator of its issuer, or its holder, may read a licence."""
    return may_administer(caller, licence) or is_holder(caller, licences, licence)


def readable_licence(licences: LicenceService, caller: Caller, identifier: str) -> Licence:
    """The version ``identifier`` if the caller may read it; 404 otherwise (as if absent)."""
    licence = licences.get(identifier)
    if not may_read(caller, licences, licence):
        raise LicenceNotFound()
    return licence


def administered_licence(licences: LicenceService, caller: Caller, identifier: str) -> Licence:
    """The version ``identifier`` if the caller administers its issuer; 404 otherwise."""
    licence = licences.get(identifier)
    if not may_administer(caller, licence):
        raise LicenceNotFound()
    return licence


def administered_print(licences: LicenceService, caller: Caller, print_serial: str) -> Licence:
    """The licence version a print shows, if the caller administers its issuer; 404
    (no such print) otherwise."""
    try:
        printed = licences.get(licences.print_status(print_serial).identifier)
    except (PrintNotFound, LicenceNotFound):
        raise PrintNotFound() from None
    if not may_administer(caller, printed):
        raise PrintNotFound()
    return printed


def history_of(
    licences: LicenceService, caller: Caller, identifier: str
) -> list[LicenceHistoryEntry]:
    """Every transition of every version of the licence ``identifier`` belongs to (oldest
    version first); the actors are shown to administrators of its issuer only."""
    licence = readable_licence(licences, caller, identifier)
    admin = may_administer(caller, licence)
    entries: list[LicenceHistoryEntry] = []
    for version in licences.versions(identifier):
        for entry in licences.history(version.identifier):
            entries.append(entry if admin else _without_actor(entry))
    return entries


def _without_actor(entry: LicenceHistoryEntry) -> LicenceHistoryEntry:
    return LicenceHistoryEntry(
        entry.identifier, entry.event, entry.from_state, entry.to_state, entry.reason, "", entry.at
    )


def holder_licences(licences: LicenceService, caller: Caller) -> list[Licence]:
    """The current version of every licence the caller holds (wallet)."""
    if not caller.holder_indexes:
        return []
    with licences.sessions() as session:
        rows = licences.store.current_by_holder(session, sorted(caller.holder_indexes))
        return [row.to_licence() for row in rows]


def search_by_number(
    licences: LicenceService, caller: Caller, number: str, type_code: str | None = None
) -> list[Licence]:
    """The current versions with licence number ``number`` issued by the caller's
    authorities (403 for a caller who administers none)."""
    if not caller.authorities:
        raise NotLicenceAdministrator()
    found: list[Licence] = []
    with licences.sessions() as session:
        for authority in caller.authorities:
            rows = licences.store.current_by_number(session, number, type_code, authority.uscc)
            found.extend(row.to_licence() for row in rows)
    return found


def search_by_holder(
    licences: LicenceService, caller: Caller, holder_code: str, type_code: str | None = None
) -> list[Licence]:
    """The current versions held under ``holder_code`` issued by the caller's authorities
    (403 for a caller who administers none; 422 for a code that is neither a resident ID
    number nor a USCC)."""
    if not caller.authorities:
        raise NotLicenceAdministrator()
    return [
        licence
        for licence in licences.search_by_holder(holder_code)
        if caller.administers(licence.issuer_uscc)
        and (type_code is None or licence.type_code == type_code)
    ]
