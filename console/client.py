"""The console's registration as a client of the service's own provider.

The console is a confidential web client (authorization code + PKCE, refresh tokens). Its
secret is derived from the deployment's secret key, so every worker knows it without
storing it anywhere; only its keyed hash is in the client registry, as for every client.
The registration is made (or brought up to date: redirect URIs follow the issuer) the
first time a worker needs it, and by the demo seeder.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from sqlalchemy.exc import IntegrityError

from core.audit.entry import AuditEvent
from core.db.engine import transaction
from core.services import Services
from idp.clients.channels import AUTHORIZATION_CODE, REFRESH_TOKEN, Channel
from idp.clients.secrets import hash_client_secret
from idp.clients.service import ClientService
from idp.clients.storage import SqlClientStore

CLIENT_ID = "govtrust-console"
CLIENT_NAME = "政务服务管理控制台"
PREFIX = "/console"
SCOPE = "openid profile offline_access account licence:admin seal:use seal:admin"
"""Everything a role of the console may need; a role counts only where the person also
holds it (a representation allowing ``licence:admin``, and so on)."""
ACTOR = "console"


def client_secret(services: Services) -> str:
    """The console's client secret, derived from the deployment's secret key."""
    digest = hmac.new(services.settings.secret_bytes, b"govtrust console client", hashlib.sha256)
    return digest.hexdigest()


def redirect_uri(issuer: str) -> str:
    return f"{issuer.rstrip('/')}{PREFIX}/callback"


def post_logout_uri(issuer: str) -> str:
    return f"{issuer.rstrip('/')}{PREFIX}/logged-out"


def ensure_console_client(services: Services) -> None:
    """Register the console client, or make its registration match this deployment
    (issuer, scope, secret); each change lands in the audit trail. Idempotent; a disabled
    console client stays disabled."""
    issuer = services.idp.ctx.issuer
    try:
        _ensure(services, issuer)
    except IntegrityError:  # another worker registered it at the same moment
        _ensure(services, issuer)


def _ensure(services: Services, issuer: str) -> None:
    ctx = services.idp.ctx
    store = SqlClientStore()
    with services.sessions() as session:
        known = store.get(session, CLIENT_ID)
    if known is None:
        ClientService(services.sessions, services.audit, ctx.hash_key, ctx.clock).register(
            client_id=CLIENT_ID,
            name=CLIENT_NAME,
            channel=Channel.WEB,
            redirect_uris=[redirect_uri(issuer)],
            post_logout_redirect_uris=[post_logout_uri(issuer)],
            scope=SCOPE,
            grant_types=[AUTHORIZATION_CODE, REFRESH_TOKEN],
            token_endpoint_auth_method="client_secret_post",  # noqa: S106 - a method name
            actor=ACTOR,
        )
    secret_hash = hash_client_secret(ctx.hash_key, client_secret(services))
    with transaction(services.sessions) as session:
        row = store.row(session, CLIENT_ID)
        assert row is not None
        wanted = {
            "secret_hash": secret_hash,
            "redirect_uris": json.dumps([redirect_uri(issuer)]),
            "post_logout_redirect_uris": json.dumps([post_logout_uri(issuer)]),
            "scope": SCOPE,
        }
        changed = sorted(name for name, value in wanted.items() if getattr(row, name) != value)
        if not changed:
            return
        for name in changed:
            setattr(row, name, wanted[name])
        row.updated_at = ctx.clock()
        services.audit.record(
            session,
            AuditEvent(
                actor=ACTOR,
                action="client.console_configured",
                object_type="client",
                object_id=CLIENT_ID,
                details={"changed": changed},
            ),
        )
