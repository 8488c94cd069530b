"""Demo data for ``govtrust serve --demo``: seeded once, credentials written to var/demo.json.

Each package that has something to demonstrate registers a seeder; a seeder returns the
part of demo.json that a person or a test needs (clients, users, passwords...).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.audit.entry import AuditEvent
from core.db.engine import transaction
from core.services import Services

Seeder = Callable[[Services], dict[str, Any]]
SEEDERS: dict[str, Seeder] = {}


def seeder(name: str) -> Callable[[Seeder], Seeder]:
    def register(function: Seeder) -> Seeder:
        SEEDERS[name] = function
        return function

    return register


@seeder("service")
def _service(services: Services) -> dict[str, Any]:
    issuer = services.settings.issuer.rstrip("/")
    return {
        "issuer": issuer,
        "health": f"{issuer}/healthz",
        "readiness": f"{issuer}/readyz",
        "audit_checkpoint": f"{issuer}/audit/checkpoint",
        "api_document": f"{issuer}/openapi.json",
    }


def seed_demo(services: Services, path: Path) -> dict[str, Any]:
    """Run every seeder, record the seeding in the audit trail, write ``path`` (mode 0600)."""
    import certs.demo  # noqa: F401  (licences; imports idp.demo, so seeded after it)
    import console.demo  # noqa: F401  (the web console's client)
    import idp.demo  # noqa: F401  (registers the provider's seeder; composition root)

    demo = {name: function(services) for name, function in SEEDERS.items()}
    with transaction(services.sessions) as session:
        services.audit.record(
            session,
            AuditEvent(
                actor="system",
                action="demo.seeded",
                object_type="deployment",
                object_id="demo",
                details={"parts": sorted(demo)},
            ),
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(demo, handle, ensure_ascii=False, indent=2)
    return demo
