"""Client credentials (RFC 6749 §4.4) on the hot path.

The general path's grant is :class:`idp.grants.client_credentials.ServiceClientCredentials`;
this answers the same valid requests with the same checks: a confidential client of a
channel that may use the grant, authenticated by its secret (§3.2.1), asking only for
scopes it is registered for (§3.3; none asked: its registered scope). Anything else, and a
DPoP proof (RFC 9449), goes to the general path. The token's row is committed before the
answer, as on the general path, unless the deployment issues these tokens without a row
(:mod:`idp.oauth.rowless_tokens`).
"""

from __future__ import annotations

from typing import Any

from idp.grants.client_credentials import ServiceClientCredentials, scope_to_issue
from idp.hotpath.client_auth import ClientLoader, grant_client
from idp.hotpath.form import HotRequest
from idp.hotpath.key_loader import KeyLoader
from idp.oauth.access_token_ledger import AccessTokenRecord
from idp.provider import Provider
from keys.backends.software import SoftwareBackend

GRANT_TYPE = ServiceClientCredentials.GRANT_TYPE
PARAMETERS = frozenset({"grant_type", "scope", "client_id", "client_secret"})


async def client_credentials_token(
    provider: Provider, clients: ClientLoader, keys: KeyLoader, request: HotRequest
) -> dict[str, Any] | None:
    """The token response (RFC 6749 §5.1), or None: the general path answers."""
    client = await grant_client(clients, request, GRANT_TYPE, PARAMETERS)
    if client is None:
        return None
    signer = await keys.signer("token")
    if signer.info.backend != SoftwareBackend.name:
        return None  # in a hardware module: not on the event loop
    server = provider.server
    scope = scope_to_issue(client.client, request.form.get("scope"))
    if scope is None:
        return None
    rowless = not provider.ctx.client_credentials_token_rows
    issued = server.issuer.access_token(client.client, None, scope, signer=signer, rowless=rowless)
    if not issued.rowless:
        record = AccessTokenRecord.of(issued, client.get_client_id(), scope)
        await provider.access_tokens.record(record)
    return issued.response(scope, None)
