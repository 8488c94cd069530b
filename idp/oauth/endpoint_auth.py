"""How a client may authenticate (RFC 6749 §2.3) at each endpoint; discovery publishes the
same lists (RFC 8414 §2).

Introspection answers a token's claims, so only a client that can authenticate may ask
(RFC 7662 §2.1, §4): a public client (``none``) may not. A public client may revoke its own
tokens (RFC 7009 §2.1) and push its own authorization requests (RFC 9126 §2).
"""

from __future__ import annotations

TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
INTROSPECTION_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
REVOCATION_AUTH_METHODS = [*INTROSPECTION_AUTH_METHODS, "none"]
PAR_AUTH_METHODS = REVOCATION_AUTH_METHODS
