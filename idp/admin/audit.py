"""Recording what an administrator looked at ("全程留痕": reads of personal data too).

Changes are recorded by the services that make them, in the same unit of work; a read has
no unit of work of its own, so it gets one here. Only opaque ids go in, never an ID number
(:func:`core.audit.entry.canonical_entry` refuses one anyway).
"""

from __future__ import annotations

from typing import Any

from core.audit.entry import AuditEvent
from core.db.engine import transaction
from idp.provider import Provider


def record_event(
    provider: Provider,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry in its own unit of work (for reads, and for actions that
    change no table, such as lifting a lockout in the cache)."""
    with transaction(provider.ctx.sessions) as session:
        provider.ctx.audit.record(
            session,
            AuditEvent(
                actor=actor,
                action=action,
                object_type=object_type,
                object_id=object_id,
                details=details or {},
            ),
        )
