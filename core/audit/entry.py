"""Audit entries: what happened, to which object, by whom, when.

An entry is serialised to canonical JSON (sorted keys, no spaces, UTF-8); those bytes are the
Merkle leaf (RFC 9162 §2.1.1). The entry's own index is part of the leaf, so moving a row to
another position changes its hash. Entries hold identifiers and hashes, never personal data:
:func:`canonical_entry` refuses anything shaped like a resident ID number.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.identifiers.resident_id import holds_valid_resident_id

ENTRY_FORMAT_VERSION = 1
# An 18-character run not inside a longer token; a dotted identifier's segment (a licence
# identifier carries its issuer's USCC, which may be all digits) is not a person's number.
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class PersonalDataInAudit(ValueError):
    """An audit event carried something shaped like an ID number."""


@dataclass(frozen=True)
class AuditEvent:
    """What a caller records. ``actor`` is an opaque subject or service name."""

    actor: str
    action: str
    object_type: str
    object_id: str
    document_hash: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEntry:
    """An event as stored: its position in the log and when it was recorded."""

    index: int
    recorded_at: datetime
    event: AuditEvent

    def to_json(self) -> dict[str, Any]:
        return {
            "v": ENTRY_FORMAT_VERSION,
            "index": self.index,
            "time": format_time(self.recorded_at),
            "actor": self.event.actor,
            "action": self.event.action,
            "object_type": self.event.object_type,
            "object_id": self.event.object_id,
            "document_hash": self.event.document_hash,
            "details": self.event.details,
        }


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds, so the text round-trips exactly."""
    if moment.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_event(event: AuditEvent) -> None:
    for name in ("actor", "action", "object_type", "object_id"):
        if not getattr(event, name):
            raise ValueError(f"audit event needs a non-empty {name}")
    if event.document_hash is not None and not _SHA256_HEX.match(event.document_hash):
        raise ValueError("document_hash must be a lowercase hex SHA-256 digest")


def canonical_entry(entry: AuditEntry) -> bytes:
    """The leaf bytes: canonical JSON of the entry, refused if it holds an ID number."""
    _check_event(entry.event)
    text = json.dumps(entry.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if holds_valid_resident_id(text):
        raise PersonalDataInAudit(
            "audit entries hold identifiers and hashes, not ID numbers; "
            "record a blind index or an opaque id instead"
        )
    return text.encode("utf-8")


def parse_entry(data: bytes) -> AuditEntry:
    """Read back the canonical bytes (for verification and display)."""
    raw = json.loads(data.decode("utf-8"))
    if raw.get("v") != ENTRY_FORMAT_VERSION:
        raise ValueError(f"unknown audit entry format {raw.get('v')!r}")
    recorded_at = datetime.strptime(raw["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    event = AuditEvent(
        actor=raw["actor"],
        action=raw["action"],
        object_type=raw["object_type"],
        object_id=raw["object_id"],
        document_hash=raw["document_hash"],
        details=raw["details"],
    )
    return AuditEntry(index=int(raw["index"]), recorded_at=recorded_at, event=event)
