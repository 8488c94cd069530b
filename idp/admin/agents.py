"""Who a person may act for, and a legal representative's agents (授权经办人).

A legal representative (法定代表人) authorises another person, named by their opaque
``subject``, to act for the organisation with named scopes (RFC 6749 §3.3 scope tokens)
until a moment or until withdrawn; tokens then carry the organisation as ``sub`` and the
agent as actor (RFC 8693 §4.1 ``act``). Withdrawing takes effect at once: the
representation ends and every grant the agent holds for that organisation is revoked.

A person sees and changes only organisations they represent now: anything else is
:class:`~idp.admin.errors.NotFound`, the same as what does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from core.db.engine import transaction
from idp.admin.errors import NotFound
from idp.admin.persons import identity_service
from idp.admin.sessions import revoke_grants
from idp.identities.models import Organisation, Representation
from idp.oauth.storage import GrantRow
from idp.provider import Provider


@dataclass(frozen=True)
class Agent:
    representation: Representation
    subject: str  # the agent's opaque subject


@dataclass(frozen=True)
class ActingOption:
    organisation: Organisation
    representation: Representation
    agents: list[Agent]  # only for the legal representative


def _held_roles(
    provider: Provider, session: Session, person_id: str, organisation_id: str, now: datetime
) -> set[str]:
    """The roles in which the person represents the organisation now."""
    return {
        held.role
        for held in provider.identities.representations_of_person(session, person_id, now)
        if held.organisation_id == organisation_id
    }


def _agents(
    provider: Provider, session: Session, organisation_id: str, now: datetime
) -> list[Agent]:
    store = provider.identities
    found = []
    for held in store.representatives_of_organisation(session, organisation_id, at=now):
        if held.role == "agent":
            person = store.person_by_id(session, held.person_id)
            found.append(Agent(held, person.subject if person else ""))
    return found


def acting_options(provider: Provider, person_id: str) -> list[ActingOption]:
    """The active organisations the person may act for now, and how; by name."""
    store = provider.identities
    now = provider.ctx.clock()
    options = []
    with provider.ctx.sessions() as session:
        for held in store.representations_of_person(session, person_id, now):
            organisation = store.organisation_by_id(session, held.organisation_id)
            if organisation is None or organisation.status != "active":
                continue
            agents = (
                _agents(provider, session, organisation.id, now)
                if held.role == "legal_representative"
                else []
            )
            options.append(ActingOption(organisation, held, agents))
    return sorted(options, key=lambda o: (o.organisation.name, o.organisation.id))


def grant_agent(
    provider: Provider,
    organisation_id: str,
    *,
    person_id: str,
    agent_subject: str,
    scopes: Sequence[str],
    valid_until: datetime | None,
) -> Agent:
    """The legal representative ``person_id`` authorises the person ``agent_subject``.

    404 for an organisation the person does not represent or an unknown subject; 403
    (:class:`~idp.identities.errors.NotAllowed`) for an agent trying to pass authority
    on; 422 for bad scopes or a past ``valid_until``. Audit: ``agent.granted``.
    """
    now = provider.ctx.clock()
    with provider.ctx.sessions() as session:
        if not _held_roles(provider, session, person_id, organisation_id, now):
            raise NotFound("organisation")
        agent = provider.identities.person_by_subject(session, agent_subject)
        if agent is None or agent.status != "active":
            raise NotFound("person")
    granted = identity_service(provider).grant_agent(
        organisation_id, agent.id, scopes, valid_until, granted_by=person_id
    )
    return Agent(granted, agent.subject)


def withdraw_agent(provider: Provider, representation_id: str, *, person_id: str) -> Agent:
    """The legal representative ``person_id`` ends an agent's authority now, and every
    grant the agent holds for the organisation is revoked. Anyone but a legal
    representative of that organisation gets 404. Audit: ``agent.revoked``."""
    store = provider.identities
    now = provider.ctx.clock()
    with provider.ctx.sessions() as session:
        current = store.representation_by_id(session, representation_id)
        if current is None or "legal_representative" not in _held_roles(
            provider, session, person_id, current.organisation_id, now
        ):
            raise NotFound("representation")
        agent = store.person_by_id(session, current.person_id)
    revoked = identity_service(provider).revoke_agent(representation_id, by=person_id)
    with transaction(provider.ctx.sessions) as session:
        revoke_grants(
            session,
            provider.ctx.clock(),
            "agent authority withdrawn",
            GrantRow.person_id == revoked.person_id,
            GrantRow.organisation_id == revoked.organisation_id,
        )
    return Agent(revoked, agent.subject if agent else "")
