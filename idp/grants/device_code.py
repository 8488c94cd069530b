"""The device authorization grant (RFC 8628) for self-service kiosks.

The kiosk (a confidential client of the ``kiosk`` channel) asks the device authorization
endpoint for a device code and a user code (§3.1, §3.2), shows the user code and a QR code
of ``verification_uri_complete``, and polls the token endpoint (§3.4). The person approves
on their phone or the web, logged in there (:mod:`idp.routers.device`). The token endpoint
answers (§3.5), in this order:

1. ``invalid_grant`` for a device code that is unknown, was issued to another client
   (RFC 6749 §5.2) or has already been exchanged for tokens (exactly once);
2. ``expired_token`` once the code's ten minutes are over;
3. ``access_denied`` when the person denied it;
4. tokens (access, ID token with the person as subject, refresh) when approved;
5. ``slow_down`` when polled sooner than the interval since the previous poll (the
   interval then grows by 5 s), else ``authorization_pending``.

Authlib's :class:`DeviceAuthorizationEndpoint` and :class:`DeviceCodeGrant` supply the
protocol frame; storage is :class:`idp.oauth.device.DeviceCodeStore`.
"""

from __future__ import annotations

from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc6749.hooks import hooked
from authlib.oauth2.rfc8628 import (
    DEVICE_CODE_GRANT_TYPE,
    AuthorizationPendingError,
    DeviceAuthorizationEndpoint,
    DeviceCodeGrant,
    ExpiredTokenError,
    SlowDownError,
)

from idp.oauth.device import INTERVAL_SECONDS, LIFETIME_SECONDS, DeviceAuthorization
from idp.oauth.principal import Principal

# Kiosks are confidential clients: no "none".
KIOSK_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


class KioskDeviceAuthorization(DeviceAuthorizationEndpoint):  # type: ignore[misc]
    """The device authorization endpoint (RFC 8628 §3.1, §3.2)."""

    CLIENT_AUTH_METHODS = KIOSK_AUTH_METHODS
    EXPIRES_IN = LIFETIME_SECONDS
    INTERVAL = INTERVAL_SECONDS

    def get_verification_uri(self) -> str:
        return f"{self.server.ctx.issuer}/device"

    def create_endpoint_response(self, request: Any) -> tuple[int, dict[str, Any], Any]:
        client = self.authenticate_client(request)
        if not client.check_grant_type(DEVICE_CODE_GRANT_TYPE):
            raise UnauthorizedClientError("the client may not use the device grant")
        registered = client.client.allowed_scopes()
        requested = request.payload.scope
        scope = client.client.scope if requested is None else str(requested)
        if not set(scope.split()) <= registered:
            raise InvalidScopeError("the client is not registered for this scope")
        device_code = self.generate_device_code()
        authorization = self.server.devices.issue(client.get_client_id(), scope, device_code)
        verification_uri = self.get_verification_uri()
        data = {
            "device_code": device_code,
            "user_code": authorization.user_code,
            "verification_uri": verification_uri,
            # §3.3.1: for the QR code; the page still shows the code to be compared.
            "verification_uri_complete": add_params_to_uri(
                verification_uri, [("user_code", authorization.user_code)]
            ),
            "expires_in": self.EXPIRES_IN,
            "interval": self.INTERVAL,
        }
        return 200, data, default_json_headers  # with no-store (§3.2)


class KioskDeviceCodeGrant(DeviceCodeGrant):  # type: ignore[misc]
    """The token request with ``grant_type=urn:ietf:params:oauth:grant-type:device_code``."""

    TOKEN_ENDPOINT_AUTH_METHODS = KIOSK_AUTH_METHODS

    def validate_token_request(self) -> None:
        device_code = self.request.payload.data.get("device_code")
        if not device_code:
            raise InvalidRequestError("device_code is required")
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("the client may not use the device grant")
        store = self.server.devices
        authorization = store.find(device_code)
        if authorization is None or authorization.client_id != client.get_client_id():
            raise InvalidGrantError("unknown device_code")
        if store.consumed(authorization):
            raise InvalidGrantError("the device_code has already been used")
        self.request.client = client
        self.request.credential = authorization
        self.request.user = self.validate_device_credential(authorization)

    def validate_device_credential(self, authorization: DeviceAuthorization) -> Principal:
        store = self.server.devices
        if authorization.expired(self.server.ctx.clock()):
            raise ExpiredTokenError("the device code has expired")
        decision = store.decision(authorization)
        if decision is not None:
            if not decision.approved or decision.grant_id is None:
                raise AccessDeniedError("the person denied the request")
            if not store.consume(authorization):  # a concurrent poll got the tokens
                raise InvalidGrantError("the device_code has already been used")
            principal: Principal | None = self.server.principal_for_grant(decision.grant_id)
            if principal is None:
                raise InvalidGrantError("the authorization was revoked")
            return principal
        poll = store.poll(authorization)
        if poll.too_fast:
            raise SlowDownError(f"poll at most every {poll.interval} seconds")
        raise AuthorizationPendingError("the person has not answered yet")

    @hooked  # type: ignore[untyped-decorator]
    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        client = self.request.client
        authorization: DeviceAuthorization = self.request.credential
        token: dict[str, Any] = self.generate_token(
            user=self.request.user,
            scope=authorization.scope,
            include_refresh_token=client.check_grant_type("refresh_token"),
        )
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER
