"""Every use of a seal, filtered on the server: by when (a date range) and by whom (one of
the people the seal's use was ever granted to), newest first, a page at a time.

The same ``seal.used`` audit entries as :func:`seal.uses.uses_of`, read with the filters
in the query rather than after it.
"""

from __future__ import annotations

from sqlalchemy import select

from console.date_filter import DateRange
from core.audit.entry import parse_entry
from core.audit.storage import AuditEntryRow
from seal.registry import SealRegistry
from seal.uses import SealUse

USED = "seal.used"


def filtered_uses(
    seals: SealRegistry,
    seal_id: str,
    period: DateRange,
    person_id: str | None,
    limit: int,
    offset: int,
) -> list[SealUse]:
    query = select(AuditEntryRow).where(
        AuditEntryRow.object_type == "seal",
        AuditEntryRow.object_id == seal_id,
        AuditEntryRow.action == USED,
    )
    if person_id is not None:
        query = query.where(AuditEntryRow.actor == person_id)
    if period.start is not None:
        query = query.where(AuditEntryRow.recorded_at >= period.start)
    if period.end is not None:
        query = query.where(AuditEntryRow.recorded_at < period.end)
    query = query.order_by(AuditEntryRow.idx.desc()).limit(limit).offset(offset)
    found = []
    with seals.sessions() as session:
        for row in session.scalars(query):
            entry = parse_entry(bytes(row.entry))
            person = seals.identities.person_by_id(session, entry.event.actor)
            details = entry.event.details
            found.append(
                SealUse(
                    audit_index=entry.index,
                    at=entry.recorded_at,
                    person_subject=person.subject if person else None,
                    document_sha256=entry.event.document_hash,
                    sealed_sha256=details.get("sealed_sha256"),
                    level=details.get("level"),
                    purpose=str(details.get("purpose", "")),
                )
            )
    return found
