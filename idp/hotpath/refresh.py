"""Refresh (RFC 6749 §6) with rotation on the hot path.

The general path's grant is :class:`idp.grants.refresh.RotatingRefreshGrant`; this answers
the same valid requests with the same checks and writes: a confidential client of a channel
that may refresh, authenticated by its secret (§2.3.1), presenting a refresh token of its own
that is neither revoked, expired nor rotated, of a grant that is not revoked, for an active
person, with no ``scope`` parameter (the token's own scope) and no DPoP proof (RFC 9449).
The token is claimed by the same conditional ``UPDATE`` (RFC 9700 §4.14.2), and the new
access token's and refresh token's rows are committed with the claim, all or nothing, before
the answer, in plain SQL (:mod:`idp.oauth.refresh_rotation`: on SQLite in one transaction,
on the event loop unless another writer has the turn, then on a thread; on PostgreSQL in two
statements sent from the event loop); an ID token comes
with them when the scope has ``openid`` and asks only for claims of the person's row.

Everything else goes to the general path, which answers as it always has. In particular a
token that was already rotated: there the general path revokes the whole grant and records
the reuse. Nothing is written before the commit, and nothing can fail after it, so a
request declined here (by a check or by a database error) has changed nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from core.db.engine import WriteTurnTaken
from idp.grants.refresh import RotatingRefreshGrant
from idp.hotpath.client_auth import ClientLoader, grant_client
from idp.hotpath.form import HotRequest
from idp.hotpath.key_loader import KeyLoader
from idp.oauth import jws
from idp.oauth.access_token_ledger import AccessTokenRecord
from idp.oauth.claims import SCOPES_BEYOND_THE_PERSON_ROW, profile_claims
from idp.oauth.models import OAuthClient
from idp.oauth.refresh_rotation import Presented, refresh_token_columns
from idp.oauth.refresh_rotation_postgres import PostgresRefreshRotation
from idp.oauth.refresh_rotation_sqlite import SqliteRefreshRotation
from idp.oauth.server import OFFLINE_ACCESS
from idp.provider import Provider

GRANT_TYPE = RotatingRefreshGrant.GRANT_TYPE
PARAMETERS = frozenset({"grant_type", "refresh_token", "client_id", "client_secret"})


async def refresh_token(
    provider: Provider, clients: ClientLoader, keys: KeyLoader, request: HotRequest
) -> dict[str, Any] | None:
    """The token response (RFC 6749 §5.1), or None: the general path answers."""
    presented = request.form.get("refresh_token")
    if not presented:
        return None
    client = await grant_client(clients, request, GRANT_TYPE, PARAMETERS)
    if client is None:
        return None
    signer = await keys.signer("token")
    rotation = provider.refresh_rotation
    if isinstance(rotation, PostgresRefreshRotation):
        return await rotate_on_loop(provider, rotation, client, presented, signer)
    try:
        return rotate(provider, rotation, client, presented, signer, here=True)
    except WriteTurnTaken:  # another writer has the turn: wait for it on a thread
        return await asyncio.to_thread(rotate, provider, rotation, client, presented, signer)


@dataclass(frozen=True)
class Successors:
    """What a rotation answers and stores: the token response and the new tokens' rows."""

    response: dict[str, Any]
    access_token: AccessTokenRecord
    refresh_token: dict[str, Any]  # refresh_token_columns


async def rotate_on_loop(
    provider: Provider,
    statements: PostgresRefreshRotation,
    client: OAuthClient,
    presented: str,
    signer: jws.JwsSigner,
) -> dict[str, Any] | None:
    """PostgreSQL: the read, then the claim with the successors' rows in one statement,
    each sent from the event loop."""
    token_hash = provider.ctx.digest("refresh", presented)
    now = provider.ctx.clock()
    found = await statements.read(token_hash, client.get_client_id(), now)
    new = None if found is None else successors(provider, client, found, signer)
    if new is None:
        return None
    if not await statements.rotate(token_hash, now, new.access_token, new.refresh_token):
        return None  # another request rotated it meanwhile: the general path judges
    return new.response


def rotate(
    provider: Provider,
    statements: SqliteRefreshRotation,
    client: OAuthClient,
    presented: str,
    signer: jws.JwsSigner,
    *,
    here: bool = False,
) -> dict[str, Any] | None:
    """SQLite: claim ``presented`` and store its successors, all or nothing; ``here``: on
    the event loop, if no other writer has the turn (else :class:`WriteTurnTaken`, before
    anything is read), otherwise on a thread."""
    token_hash = provider.ctx.digest("refresh", presented)
    with statements.transaction(here=here) as rotation:
        now = provider.ctx.clock()
        found = rotation.read(token_hash, client.get_client_id(), now)
        new = None if found is None else successors(provider, client, found, signer)
        if new is None:
            return None
        if not rotation.rotate(token_hash, now, new.access_token, new.refresh_token):
            return None
    return new.response


def successors(
    provider: Provider, client: OAuthClient, found: Presented, signer: jws.JwsSigner
) -> Successors | None:
    """The new access token (and ID token) signed, and a new refresh token; None if the
    scope asks for claims beyond the person's row, or lacks ``offline_access`` (a refresh
    token from before refresh tokens needed it: the general path answers it without a new
    one, OpenID Connect Core §11)."""
    ctx = provider.ctx
    issuer = provider.server.issuer
    client_id = client.get_client_id()
    scopes = set(found.scope.split())
    openid = "openid" in scopes
    if (openid and scopes & SCOPES_BEYOND_THE_PERSON_ROW) or OFFLINE_ACCESS not in scopes:
        return None
    principal = found.principal
    issued = issuer.access_token(client.client, principal, found.scope, signer=signer)
    token = issued.response(found.scope, None)
    refresh = issuer.new_refresh_token()
    token["refresh_token"] = refresh
    if openid:  # OpenID Connect Core §12.2
        claims = profile_claims(found.person_name, found.person_id_number_masked)
        token["id_token"] = issuer.id_token(
            client.client,
            principal,
            nonce=None,
            access_token=issued.token,
            identity_claims=claims if "profile" in scopes else {},
            signer=signer,
        )
    return Successors(
        token,
        AccessTokenRecord.of(issued, client_id, found.scope, principal.grant_id),
        refresh_token_columns(
            ctx.digest("refresh", refresh),
            principal.grant_id,
            client_id,
            found.scope,
            issued.issued_at,
            ctx.lifetimes.refresh_token,
            None,  # a confidential client's token is not bound to a DPoP key
        ),
    )
