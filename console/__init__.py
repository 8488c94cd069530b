"""The web console: server-rendered pages for citizens, company representatives and licence
administrators, behind login through govtrust's own OpenID Connect provider.

The console is a first-party confidential client of the provider (:mod:`console.client`):
it logs people in with the authorization code flow and PKCE (:mod:`console.auth`), keeps
their tokens server-side (:mod:`console.session`), and protects every form with a
session-bound CSRF token (:mod:`console.csrf`). Pages call the service's domain functions
in-process, authorised by the person's access token checked exactly as the HTTP API checks
it (:func:`idp.routers.bearer.token_context`).
"""
