"""Client authentication on the hot path (RFC 6749 §2.3.1): HTTP Basic
(``client_secret_basic``) or the form's ``client_id`` and ``client_secret``
(``client_secret_post``), against the registration this process has cached
(:class:`~idp.clients.cache.ClientCache`).

When the client is not cached (first use, or its few seconds in the cache are over), it is
loaded on a thread, once: the requests that miss it at the same moment wait for that one
load (:class:`ClientLoader`), instead of all going to the general path together, which
under load took as many pooled connections at once as there were requests in flight.

Only a success is decided here. Another method, both methods at once, an unknown or
inactive client, one registered for another method, or a wrong secret: None, and the
general path authenticates the client again and answers ``invalid_client`` where it must.
"""

from __future__ import annotations

import base64
from urllib.parse import unquote

from idp.hotpath.form import HotRequest
from idp.hotpath.single_flight import SingleFlight
from idp.oauth.models import OAuthClient
from idp.oauth.server import GovtrustAuthorizationServer


def basic_credentials(header: str) -> tuple[str, str] | None:
    """``client_id`` and secret from ``Authorization: Basic`` (RFC 6749 §2.3.1: each
    form-urlencoded, then joined by a colon, RFC 7617)."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, or a value that is not ASCII
        return None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        return None
    client_id, secret = unquote(client_id), unquote(secret)
    return (client_id, secret) if client_id and secret else None


class ClientLoader:
    """Clients for the hot path: from the cache, or loaded on a thread, one load per client
    and event loop at a time (:class:`~idp.hotpath.single_flight.SingleFlight`)."""

    def __init__(self, server: GovtrustAuthorizationServer) -> None:
        self.server = server
        self._loads: SingleFlight[OAuthClient | None] = SingleFlight()

    async def client(self, client_id: str) -> OAuthClient | None:
        client = self.server.cached_client(client_id)
        if client is not None:
            return client
        return await self._loads.get(client_id, lambda: self.server.load_client(client_id))


async def authenticated_client(
    clients: ClientLoader, request: HotRequest, endpoint: str
) -> OAuthClient | None:
    header = request.headers.get("authorization")
    if header is not None:
        if "client_id" in request.form or "client_secret" in request.form:
            return None
        credentials = basic_credentials(header)
        if credentials is None:
            return None
        client_id, secret = credentials
        method = "client_secret_basic"
    else:
        client_id = request.form.get("client_id", "")
        secret = request.form.get("client_secret", "")
        if not client_id or not secret:
            return None
        method = "client_secret_post"
    client = await clients.client(client_id)
    if (
        client is None
        or not client.check_endpoint_auth_method(method, endpoint)
        or not client.check_client_secret(secret)
    ):
        return None
    return client


async def grant_client(
    clients: ClientLoader, request: HotRequest, grant_type: str, parameters: frozenset[str]
) -> OAuthClient | None:
    """The client of a token request (RFC 6749 §3.2) for ``grant_type`` that the hot path
    may answer: no parameter but ``parameters``, no DPoP proof (RFC 9449: the general path
    checks proofs), the client authenticated and allowed the grant type; None otherwise."""
    form = request.form
    if form.get("grant_type") != grant_type or not form.keys() <= parameters:
        return None
    if "dpop" in request.headers:
        return None
    client = await authenticated_client(clients, request, "token")
    if client is None or not client.check_grant_type(grant_type):
        return None
    return client
