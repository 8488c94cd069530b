"""The OpenAPI document of the app, built without touching any database or cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.app import create_app
from core.services import build_services
from core.settings import Settings

COMMITTED = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def openapi_document() -> dict[str, Any]:
    settings = Settings(environment="test", database_url="sqlite://")
    services = build_services(settings)
    try:
        return create_app(services=services).openapi()
    finally:
        services.close()
