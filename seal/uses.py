"""Every use of a seal, read back from the audit trail (全程留痕、过往可溯).

Each ``seal.used`` entry says who (the person's opaque subject), when, which document
(SHA-256 before and after sealing), at which PAdES level and for what purpose; the entry's
index lets an auditor ask for its inclusion proof.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.audit.entry import parse_entry
from core.audit.trail import AuditTrail
from idp.identities.storage import SqlIdentityStore
from seal.registry import SealRegistry


@dataclass(frozen=True)
class SealUse:
    audit_index: int
    at: datetime
    person_subject: str | None
    document_sha256: str | None
    sealed_sha256: str | None
    level: str | None
    purpose: str


def uses_of(
    seals: SealRegistry, audit: AuditTrail, seal_id: str, limit: int = 100, offset: int = 0
) -> list[SealUse]:
    identities = SqlIdentityStore()
    found: list[SealUse] = []
    with seals.sessions() as session:
        for stored in audit.store.entries_for(session, "seal", seal_id, "seal.used", limit, offset):
            entry = parse_entry(stored.entry)
            person = identities.person_by_id(session, entry.event.actor)
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
