"""The console in ``govtrust serve --demo``: its client registered, its address in demo.json."""

from __future__ import annotations

from typing import Any

from console.client import CLIENT_ID, PREFIX, ensure_console_client
from core.demo import seeder
from core.services import Services


@seeder("console")
def seed_console(services: Services) -> dict[str, Any]:
    ensure_console_client(services)
    return {
        "url": f"{services.idp.ctx.issuer}{PREFIX}/",
        "client_id": CLIENT_ID,
        "login": "any of idp.users or certs.admin (a licence administrator)",
    }
