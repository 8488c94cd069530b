"""What a legal representative's agent pages read: the organisation they represent as its
legal representative (anything else is "not found"), its agents with their names and
masked ID numbers, and the rights an agent may be granted.

Every change goes through :mod:`idp.admin.agents`, as in the self-service API
(``/me/organisations/{id}/agents``); that module audits it (``agent.granted``,
``agent.revoked``). Finding the person to authorise by ID number shows their name, so each
look-up is audited (``person.searched``, the ids found, never the number) and a legal
representative may make only :data:`LOOKUP_LIMIT` of them within
:data:`LOOKUP_WINDOW_SECONDS`. The grant awaiting confirmation is kept with the console
session (:meth:`console.session.SessionStore.save_pending`), so that it is confirmed once.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from certs.access import LICENCE_ADMIN_SCOPE, LICENCE_READ_SCOPE
from console.pages import CHINA
from console.session import SessionStore
from core.identifiers.errors import InvalidIdentifier
from core.services import Services
from idp.admin import agents as agent_admin
from idp.admin.audit import record_event
from idp.admin.errors import NotFound
from idp.identities.models import Organisation, Person, Representation
from seal.models import SEAL_ADMIN_SCOPE, SEAL_USE_SCOPE

AGENT_RIGHTS = (LICENCE_READ_SCOPE, SEAL_USE_SCOPE, LICENCE_ADMIN_SCOPE, SEAL_ADMIN_SCOPE)
"""The rights the services check on a representation (:meth:`Representation.allows`)."""
LOOKUP_LIMIT = 20
LOOKUP_WINDOW_SECONDS = 60 * 60
PENDING_KIND = "agent"


@dataclass(frozen=True)
class AgentRow:
    representation: Representation
    name: str
    id_number_masked: str
    state: str
    """``valid``, ``withdrawn`` or ``expired``."""


def represented_organisation(
    services: Services, person_id: str, organisation_id: str
) -> Organisation:
    """The active organisation ``person_id`` is the legal representative of now."""
    for option in agent_admin.acting_options(services.idp, person_id):
        if (
            option.organisation.id == organisation_id
            and option.representation.role == "legal_representative"
        ):
            return option.organisation
    raise NotFound("organisation")


def _state(held: Representation, now: datetime) -> str:
    if held.revoked_at is not None and held.revoked_at <= now:
        return "withdrawn"
    return "valid" if held.is_valid_at(now) else "expired"


def agents_of(services: Services, organisation_id: str) -> list[AgentRow]:
    """Every agent the organisation has had: valid ones first, then newest first."""
    store = services.idp.identities
    now = services.idp.ctx.clock()
    rows = []
    with services.sessions() as session:
        for held in store.representatives_of_organisation(session, organisation_id):
            if held.role != "agent":
                continue
            person = store.person_by_id(session, held.person_id)
            rows.append(
                AgentRow(
                    held,
                    person.name if person else "—",
                    person.id_number_masked if person else "—",
                    _state(held, now),
                )
            )
    rows.sort(key=lambda r: (r.state != "valid", -r.representation.valid_from.timestamp()))
    return rows


def held_agent(services: Services, organisation_id: str, representation_id: str) -> AgentRow:
    """A valid agent of the organisation (one of another organisation is "not found")."""
    for row in agents_of(services, organisation_id):
        if row.representation.id == representation_id and row.state == "valid":
            return row
    raise NotFound("representation")


class TooManyLookups(Exception):
    """The legal representative looked up :data:`LOOKUP_LIMIT` people within the window."""


def _counted_lookup(services: Services, person_id: str) -> None:
    """Count a look-up against the person's limit before it is made (so that look-ups sent
    at the same moment count too), as the login and device-code throttles count guesses;
    :class:`TooManyLookups` once the limit is reached."""
    key = f"console:agent-lookups:{person_id}"
    if services.cache.incr(key, ttl=LOOKUP_WINDOW_SECONDS) > LOOKUP_LIMIT:
        services.cache.decr(key)  # not made: not counted
        raise TooManyLookups()


def look_up_agent(
    services: Services, organisation_id: str, id_number: str, *, person_id: str, actor: str
) -> Person | None:
    """The active person with this ID number, as typed, whom the legal representative
    ``person_id`` may authorise as an agent of the organisation; ``None`` for a malformed
    number or nobody. Counted against the representative's limit and audited as
    ``person.searched`` (how, for what, and the ids found: never the number)."""
    _counted_lookup(services, person_id)
    try:
        with services.sessions() as session:
            found = services.idp.identities.person_by_id_number(
                session, services.identifiers, id_number.strip()
            )
    except InvalidIdentifier:
        return None  # nothing looked up
    person = found if found is not None and found.status == "active" else None
    record_event(
        services.idp,
        actor,
        "person.searched",
        "person",
        person.id if person else "-",
        {
            "by": "id_number",
            "found": [person.id] if person else [],
            "for": "agent.granted",
            "organisation": organisation_id,
            "via": "console",
        },
    )
    return person


def holds_agent(services: Services, organisation_id: str, subject: str) -> bool:
    """Whether the person named by ``subject`` is a valid agent of the organisation now."""
    store = services.idp.identities
    now = services.idp.ctx.clock()
    with services.sessions() as session:
        person = store.person_by_subject(session, subject)
        held = [] if person is None else store.representations_of_person(session, person.id, now)
    return any(r.organisation_id == organisation_id and r.role == "agent" for r in held)


@dataclass(frozen=True)
class PendingGrant:
    """A grant awaiting confirmation (kept sealed with the console session)."""

    organisation_id: str
    subject: str
    scopes: list[str]
    valid_until: str
    """The last day, as an ISO date."""

    @property
    def last_day(self) -> date:
        return date.fromisoformat(self.valid_until)


def save_pending_grant(services: Services, cookie: str, grant: PendingGrant) -> str:
    """Keep the grant until it is confirmed; the random id its confirmation names."""
    pending_id = secrets.token_hex(16)
    SessionStore(services.cache).save_pending(cookie, PENDING_KIND, pending_id, asdict(grant))
    return pending_id


def take_pending_grant(
    services: Services, cookie: str, pending_id: str, organisation_id: str
) -> PendingGrant | None:
    """The grant awaiting confirmation under ``pending_id``, used up: for the one request
    that takes it (the cache's delete is atomic), so that a confirmation sent twice (a
    double click, a form sent again) grants once; None for any other, an expired one or
    one of another organisation."""
    store = SessionStore(services.cache)
    data = store.load_pending(cookie, PENDING_KIND, pending_id)
    try:
        grant = PendingGrant(**data) if isinstance(data, dict) else None
    except TypeError:
        return None
    if grant is None or grant.organisation_id != organisation_id:
        return None
    return grant if store.take_pending(cookie, PENDING_KIND, pending_id) else None


def default_until(now: datetime) -> str:
    return (now.astimezone(CHINA).date() + timedelta(days=365)).isoformat()
