"""FastAPI dependencies: the only place routers meet the service's parts. The ones that
only look something up are ``async`` so that FastAPI does not hand them to its thread pool
(bench/PROFILE.md); the database session stays a plain generator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from core.audit.trail import AuditTrail
from core.cache import Cache
from core.services import Services
from core.settings import Settings


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    """A read-only session for one request. Handlers that write open a unit of work with
    :func:`core.db.engine.transaction` so that it is committed before they answer."""
    with services.sessions() as session:
        yield session


async def get_settings(services: ServicesDep) -> Settings:
    return services.settings


async def get_cache(services: ServicesDep) -> Cache:
    return services.cache


async def get_audit(services: ServicesDep) -> AuditTrail:
    return services.audit


DbSession = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CacheDep = Annotated[Cache, Depends(get_cache)]
AuditDep = Annotated[AuditTrail, Depends(get_audit)]
