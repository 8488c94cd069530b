"""Persons and organisations for the admin API, and lifting a person's login lockout.

A person is registered under the resident ID number (GB 11643-1999) and answered only by
its opaque ``subject`` and masked number; the number is taken in request bodies and never
echoed ("保护公民个人隐私"). Looking a person up and viewing one are audited like changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors.problem import ProblemError
from core.identifiers.resident_id import parse_resident_id
from idp.admin.audit import record_event
from idp.admin.errors import NotFound
from idp.identities.models import Organisation, Person, Representation
from idp.identities.service import IdentityService
from idp.identities.storage import PHONE_KIND, PersonRow
from idp.login import account_key
from idp.provider import Provider


@dataclass(frozen=True)
class Representative:
    representation: Representation
    subject: str


@dataclass(frozen=True)
class OrganisationDetails:
    organisation: Organisation
    representatives: list[Representative]


def identity_service(provider: Provider) -> IdentityService:
    ctx = provider.ctx
    return IdentityService(
        ctx.sessions, provider.protector, ctx.audit, ctx.clock, store=provider.identities
    )


def register_person(
    provider: Provider, id_number: str, name: str, phone: str | None, *, actor: str
) -> Person:
    """Register a person after real-name proofing (the number and the name belong together);
    raises InvalidIdentifier (422), RealNameMismatch (422), InvalidName, InvalidPhone (422),
    IdentityExists (409). Audited as ``person.registered``."""
    resident = parse_resident_id("".join(id_number.split()), today=provider.ctx.clock().date())
    if not provider.proofing.verify(resident, name.strip()):
        raise RealNameMismatch()
    return identity_service(provider).register_person(id_number, name, phone, actor=actor)


class RealNameMismatch(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            422,
            "real-name-check-failed",
            "The name and the ID number do not match the real-name registry",
        )


def search_persons(
    provider: Provider, *, id_number: str | None, phone: str | None, actor: str
) -> list[Person]:
    """The person with this ID number, or everyone with this mobile number (a family may
    share one). Audited as ``person.searched`` (how, and the ids found: never the number);
    raises :class:`NotFound` when nobody matches."""
    with provider.ctx.sessions() as session:
        if id_number is not None:
            found = provider.identities.person_by_id_number(session, provider.protector, id_number)
            persons = [] if found is None else [found]
        else:
            assert phone is not None
            persons = provider.identities.person_by_phone(session, provider.protector, phone)
    record_event(
        provider,
        actor,
        "person.searched",
        "person",
        persons[0].id if persons else "-",
        {"by": "id_number" if id_number is not None else "phone", "found": [p.id for p in persons]},
    )
    if not persons:
        raise NotFound("person")
    return persons


def get_person(provider: Provider, person_id: str, *, actor: str) -> Person:
    with provider.ctx.sessions() as session:
        person = provider.identities.person_by_id(session, person_id)
    if person is None:
        raise NotFound("person")
    record_event(provider, actor, "person.viewed", "person", person.id)
    return person


def register_organisation(
    provider: Provider, uscc: str, name: str, legal_representative_person_id: str, *, actor: str
) -> OrganisationDetails:
    """Register an organisation (GB 32100-2015) with its legal representative; raises
    InvalidIdentifier (422), IdentityNotFound (404), IdentityExists (409)."""
    organisation = identity_service(provider).register_organisation(
        uscc, name, legal_representative_person_id, actor=actor
    )
    return _details(provider, organisation.id)


def get_organisation(
    provider: Provider, organisation_id: str, *, actor: str
) -> OrganisationDetails:
    details = _details(provider, organisation_id)
    record_event(provider, actor, "organisation.viewed", "organisation", organisation_id)
    return details


def _details(provider: Provider, organisation_id: str) -> OrganisationDetails:
    """The organisation with everyone who represents or represented it, oldest first."""
    store = provider.identities
    with provider.ctx.sessions() as session:
        organisation = store.organisation_by_id(session, organisation_id)
        if organisation is None:
            raise NotFound("organisation")
        representatives = []
        for held in store.representatives_of_organisation(session, organisation_id):
            person = store.person_by_id(session, held.person_id)
            representatives.append(Representative(held, person.subject if person else ""))
    return OrganisationDetails(organisation, representatives)


def login_usernames(provider: Provider, person_id: str) -> list[str]:
    """What the person logs in with, in clear: the ID number and the mobile number in the
    spellings :func:`~idp.identities.phone.normalise_phone` accepts with a country code.
    Kept in memory only, to compute throttling keys."""
    with provider.ctx.sessions() as session:
        row = session.get(PersonRow, person_id)
        if row is None:
            raise NotFound("person")
        number = provider.identities.decrypt_id_number(session, provider.protector, person_id)
        usernames = [number.value]
        if row.phone_encrypted is not None:
            phone = provider.protector.decrypt(PHONE_KIND, bytes(row.phone_encrypted))
            usernames += [phone, f"+86{phone}", f"86{phone}", f"0086{phone}"]
    return usernames


def unlock_person(provider: Provider, person_id: str, *, actor: str) -> None:
    """Lift the login lockout of the person's usernames and clear their failure counts
    (NIST SP 800-63B §5.2.2: an administrator's reset). Audited as ``person.unlocked``."""
    for username in login_usernames(provider, person_id):
        provider.throttle.unlock(account_key(provider, username))
    record_event(provider, actor, "person.unlocked", "person", person_id)
