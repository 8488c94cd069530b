"""The OpenID Connect provider, assembled from the service's parts."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from core.cache.base import Cache
from core.identifiers.protection import IdentifierProtector
from idp.credentials.otp_sms import OneTimeCodes, SmsSender, derive_code_key
from idp.credentials.passwords import HashParameters
from idp.credentials.throttle import LoginThrottle
from idp.identities.proofing import LocalRegistryProofing, RealNameProofing
from idp.identities.storage import SqlIdentityStore
from idp.oauth.access_token_ledger import AccessTokenLedger
from idp.oauth.claims import IdentityClaims
from idp.oauth.context import IdpContext
from idp.oauth.dpop_nonce import DpopNonces, derive_nonce_key
from idp.oauth.purpose import ScopeExtension
from idp.oauth.refresh_rotation_postgres import PostgresRefreshRotation
from idp.oauth.refresh_rotation_sqlite import SqliteRefreshRotation
from idp.oauth.server import GovtrustAuthorizationServer


@dataclass
class Provider:
    ctx: IdpContext
    server: GovtrustAuthorizationServer
    identities: SqlIdentityStore
    protector: IdentifierProtector
    cache: Cache
    password_parameters: HashParameters
    secure_cookies: bool
    throttle: LoginThrottle
    otp: OneTimeCodes
    http: httpx.Client
    proofing: RealNameProofing
    trusted_proxies: tuple[str, ...] = ()
    # RFC 9449 §8, §9: server-provided DPoP nonces, when the deployment asks for them
    dpop_nonces: DpopNonces | None = None
    # scopes defined by other packages (consent-page words, stated purpose): idp.oauth.purpose
    scope_extensions: list[ScopeExtension] = field(default_factory=list)
    # whether the hot path waits for the disk flush of its new token rows (settings)
    access_token_rows_flushed: bool = False
    # whether introspection remembers tokens found usable until a revocation (settings)
    remember_usable_tokens: bool = True
    # access-token rows written and read in batches by the hot path (idp.hotpath)
    access_tokens: AccessTokenLedger = field(init=False)
    # the hot path's refresh-token rotations, in plain SQL, the backend's own
    # (idp.hotpath.refresh)
    refresh_rotation: SqliteRefreshRotation | PostgresRefreshRotation = field(init=False)

    def __post_init__(self) -> None:
        self.access_tokens = AccessTokenLedger(
            self.ctx.sessions,
            wait_for_flush=self.access_token_rows_flushed,
            remember_usable=self.remember_usable_tokens,
        )
        engine = self.ctx.sessions.kw["bind"]
        self.refresh_rotation = (
            PostgresRefreshRotation(engine)
            if engine.dialect.name == "postgresql"
            else SqliteRefreshRotation(engine)
        )

    def close(self) -> None:
        self.access_tokens.close()
        self.refresh_rotation.close()


def build_provider(
    ctx: IdpContext,
    protector: IdentifierProtector,
    cache: Cache,
    sms_sender: SmsSender,
    password_parameters: HashParameters | None = None,
    throttle: LoginThrottle | None = None,
    trusted_proxies: tuple[str, ...] = (),
    http_client: httpx.Client | None = None,
    dpop_nonce_required: bool = False,
    access_token_rows_flushed: bool = False,
    remember_usable_tokens: bool = True,
) -> Provider:
    identities = SqlIdentityStore()
    claims = IdentityClaims(ctx, identities, protector)
    return Provider(
        ctx=ctx,
        server=GovtrustAuthorizationServer(ctx, claims, cache),
        identities=identities,
        protector=protector,
        cache=cache,
        password_parameters=password_parameters or HashParameters(),
        secure_cookies=ctx.issuer.startswith("https://"),
        throttle=throttle or LoginThrottle(cache, clock=ctx.clock),
        otp=OneTimeCodes(cache, sms_sender, ctx.clock, key=derive_code_key(ctx.hash_key)),
        http=http_client or httpx.Client(timeout=5.0, follow_redirects=False),
        # the embedded default checks names against a local registry (the demo seeds it)
        proofing=LocalRegistryProofing(ctx.sessions, protector),
        trusted_proxies=trusted_proxies,
        dpop_nonces=(
            DpopNonces(derive_nonce_key(ctx.hash_key), ctx.clock) if dpop_nonce_required else None
        ),
        access_token_rows_flushed=access_token_rows_flushed,
        remember_usable_tokens=remember_usable_tokens,
    )
