"""The hot path: the OAuth requests a platform sends most, answered on the event loop.

Back-end services ask for client-credentials tokens (RFC 6749 §4.4), resource servers
introspect access tokens (RFC 7662) and every channel's client refreshes its person's
tokens (RFC 6749 §6) far more often than people log in. The general path
(``idp.routers.token``: FastAPI routing, Authlib's grant, one transaction per request in the
thread pool) spends most of its time on the framework and on handing work to a thread
(``bench/PROFILE.md``). The hot path answers the *common, valid* case of these requests
itself and hands everything else to the general path unchanged:

* on the event loop it waits on nothing but the token rows' group commit
  (:class:`~idp.oauth.access_token_ledger.AccessTokenLedger`) and, for a refresh, its atomic
  rotation (:mod:`idp.oauth.refresh_rotation`: on PostgreSQL two statements sent from the
  event loop, on SQLite one transaction, on a thread only while another writer has the
  turn): clients, keys and published keys come
  from this process's caches, or are loaded once on a thread;
* it answers only successes (and ``active: false`` for a well-signed token whose row says it
  is revoked); every error, every other grant type, authentication method or parameter,
  a DPoP proof, a reused refresh token, a client-credentials token whose key is held in a
  hardware module, goes to the general path, which answers as it always has (RFC 6749 §5.2
  errors and all);
* what it answers is what the general path would answer: the same checks (client status,
  authentication method, secret, grant type for the client's channel, registered scopes;
  signature, ``typ``, ``iss``, ``aud``, times, revocation of the token and its grant), the
  same token and JSON, the same rows stored before the answer
  (``tests/idp/test_oauth_hot_path.py`` and ``test_refresh_hot_path.py`` send each request
  both ways).
"""
