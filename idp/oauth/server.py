"""Authlib's authorization server, adapted to this service (it has no Starlette adapter).

Authlib validates the protocol; this class supplies storage, token generation, the
``iss`` authorization response parameter (RFC 9207; Authlib's extension expects a Flask
response) and the ID token (OpenID Connect Core §3.1.3.3), signed by the key registry's
token key.
"""

from __future__ import annotations

import json
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request
from sqlalchemy.orm import Session
from starlette.responses import JSONResponse, Response

from core.cache.base import Cache
from idp.clients.cache import ClientCache
from idp.clients.models import Client
from idp.clients.storage import SqlClientStore
from idp.grants.authorization_code import CodeGrant
from idp.grants.ciba import CibaGrant
from idp.grants.client_credentials import ServiceClientCredentials
from idp.grants.device_code import KioskDeviceAuthorization, KioskDeviceCodeGrant
from idp.grants.pkce import RequiredS256
from idp.grants.private_key_jwt import PrivateKeyJwt
from idp.grants.refresh import RotatingRefreshGrant
from idp.grants.token_exchange import TokenExchangeGrant
from idp.oauth.access_token_ledger import AccessTokenRecord
from idp.oauth.context import IdpContext, current_dpop_jkt, db
from idp.oauth.device import DeviceCodeStore
from idp.oauth.models import OAuthClient
from idp.oauth.principal import Principal, principal_of_grant
from idp.oauth.refresh_rotation import refresh_token_columns
from idp.oauth.requests import HttpRequest, StarletteOAuth2Request
from idp.oauth.storage import AccessTokenRow, GrantRow, RefreshTokenRow
from idp.oauth.tokens import ClaimsSource, TokenIssuer

# The identity scopes, as discovery lists them.
OFFLINE_ACCESS = "offline_access"
SCOPES_SUPPORTED = ["openid", "profile", "phone", "id_number", "organisation", OFFLINE_ACCESS]

ACCOUNT_SCOPE = "account"
"""The person's own account APIs: everything under ``/me`` (profile, consents, sessions,
agents, second factors, passkeys, the licence wallet ``/me/licences`` and its access log
``/me/licence-accesses``) and holder reads of a licence by identifier.

Only the service's own channel clients (portal, app, mini-program) are registered with it.
``openid`` alone says who the person is, nothing more: a third party the person consented to
share one licence type with (``licence:read:<type>``) holds ``openid`` too, and must neither
read the whole wallet nor list or withdraw the person's consents and sessions. A client gets
a scope only if it is registered with it (:meth:`idp.oauth.models.OAuthClient.get_allowed_scope`,
rechecked by :func:`idp.routers.bearer.token_context`); without it these APIs answer 403
``insufficient_scope`` (RFC 6750 §3.1). Not in discovery: third parties have no use for it.
"""


class OpenIdTokens:
    """Adds ``id_token`` to token responses whose scope has ``openid``."""

    def __init__(self, server: GovtrustAuthorizationServer) -> None:
        self.server = server

    def __call__(self, grant: Any) -> None:
        grant.register_hook("after_create_token_response", self.process_token)

    def process_token(self, grant: Any, response: Any) -> Any:
        _, token, _ = response
        scopes = set(str(token.get("scope", "")).split())
        principal = grant.request.user
        if "openid" not in scopes or not isinstance(principal, Principal):
            return token
        code = getattr(grant.request, "authorization_code", None)
        client = grant.request.client.client
        token["id_token"] = self.server.issuer.id_token(
            client,
            principal,
            nonce=code.get_nonce() if code is not None else None,
            access_token=token.get("access_token"),
            identity_claims=self.server.claims.claims(principal, scopes, client, db()),
        )
        return token


class GovtrustAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, ctx: IdpContext, claims: ClaimsSource, cache: Cache) -> None:
        # Scopes are checked against each client's registration (OAuthClient and the
        # grants), not a server-wide list: API scopes (licence:read, admin:*) exist too.
        super().__init__(scopes_supported=None)
        self.ctx = ctx
        self.claims = claims
        self.issuer = TokenIssuer(ctx)
        self.clients = SqlClientStore()
        self.client_cache = ClientCache()
        openid = OpenIdTokens(self)
        self.register_grant(CodeGrant, [RequiredS256(required=True), openid])
        self.register_grant(RotatingRefreshGrant, [openid])
        self.register_grant(ServiceClientCredentials)
        # -- kiosks: device authorization grant (RFC 8628); exchange (RFC 8693) --
        self.devices = DeviceCodeStore(cache, ctx)
        self.register_endpoint(KioskDeviceAuthorization(self))
        self.register_grant(KioskDeviceCodeGrant, [openid])
        self.register_grant(TokenExchangeGrant)
        # -- end of RFC 8628 / RFC 8693 --
        # -- counter and hotline: OpenID Connect CIBA (poll and ping) --
        self.cache = cache
        self.register_grant(CibaGrant, [openid])
        self.register_client_auth_method(
            PrivateKeyJwt.CLIENT_AUTH_METHOD, PrivateKeyJwt(ctx.issuer, cache)
        )

    # -- storage hooks -----------------------------------------------------------------

    def query_client(self, client_id: str) -> OAuthClient | None:
        return self._usable(self.registered_client(db(), client_id))

    def load_client(self, client_id: str) -> OAuthClient | None:
        """:meth:`query_client` in a session of its own (for a thread of ``idp.hotpath``);
        the client is cached for the next requests."""
        with self.ctx.sessions() as session:
            return self._usable(self.registered_client(session, client_id))

    def registered_client(self, session: Session, client_id: str) -> Client | None:
        """The client's registration, active or not, from this process's cache or read in
        ``session`` (then cached): for the pages of a login, which name the client."""
        return self.client_cache.get(client_id, lambda: self.clients.get(session, client_id))

    def cached_client(self, client_id: str) -> OAuthClient | None:
        """:meth:`query_client` without the database: None unless this process holds the
        client (for code on the event loop, ``idp.hotpath``)."""
        return self._usable(self.client_cache.peek(client_id))

    def _usable(self, client: Client | None) -> OAuthClient | None:
        """An active registration as Authlib's client; None for a missing or inactive one."""
        if client is None or not client.active:
            return None
        return OAuthClient(client, self.ctx.hash_key)

    def principal_for_grant(self, grant_id: str) -> Principal | None:
        """The person of a grant that is still valid (None once revoked)."""
        grant = db().get(GrantRow, grant_id)
        if grant is None or grant.revoked_at is not None:
            return None
        return principal_of_grant(grant)

    def generate_token(
        self,
        grant_type: str,
        client: OAuthClient,
        user: Principal | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        scope = scope or ""
        jkt = current_dpop_jkt.get()
        rowless = (
            grant_type == "client_credentials"
            and user is None
            and not self.ctx.client_credentials_token_rows
        )
        issued = self.issuer.access_token(client.client, user, scope, jkt, rowless=rowless)
        token = issued.response(scope, jkt)
        refresh = None
        # OpenID Connect Core §11: a refresh token (access while the person is away) only for
        # a grant whose consent included offline_access, which the consent page says so
        if include_refresh_token and user is not None and OFFLINE_ACCESS in scope.split():
            refresh = self.issuer.new_refresh_token()
            token["refresh_token"] = refresh
        session = db()
        grant_id = user.grant_id if user else None
        if not issued.rowless:
            record = AccessTokenRecord.of(issued, client.get_client_id(), scope, grant_id, jkt)
            session.add(AccessTokenRow(**record.columns()))
        if refresh is not None and user is not None:
            columns = refresh_token_columns(
                self.ctx.digest("refresh", refresh),
                user.grant_id,
                client.get_client_id(),
                scope,
                issued.issued_at,
                self.ctx.lifetimes.refresh_token,
                # RFC 9449 §5.2: a public client's refresh token is bound to its key
                jkt if client.client.is_public else None,
            )
            session.add(RefreshTokenRow(**columns))
        session.flush()
        return token

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        """Stored when generated (only hashes and ids)."""

    # -- HTTP adapter ------------------------------------------------------------------

    def create_oauth2_request(self, request: HttpRequest | OAuth2Request) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return StarletteOAuth2Request(request)

    def create_json_request(self, request: Any) -> Any:
        raise NotImplementedError("no JSON requests at the OAuth endpoints")

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        header_map = dict(headers or [])
        if isinstance(body, dict):
            header_map.setdefault("Cache-Control", "no-store")
            header_map.setdefault("Pragma", "no-cache")
            return JSONResponse(body, status_code=status, headers=header_map)
        if "Location" in header_map:
            # RFC 9207 §2: every authorization response, errors included, names the issuer.
            header_map["Location"] = add_params_to_uri(
                header_map["Location"], {"iss": self.ctx.issuer}
            )
            status = 303  # after a POST with credentials, never 307 (RFC 9700 §4.12)
        return Response(
            content=body if isinstance(body, str | bytes) else json.dumps(body),
            status_code=status,
            headers=header_map,
        )

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None
