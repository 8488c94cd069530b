"""What the platform pages read: clients per channel, keys, the audit trail (searched,
verified, its latest signed checkpoint), and a person's login lockout. Read-only helpers;
every change goes through the owning package's service (clients, keys, persons), and the
reason a platform administrator gives for it is recorded beside it (:func:`note_reason`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from console.date_filter import DateRange
from core.audit.entry import AuditEvent, parse_entry
from core.audit.storage import AuditEntryRow
from core.db.engine import transaction
from core.services import Services
from idp.admin.persons import login_usernames
from idp.clients.models import Client
from idp.clients.storage import ClientRow
from idp.login import account_key
from keys.managed import KeyInfo
from keys.purposes import get_purpose


@dataclass(frozen=True)
class AuditRow:
    index: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]


def clients_page(
    services: Services, channel: str | None, limit: int, offset: int
) -> tuple[list[Client], int]:
    query = select(ClientRow)
    count = select(func.count()).select_from(ClientRow)
    if channel:
        query = query.where(ClientRow.channel == channel)
        count = count.where(ClientRow.channel == channel)
    with services.sessions() as session:
        total = int(session.scalar(count) or 0)
        rows = session.scalars(query.order_by(ClientRow.client_id).limit(limit).offset(offset))
        return [row.to_client() for row in rows], total


def keys_of(services: Services, purpose: str | None) -> list[KeyInfo]:
    """Keys by purpose then state (active, next, retired), newest first; without the keys
    of single seals (they are the seal administrators' business)."""
    order = {"active": 0, "next": 1, "retired": 2}
    found = [
        key
        for key in services.keys.list_keys(purpose or None)
        if not get_purpose(key.purpose).per_object
    ]
    found.sort(key=lambda k: (k.purpose, order.get(k.state, 3), -k.created_at.timestamp()))
    return found


def rotatable(purpose: str) -> bool:
    try:
        found = get_purpose(purpose)
    except (KeyError, ValueError):
        return False
    return found.rotatable and not found.per_object


def search_audit(
    services: Services,
    action: str | None,
    object_type: str | None,
    object_id: str | None,
    limit: int,
    offset: int,
    period: DateRange | None = None,
) -> list[AuditRow]:
    """Entries matching every given criterion (recorded within ``period``), newest first."""
    query = select(AuditEntryRow)
    if period is not None and period.start is not None:
        query = query.where(AuditEntryRow.recorded_at >= period.start)
    if period is not None and period.end is not None:
        query = query.where(AuditEntryRow.recorded_at < period.end)
    if action:
        query = query.where(AuditEntryRow.action == action)
    if object_type:
        query = query.where(AuditEntryRow.object_type == object_type)
    if object_id:
        query = query.where(AuditEntryRow.object_id == object_id)
    query = query.order_by(AuditEntryRow.idx.desc()).limit(limit).offset(offset)
    rows = []
    with services.sessions() as session:
        for row in session.scalars(query):
            entry = parse_entry(bytes(row.entry))
            rows.append(
                AuditRow(
                    entry.index,
                    entry.recorded_at,
                    row.actor,
                    row.action,
                    row.object_type,
                    row.object_id,
                    dict(entry.event.details),
                )
            )
    return rows


def locked_until(services: Services, person_id: str) -> datetime | None:
    """The latest lockout among the person's login names (ID number, mobile number)."""
    provider = services.idp
    found = [
        until
        for name in login_usernames(provider, person_id)
        if (until := provider.throttle.account_locked_until(account_key(provider, name)))
    ]
    return max(found) if found else None


def note_reason(
    services: Services, actor: str, action: str, object_type: str, object_id: str, reason: str
) -> None:
    """Record why a platform administrator did ``action`` (the owning service records
    the action itself)."""
    with transaction(services.sessions) as session:
        services.audit.record(
            session,
            AuditEvent(
                actor=actor,
                action="console.reason",
                object_type=object_type,
                object_id=object_id,
                details={"for": action, "reason": reason, "via": "console"},
            ),
        )
