"""Bearer access tokens for the service's own APIs (RFC 6750), answered as problem+json.

The admin and self-service APIs are protected resources, not OAuth endpoints: their errors
are RFC 9457 problem documents, but the challenge still travels in ``WWW-Authenticate`` as
RFC 6750 §3 requires. The token is accepted only in the ``Authorization`` header (§2.1),
never in a query string (§2.3; RFC 9700 §2.5); a request without one gets a bare challenge
(§3: no error code), an invalid, expired or revoked token ``invalid_token`` (401), and a
valid token without every required scope ``insufficient_scope`` (403, §3.1).

Beyond what :func:`~idp.oauth.access_tokens.verify_access_token` checks (signature, RFC 9068
claims, revocation), a scope counts only while the token's client is active and still
registered with that scope, so disabling a client or narrowing its scope takes effect at
once, and a token minted with a scope the client was never given grants nothing here.

With server-provided DPoP nonces on (RFC 9449 §9), a DPoP proof without the resource
servers' current nonce is answered 401 with ``WWW-Authenticate: DPoP error="use_dpop_nonce"``
and the nonce in ``DPoP-Nonce``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import HTTPException

from idp.identities.storage import PersonRow
from idp.oauth import dpop, dpop_nonce
from idp.oauth.access_tokens import verify_access_token
from idp.oauth.storage import GrantRow
from idp.provider import Provider
from idp.routers.interaction_forms import ProviderDep

REALM = "govtrust"


@dataclass(frozen=True)
class TokenContext:
    """Who called, as a valid access token says.

    ``sub`` is the token's subject (a client id for client credentials, an organisation
    when a person acts for one); ``act_sub`` the acting person then (RFC 8693 §4.1);
    ``person_id`` the internal id of the person behind the token (from its grant), None
    for a client's own token.
    """

    sub: str
    client_id: str
    scopes: frozenset[str]
    act_sub: str | None
    grant_id: str | None
    person_id: str | None
    acr: str | None = None  # the level the person logged in at, from the grant


class BearerError(Exception):
    """An RFC 6750 §3.1 error: ``error`` is None when no token was sent at all."""

    def __init__(
        self,
        status: int,
        error: str | None,
        description: str,
        scope: str | None = None,
        dpop_nonce: str | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.scope = scope
        self.dpop_nonce = dpop_nonce

    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value (RFC 6750 §3; RFC 9449 §7.1, §9 for DPoP)."""
        params = [f'realm="{REALM}"']
        if self.error is not None:
            params.append(f'error="{self.error}"')
            params.append(f'error_description="{self.description}"')
        if self.scope:
            params.append(f'scope="{self.scope}"')
        if self.dpop_nonce is not None:
            algs = " ".join(dpop.ALGORITHMS)
            return "DPoP " + ", ".join([*params, f'algs="{algs}"'])
        return "Bearer " + ", ".join(params)

    def headers(self) -> dict[str, str]:
        headers = {"WWW-Authenticate": self.challenge(), "Cache-Control": "no-store"}
        if self.dpop_nonce is not None:
            headers["DPoP-Nonce"] = self.dpop_nonce
        return headers


def _invalid() -> BearerError:
    return BearerError(401, "invalid_token", "the access token is not valid")


@dataclass(frozen=True)
class Presentation:
    """How the token came: its scheme, and for DPoP the proof and the request it is for."""

    scheme: str = "bearer"
    proof: str | None = None
    method: str = "GET"
    path: str = "/"


def token_context(
    provider: Provider,
    token: str,
    required: frozenset[str],
    *,
    person: bool = False,
    presentation: Presentation | None = None,
) -> TokenContext:
    """Check ``token`` and that it has every scope in ``required`` (RFC 6750 §3.1).

    With ``person``, the token must be a person's (from the code flow), not a client's.
    Raises :class:`BearerError`.
    """
    ctx = provider.ctx
    with ctx.sessions() as session:
        claims = verify_access_token(ctx, session, token)
        if claims is None:
            raise _invalid()
        how = presentation or Presentation()
        nonces = provider.dpop_nonces
        refused = dpop.check_presentation(
            claims,
            scheme=how.scheme,
            token=token,
            proof=how.proof,
            method=how.method,
            url=f"{ctx.issuer}{how.path}",
            cache=provider.cache,
            now=ctx.clock,
            nonce_check=None if nonces is None else nonces.checker(dpop_nonce.RESOURCE),
        )
        if refused == "use_dpop_nonce" and nonces is not None:
            raise BearerError(
                401,
                "use_dpop_nonce",
                "send a DPoP proof with the server's nonce",
                dpop_nonce=nonces.current(dpop_nonce.RESOURCE),
            )
        if refused is not None:
            raise _invalid()
        client = provider.server.clients.get(session, str(claims.get("client_id", "")))
        if client is None or not client.active:
            raise _invalid()
        scopes = frozenset(str(claims.get("scope", "")).split()) & client.allowed_scopes()
        grant_id = claims.get("_grant_id")
        person_id: str | None = None
        acr: str | None = None
        if grant_id is not None:
            grant = session.get(GrantRow, grant_id)
            if grant is None or grant.revoked_at is not None:
                raise _invalid()
            if grant.person_id:
                row = session.get(PersonRow, grant.person_id)
                if row is None or row.status != "active":
                    raise _invalid()
                person_id = row.id
                acr = grant.acr
    missing = required - scopes
    if missing:
        wanted = " ".join(sorted(required))
        raise BearerError(403, "insufficient_scope", f"this needs the scope {wanted}", wanted)
    if person and person_id is None:
        raise BearerError(403, "insufficient_scope", "this needs a person's access token")
    act: Any = claims.get("act")
    act_sub = str(act["sub"]) if isinstance(act, dict) and "sub" in act else None
    return TokenContext(
        sub=str(claims["sub"]),
        client_id=client.client_id,
        scopes=scopes,
        act_sub=act_sub,
        grant_id=None if grant_id is None else str(grant_id),
        person_id=person_id,
        acr=acr,
    )


def require_scopes(*scopes: str, person: bool = False) -> Callable[..., TokenContext]:
    """A FastAPI dependency: the :class:`TokenContext` of a valid Bearer token holding
    all of ``scopes`` (and, with ``person``, a person's token); otherwise a problem+json
    401/403 carrying the RFC 6750 §3 ``WWW-Authenticate`` challenge."""
    required = frozenset(scopes)

    def dependency(provider: ProviderDep, request: Request) -> TokenContext:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        try:
            if scheme.lower() not in ("bearer", "dpop") or not value.strip():
                raise BearerError(401, None, "send an access token as a Bearer token")
            presentation = Presentation(
                scheme.lower(), request.headers.get("dpop"), request.method, request.url.path
            )
            return token_context(
                provider, value.strip(), required, person=person, presentation=presentation
            )
        except BearerError as error:
            raise HTTPException(
                error.status, detail=error.description, headers=error.headers()
            ) from None

    return dependency


def no_store(response: Response) -> None:
    """Answers to token-bearing requests hold personal data or secrets: never stored by a
    cache (RFC 9111 §5.2.2.5; as RFC 6749 §5.1 asks of token responses)."""
    response.headers["Cache-Control"] = "no-store"
