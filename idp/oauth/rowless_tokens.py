"""Client-credentials access tokens without a row: the ``jti`` that vouches for them.

By default every JWT access token gets a row before it is answered, and introspection
(RFC 7662 §2.2) calls a token active only while its row exists and is not revoked
(:mod:`idp.oauth.access_token_ledger`). A token a client gets for itself (RFC 6749 §4.4)
has no grant that could be revoked with it; the only revocation that reaches it is the
revocation of that token (RFC 7009 §2). A deployment may therefore choose
(``settings.client_credentials_token_rows = false``) to issue such tokens without a row,
to be validated from their content (RFC 9068 §4), as ``oidc-provider`` issues its JWT
access tokens:

- the token's ``jti`` is a random part and a tag: a MAC, under the provider's hash key
  (``IdpContext.hash_key``, not the signing key), of the random part and of every other
  claim of the token. A token signed with our key but not minted as rowless by us (a
  forged one, or a token of another kind whose row is missing) has no valid tag, and
  without a row it is inactive, as before;
- a token with a valid tag is usable unless a row says otherwise: revoking it writes its
  row and revokes it (:func:`idp.oauth.storage.revoke_access_token`).

Whether a token is rowless is read from the token alone, so a change of the setting
affects only tokens issued afterwards; a change of the service secret makes every rowless
token inactive (fail closed), as it does every refresh token.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

from idp.oauth.context import IdpContext

PURPOSE = "rowless access token"
SEPARATOR = "."
TAG_LENGTH = 32  # hex digits: 128 bits of the MAC


def _tag(ctx: IdpContext, random_part: str, claims: Mapping[str, Any]) -> str:
    # the claims in one canonical form, ``jti`` left out; the same bytes at issuance and at
    # introspection, since the token carries exactly these claims as JSON
    others = {name: value for name, value in claims.items() if name != "jti"}
    canonical = json.dumps(others, sort_keys=True, separators=(",", ":"))
    return ctx.digest(PURPOSE, f"{random_part}\x00{canonical}")[:TAG_LENGTH]


def rowless_jti(ctx: IdpContext, claims: Mapping[str, Any]) -> str:
    """A ``jti`` for a token with ``claims`` (its other claims), vouching that it was issued
    here without a row."""
    random_part = secrets.token_urlsafe(16)  # no SEPARATOR in the URL-safe alphabet
    return f"{random_part}{SEPARATOR}{_tag(ctx, random_part, claims)}"


def is_rowless(ctx: IdpContext, claims: Mapping[str, Any]) -> bool:
    """Whether the token with these (verified) claims was issued here without a row."""
    jti = claims.get("jti")
    if not isinstance(jti, str) or jti.count(SEPARATOR) != 1:
        return False
    random_part, tag = jti.split(SEPARATOR)
    if len(tag) != TAG_LENGTH:
        return False
    return hmac.compare_digest(tag, _tag(ctx, random_part, claims))
