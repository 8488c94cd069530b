"""Service channels and the grants each may use.

"一次认证、多点服务": every channel logs people in through the same provider, but each gets
only the grants that fit it. Browser and app channels use the authorization code flow with
PKCE (RFC 9700 §2.1.1); back-end services use client credentials (RFC 6749 §4.4); kiosks
(device grant, RFC 8628) and the counter and hotline (CIBA) are added with their grants.
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

CHANNEL_GRANTS: dict[Channel, frozenset[str]] = {
    Channel.WEB: frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN}),
    Channel.APP: frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN}),
    Channel.MINI_PROGRAM: frozenset({AUTHORIZATION_CODE, REFRESH_TOKEN}),
    Channel.KIOSK: frozenset({REFRESH_TOKEN}),
    Channel.COUNTER: frozenset({REFRESH_TOKEN}),
    Channel.HOTLINE: frozenset({REFRESH_TOKEN}),
    Channel.SERVICE: frozenset({CLIENT_CREDENTIALS}),
}

# Channels whose clients run on the user's device and cannot keep a secret (RFC 6749 §2.1).
PUBLIC_CHANNELS = frozenset({Channel.APP, Channel.MINI_PROGRAM})
