"""OpenID Connect CIBA (Client-Initiated Backchannel Authentication Core 1.0), poll and ping
modes, for the service-hall counter and the 12345 hotline.

The authentication request (§7.1) is checked in order; the first failure answers (§13):

1. the client authenticated (``invalid_client``) and is registered for the CIBA grant with
   a token delivery mode (``unauthorized_client``);
2. ``scope`` has ``openid`` and lies within the client's registration (``invalid_scope``);
3. exactly one hint, ``login_hint``: the person's resident ID number; ``id_token_hint`` and
   ``login_hint_token`` are not accepted, nor ``user_code`` (discovery says
   ``backchannel_user_code_parameter_supported`` false) (``invalid_request``);
4. ``login_hint`` is a well-formed ID number with a correct GB 11643 check digit
   (``invalid_request``; the value is never echoed, logged or stored);
5. it names an active person of this provider (``unknown_user_id``);
6. ``binding_message`` is short and plain (``invalid_binding_message``);
7. ``requested_expiry`` is a positive integer (``invalid_request``; capped at 10 minutes);
8. in ping mode ``client_notification_token`` is present, at most 1024 characters
   (``invalid_request``);
9. ``staff_id``, an extension parameter, is the identifier of the staff member at the
   counter or on the hotline in the client's own system, 1-64 of ``[A-Za-z0-9_-]``
   (``invalid_request``).

The token request (``grant_type=urn:openid:params:grant-type:ciba``, §10.1) is answered, in
this order (§11): ``invalid_grant`` for an ``auth_req_id`` that is unknown, issued to
another client, or already exchanged for tokens; ``expired_token``; ``access_denied`` when
the person denied; tokens when approved (claimed exactly once); else ``slow_down`` when
polled sooner than the interval (which then grows by 5 s), or ``authorization_pending``.

Tokens: an ID token and an access token with the person as subject (as the client sees
them), and the counter or hotline as actor (RFC 8693 §4.1), as token exchange names it:
``act = {"client_id": <the counter's client id>}``, with ``"staff_id"`` added when the
request named the staff member. ``act.sub`` is not used, because in this service's tokens it
names an acting *person of this provider*; a staff id is the client's own identifier. No
refresh token: the counter's access lasts one short visit, and the person approves each
time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import BaseGrant, TokenEndpointMixin
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc8628 import (
    AuthorizationPendingError,
    ExpiredTokenError,
    SlowDownError,
)

from core.errors.oauth import OAuthError
from idp.clients.channels import CIBA
from idp.clients.models import Client
from idp.oauth.access_token_ledger import AccessTokenRecord
from idp.oauth.ciba import (
    BINDING_MESSAGE,
    MAX_NOTIFICATION_TOKEN,
    STAFF_ID,
    CibaCache,
    CibaRequest,
    SqlCibaStore,
    expiry,
)
from idp.oauth.context import current_dpop_jkt, db
from idp.oauth.models import OAuthClient
from idp.oauth.principal import Principal
from idp.oauth.storage import AccessTokenRow

CIBA_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


class CibaAccessDenied(AccessDeniedError):  # type: ignore[misc]
    """§11: ``access_denied`` is answered with HTTP 403 at the token endpoint."""

    status_code = 403


@dataclass(frozen=True)
class BackchannelRequest:
    """A checked authentication request, before the person is looked up."""

    login_hint: str
    scope: str
    binding_message: str | None
    staff_id: str | None
    expires_in: int
    client_notification_token: str | None


def check_authentication_request(client: Client, data: dict[str, str]) -> BackchannelRequest:
    """Checks 1-3 and 6-9 (the look-up of the hint is the caller's). Raises OAuthError."""
    if CIBA not in client.grant_types or client.backchannel_token_delivery_mode is None:
        raise OAuthError("unauthorized_client", "the client may not use CIBA")
    scope = data.get("scope", "")
    scopes = scope.split()
    if "openid" not in scopes:
        raise OAuthError("invalid_scope", "scope must contain openid")
    if not set(scopes) <= client.allowed_scopes():
        raise OAuthError("invalid_scope", "the client is not registered for this scope")
    if "id_token_hint" in data or "login_hint_token" in data:
        raise OAuthError("invalid_request", "only login_hint (the resident ID number) is accepted")
    if "user_code" in data:
        raise OAuthError("invalid_request", "user_code is not supported")
    hint = data.get("login_hint", "")
    if not hint or len(hint) > 64:
        raise OAuthError("invalid_request", "login_hint is required")
    binding = data.get("binding_message")
    if binding is not None and not BINDING_MESSAGE.fullmatch(binding):
        raise OAuthError(
            "invalid_binding_message", "at most 32 letters, digits, spaces and - # , ( )"
        )
    seconds = expiry(data.get("requested_expiry"))
    if seconds is None:
        raise OAuthError("invalid_request", "requested_expiry must be a positive integer")
    token = data.get("client_notification_token")
    if client.backchannel_token_delivery_mode == "ping":  # noqa: S105 - a mode name
        if not token or len(token) > MAX_NOTIFICATION_TOKEN:
            raise OAuthError("invalid_request", "ping mode needs a client_notification_token")
    else:
        token = None
    staff_id = data.get("staff_id")
    if staff_id is not None and not STAFF_ID.fullmatch(staff_id):
        raise OAuthError("invalid_request", "staff_id is 1-64 of A-Z a-z 0-9 _ -")
    return BackchannelRequest(hint, " ".join(scopes), binding, staff_id, seconds, token)


def actor_claim(request: CibaRequest) -> dict[str, Any]:
    """``act`` of the tokens: the counter or hotline client, and its staff member."""
    act: dict[str, Any] = {"client_id": request.client_id}
    if request.staff_id:
        act["staff_id"] = request.staff_id
    return act


class CibaGrant(BaseGrant, TokenEndpointMixin):  # type: ignore[misc]
    """The token request with ``grant_type=urn:openid:params:grant-type:ciba`` (§10.1)."""

    GRANT_TYPE = CIBA
    TOKEN_ENDPOINT_AUTH_METHODS = CIBA_AUTH_METHODS

    def validate_token_request(self) -> None:
        auth_req_id = self.request.payload.data.get("auth_req_id")
        if not auth_req_id or len(auth_req_id) > 128:
            raise InvalidRequestError("auth_req_id is required")
        client: OAuthClient = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("the client may not use CIBA")
        ctx = self.server.ctx
        session = db()
        store = SqlCibaStore()
        request = store.by_hash(session, ctx.digest("auth_req_id", auth_req_id))
        if request is None or request.client_id != client.get_client_id():
            raise InvalidGrantError("unknown auth_req_id")
        if request.consumed_at is not None:
            raise InvalidGrantError("the auth_req_id has already been used")
        now = ctx.clock()
        if request.expired(now):
            raise ExpiredTokenError("the authentication request has expired")
        if request.decided_at is not None:
            if not request.approved or request.grant_id is None:
                raise CibaAccessDenied("the person denied the request")
            if not store.consume(session, request.id, now):  # a concurrent poll won
                raise InvalidGrantError("the auth_req_id has already been used")
            principal: Principal | None = self.server.principal_for_grant(request.grant_id)
            if principal is None:
                raise InvalidGrantError("the authorization was revoked")
            self.request.client = client
            self.request.user = principal
            self.ciba_request = request
            return
        poll = CibaCache(self.server.cache).poll(request, now)
        if poll.too_fast:
            raise SlowDownError(f"poll at most every {poll.interval} seconds")
        raise AuthorizationPendingError("the person has not answered yet")

    @hooked  # type: ignore[untyped-decorator]
    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        client: OAuthClient = self.request.client
        principal: Principal = self.request.user
        request: CibaRequest = self.ciba_request
        jkt = current_dpop_jkt.get()
        issued = self.server.issuer.access_token(
            client.client, principal, request.scope, jkt, actor=actor_claim(request)
        )
        record = AccessTokenRecord.of(
            issued, client.get_client_id(), request.scope, principal.grant_id, jkt
        )
        db().add(AccessTokenRow(**record.columns()))
        db().flush()
        token = issued.response(request.scope, jkt)
        return 200, token, self.TOKEN_RESPONSE_HEADER
