"""The service's parts, assembled once from settings (no HTTP here).

Routers reach these through :mod:`core.deps`; the CLI uses them directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.audit.checkpoint import Ed25519NoteSigner
from core.audit.trail import AuditTrail, utc_now
from core.cache import Cache, make_cache
from core.db.engine import make_engine, make_session_factory
from core.identifiers.protection import IdentifierProtector
from core.settings import Settings


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    cache: Cache
    audit: AuditTrail
    identifiers: IdentifierProtector

    def close(self) -> None:
        self.cache.close()
        self.engine.dispose()


def log_origin(issuer: str) -> str:
    """The audit log's name: the issuer's host and path, with ``/audit``."""
    parts = urlsplit(issuer)
    return f"{parts.netloc}{parts.path.rstrip('/')}/audit"


def checkpoint_signer(settings: Settings) -> Ed25519NoteSigner:
    """Interim checkpoint key derived from the root secret (HKDF-SHA256, RFC 5869).

    ``keys/`` replaces this with the audit-checkpoint key held in the key store or HSM.
    """
    seed = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"govtrust audit checkpoint ed25519 v1",
    ).derive(settings.secret_bytes)
    return Ed25519NoteSigner(
        log_origin(settings.issuer), Ed25519PrivateKey.from_private_bytes(seed)
    )


def build_services(
    settings: Settings,
    *,
    schema: str | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Services:
    engine = make_engine(settings.effective_database_url, schema=schema)
    signer = checkpoint_signer(settings)
    return Services(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        cache=make_cache(settings.redis_url, prefix=settings.cache_prefix),
        audit=AuditTrail(signer=signer, origin=signer.name, clock=clock),
        identifiers=IdentifierProtector.from_secret(settings.secret_bytes),
    )
