"""Service channels and the grants each may use.

"一次认证、多点服务": every channel logs people in through the same provider, but each gets
only the grants that fit it. Browser and app channels use the authorization code flow with
PKCE (RFC 9700 §2.1.1); back-end services use client credentials (RFC 6749 §4.4); kiosks
the device grant (RFC 8628). Web, app and service clients may exchange a person's token
for a narrower one (RFC 8693: native SSO from the app to the web, and a department system
calling a downstream service). The service-hall counter and the 12345 hotline start
authentication for a person in the back channel (OpenID Connect CIBA Core 1.0).
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    WEB = "web"
    APP = "app"
    MINI_PROGRAM = "mini_program"
    KIOSK = "kiosk"
    COUNTER = "counter"
    HOTLINE = "hotline"
    SERVICE = "service"


AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant type name
CLIENT_CREDENTIALS = "client_credentials"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"  # RFC 8628 §3.4
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105 - RFC 8693 §2.1
CIBA = "urn:openid:params:grant-type:ciba"  # CIBA Core §10.1

CHANNEL_GRANTS: dict[Channel, frozenset[str]] = {
    Channel.WEB: frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN, TOKEN_EXCHANGE}),
    Channel.APP: frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN, TOKEN_EXCHANGE}),
    Channel.MINI_PROGRAM: frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN}),
    Channel.KIOSK: frozenset({DEVICE_CODE, REFRESH_TOKEN}),
    Channel.COUNTER: frozenset({CIBA, REFRESH_TOKEN}),
    Channel.HOTLINE: frozenset({CIBA, REFRESH_TOKEN}),
    Channel.SERVICE: frozenset({CLIENT_CREDENTIALS, TOKEN_EXCHANGE}),
}

# Channels whose clients run on the user's device and cannot keep a secret (RFC 6749 §2.1).
PUBLIC_CHANNELS = frozenset({Channel.APP, Channel.MINI_PROGRAM})

# Channels that start authentication in the back channel (CIBA).
BACKCHANNEL_CHANNELS = frozenset({Channel.COUNTER, Channel.HOTLINE})
