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

from sqlalchemy import select
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


def consents_of_person(provider: Provider, person_id: str) -> list[ConsentInfo]:
    """The person's consents in force (for themselves and for organisations), newest first."""
    with provider.ctx.sessions() as session:
        rows = list(
            session.scalars(
                select(ConsentRow)
                .where(ConsentRow.person_id == person_id, ConsentRow.revoked_at.is_(None))
                .order_by(ConsentRow.granted_at.desc(), ConsentRow.id)
            )
        )
        return _infos(session, rows)


def withdraw_consent(
    provider: Provider, consent_id: str, *, person_id: str, actor: str
) -> ConsentInfo:
    """Withdraw the person's consent ``consent_id`` and revoke what the client holds on it.

    Another person's consent is :class:`NotFound`, like one that does not exist.
    Audit: ``consent.withdrawn`` (consent, client, number of grants revoked).
    """
    ctx = provider.ctx
    with transaction(ctx.sessions) as session:
        row = session.get(ConsentRow, consent_id)
        if row is None or row.person_id != person_id:
            raise NotFound("consent")
        now = ctx.clock()
        same = session.scalars(
            select(ConsentRow).where(
                ConsentRow.person_id == person_id,
                ConsentRow.client_id == row.client_id,
                ConsentRow.revoked_at.is_(None),
            )
        )
        for held in same:
            if held.organisation_id == row.organisation_id:
                held.revoked_at = now
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
            GrantRow.person_id == person_id,
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
