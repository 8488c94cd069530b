"""A person's consents to clients, and withdrawing one ("凡是可以通过共享查询的数据 ...":
sharing rests on consent, so it must be possible to take consent back).

Withdrawing takes effect at once: every remembered consent of that person (or of the
organisation the person acted for) to that client ends, so the next authorization asks
again, and every grant of that client for that person or organisation is revoked with its
access and refresh tokens (RFC 7009 §2.1), so introspection (RFC 7662 §2.2) answers
``active: false`` for them from now on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.audit.entry import AuditEvent
from core.db.engine import transaction
from idp.admin.errors import NotFound
from idp.admin.sessions import revoke_grants
from idp.clients.storage import ClientRow
from idp.identities.storage import OrganisationRow
from idp.oauth.storage import ConsentRow, GrantRow
from idp.provider import Provider


@dataclass(frozen=True)
class ConsentInfo:
    id: str
    client_id: str
    client_name: str
    organisation_id: str | None
    organisation_name: str | None
    scope: str
    granted_at: datetime
    withdrawn_at: datetime | None
    purpose: str | None = None  # as stated by the client (idp.oauth.purpose)


def _info(row: ConsentRow, clients: dict[str, str], organisations: dict[str, str]) -> ConsentInfo:
    return ConsentInfo(
        id=row.id,
        client_id=row.client_id,
        client_name=clients.get(row.client_id, ""),
        organisation_id=row.organisation_id,
        organisation_name=(
            None if row.organisation_id is None else organisations.get(row.organisation_id)
        ),
        scope=row.scope,
        granted_at=row.granted_at,
        withdrawn_at=row.revoked_at,
        purpose=row.purpose,
    )


def _infos(session: Session, rows: list[ConsentRow]) -> list[ConsentInfo]:
    """The rows with the names of their clients and organisations."""
    client_ids = {row.client_id for row in rows}
    org_ids = {row.organisation_id for row in rows if row.organisation_id is not None}
    clients = {
        row.client_id: row.name
        for row in session.scalars(select(ClientRow).where(ClientRow.client_id.in_(client_ids)))
    }
    organisations = {
        row.id: row.name
        for row in session.scalars(select(OrganisationRow).where(OrganisationRow.id.in_(org_ids)))
    }
    return [_info(row, clients, organisations) for row in rows]


def _led_organisations(provider: Provider, session: Session, person_id: str) -> set[str]:
    """The organisations the person is the legal representative of now: they may see and
    withdraw every consent given for the organisation, an agent's included (the licences
    shared are the organisation's)."""
    at = provider.ctx.clock()
    return {
        held.organisation_id
        for held in provider.identities.representations_of_person(session, person_id, at)
        if held.role == "legal_representative"
    }


def consents_of_person(provider: Provider, person_id: str) -> list[ConsentInfo]:
    """The consents in force the person gave (for themselves and for organisations), and
    those anyone gave for an organisation the person is the legal representative of, newest
    first."""
    with provider.ctx.sessions() as session:
        led = _led_organisations(provider, session, person_id)
        whose = ConsentRow.person_id == person_id
        if led:
            whose = or_(whose, ConsentRow.organisation_id.in_(led))
        rows = list(
            session.scalars(
                select(ConsentRow)
                .where(whose, ConsentRow.revoked_at.is_(None))
                .order_by(ConsentRow.granted_at.desc(), ConsentRow.id)
            )
        )
        return _infos(session, rows)


def withdraw_consent(
    provider: Provider, consent_id: str, *, person_id: str, actor: str
) -> ConsentInfo:
    """Withdraw consent ``consent_id`` and revoke what the client holds on it: the person's
    own, or one given for an organisation the person is the legal representative of.

    Anyone else's consent is :class:`NotFound`, like one that does not exist.
    Audit: ``consent.withdrawn`` (consent, client, number of grants revoked).
    """
    ctx = provider.ctx
    with transaction(ctx.sessions) as session:
        row = session.get(ConsentRow, consent_id)
        if row is None or (
            row.person_id != person_id
            and row.organisation_id not in _led_organisations(provider, session, person_id)
        ):
            raise NotFound("consent")
        now = ctx.clock()
        same = session.scalars(
            select(ConsentRow).where(
                ConsentRow.person_id == row.person_id,
                ConsentRow.client_id == row.client_id,
                ConsentRow.revoked_at.is_(None),
            )
        )
        for held in same:
            if held.organisation_id == row.organisation_id:
                held.revoked_at = now
        # the consents' rows first: a grant being made on one of them holds it
        # (idp.routers.authorize._covering_consent), so this waits for that grant to be
        # committed and the revocation below finds it, or the grant finds the consent gone
        session.flush()
        organisation = (
            GrantRow.organisation_id.is_(None)
            if row.organisation_id is None
            else GrantRow.organisation_id == row.organisation_id
        )
        revoked = revoke_grants(
            session,
            now,
            "consent withdrawn",
            GrantRow.client_id == row.client_id,
            GrantRow.person_id == row.person_id,
            organisation,
        )
        ctx.audit.record(
            session,
            AuditEvent(
                actor=actor,
                action="consent.withdrawn",
                object_type="consent",
                object_id=row.id,
                details={"client": row.client_id, "grants_revoked": revoked},
            ),
        )
        session.flush()
        return _infos(session, [row])[0]
