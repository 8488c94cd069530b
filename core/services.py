"""The service's parts, assembled once from settings (no HTTP here).

This is the composition root, with :mod:`core.app` and :mod:`core.cli`: the only core
modules that import the packages built on core. Routers reach these parts through
:mod:`core.deps`; the CLI uses them directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from certs.sharing import LicenceScopes
from core.audit.merkle import tree_hash
from core.audit.trail import AuditTrail, utc_now
from core.cache import Cache, make_cache
from core.db.engine import make_engine, make_session_factory
from core.identifiers.protection import IdentifierProtector
from core.settings import Settings
from idp.credentials.otp_sms import OutboxSender
from idp.credentials.passwords import LOW_COST, RECOMMENDED
from idp.oauth.context import IdpContext
from idp.provider import Provider, build_provider
from keys.note_signer import RegistryNoteSigner
from keys.registry import KeyRegistry
from keys.setup import build_key_registry
from verify.issuing import QrIssuer
from verify.publication import status_list_uri
from verify.signing import LicenceAlgorithm


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    cache: Cache
    audit: AuditTrail
    identifiers: IdentifierProtector
    keys: KeyRegistry
    idp: Provider
    licence_qr: QrIssuer

    def close(self) -> None:
        self.idp.close()
        self.cache.close()
        self.engine.dispose()


def log_origin(issuer: str) -> str:
    """The audit log's name: the issuer's host and path, with ``/audit``."""
    parts = urlsplit(issuer)
    return f"{parts.netloc}{parts.path.rstrip('/')}/audit"


def build_services(
    settings: Settings,
    *,
    schema: str | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Services:
    engine = make_engine(settings.effective_database_url, schema=schema)
    sessions = make_session_factory(engine)
    note_signer = RegistryNoteSigner(log_origin(settings.issuer))
    audit = AuditTrail(
        signer=note_signer,
        origin=note_signer.name,
        clock=clock,
        hasher=tree_hash(settings.audit_hash),
    )
    registry = build_key_registry(settings, sessions, audit, clock)
    note_signer.attach(registry)
    cache = make_cache(settings.redis_url, prefix=settings.cache_prefix)
    identifiers = IdentifierProtector.from_secret(settings.secret_bytes, settings.at_rest_cipher)
    idp_context = IdpContext(
        issuer=settings.issuer.rstrip("/"),
        sessions=sessions,
        keys=registry,
        audit=audit,
        hash_key=hashlib.sha256(b"govtrust idp hash key\x00" + settings.secret_bytes).digest(),
        clock=clock,
        client_credentials_token_rows=settings.client_credentials_token_rows,
    )
    provider = build_provider(
        idp_context,
        identifiers,
        cache,
        password_parameters=LOW_COST if settings.environment == "test" else RECOMMENDED,
        sms_sender=OutboxSender(settings.data_dir, clock),
        trusted_proxies=tuple(settings.trusted_proxies),
        dpop_nonce_required=settings.dpop_nonce_required,
        access_token_rows_flushed=settings.access_token_rows_flushed,
        remember_usable_tokens=settings.introspection_remembers_usable_tokens,
    )
    provider.scope_extensions.append(LicenceScopes(sessions))  # licence:read:<type>
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        cache=cache,
        audit=audit,
        identifiers=identifiers,
        keys=registry,
        idp=provider,
        licence_qr=QrIssuer(
            settings.issuer,
            status_list_uri(settings.issuer),
            registry,
            clock,
            algorithm=LicenceAlgorithm(settings.licence_algorithm),
        ),
    )
