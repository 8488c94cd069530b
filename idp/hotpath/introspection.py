"""Introspection (RFC 7662) of a JWT access token (RFC 9068) on the hot path.

The general path is ``idp.routers.token._introspect``; this answers the same requests for
access tokens with the same checks: the caller authenticated as a client (RFC 7662 §2.1),
the token's signature by a published token key and its ``typ``, ``iss``, ``aud`` and times
(:func:`~idp.oauth.access_tokens.claims_acceptable`), then its row: neither it nor its grant
revoked (§2.2: ``active: false`` otherwise); no row: active only if it was issued without
one (:mod:`idp.oauth.rowless_tokens`). Anything that is not a well-signed access token
of ours (a refresh token, garbage, an expired token) goes to the general path.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from idp.hotpath.client_auth import ClientLoader, authenticated_client
from idp.hotpath.form import HotRequest
from idp.hotpath.key_loader import KeyLoader
from idp.hotpath.signatures import VerifiedTokens
from idp.oauth.access_tokens import claims_acceptable, keys_by_kid
from idp.oauth.rowless_tokens import is_rowless
from idp.provider import Provider

PARAMETERS = frozenset({"token", "token_type_hint", "client_id", "client_secret"})


async def introspect(
    provider: Provider,
    verified: VerifiedTokens,
    clients: ClientLoader,
    keys: KeyLoader,
    request: HotRequest,
) -> dict[str, Any] | None:
    """The introspection response (RFC 7662 §2.2), or None: the general path answers."""
    form = request.form
    token = form.get("token", "")
    if token.count(".") != 2 or not form.keys() <= PARAMETERS:
        return None
    published = await keys.published("token")
    if await authenticated_client(clients, request, "introspection") is None:
        return None
    claims = verified.claims(token, keys_by_kid(published))
    if claims is None or not claims_acceptable(provider.ctx, claims):
        return None
    rowless = partial(is_rowless, provider.ctx, claims)  # asked only if it has no row
    if not await provider.access_tokens.usable(claims["jti"], rowless=rowless):
        return {"active": False}
    return {"active": True, "token_type": "Bearer", **claims}
