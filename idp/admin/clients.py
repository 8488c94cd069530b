"""Registering, listing, rotating and disabling clients for the admin API.

Registration metadata follows RFC 7591 §2 and is checked by
:class:`~idp.clients.service.ClientService` (redirect URIs per RFC 9700 §2.1 and
RFC 8252 §7; public keys only for ``private_key_jwt``, RFC 7523); the secret
(RFC 6749 §2.3.1) is returned once and stored only as a keyed hash.
Each change is audited by the service with the administrator as actor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from idp.admin.errors import Conflict, InvalidRequest, NotFound
from idp.clients.channels import Channel
from idp.clients.models import Client
from idp.clients.service import ClientService, InvalidClientMetadata, UnknownClient
from idp.clients.storage import ClientRow
from idp.provider import Provider


@dataclass(frozen=True)
class ClientPage:
    clients: list[Client]
    total: int
    limit: int
    offset: int


def client_service(provider: Provider) -> ClientService:
    ctx = provider.ctx
    return ClientService(ctx.sessions, ctx.audit, ctx.hash_key, ctx.clock)


def register_client(
    provider: Provider,
    *,
    actor: str,
    name: str,
    channel: Channel,
    redirect_uris: Sequence[str],
    scope: str,
    token_endpoint_auth_method: str | None,
    subject_type: str,
    jwks: dict[str, Any] | None = None,
    require_pushed_authorization_requests: bool = False,
    exchange_targets: Sequence[str] | None = None,
    backchannel_token_delivery_mode: str | None = None,
    backchannel_client_notification_endpoint: str | None = None,
) -> tuple[Client, str | None]:
    """Register a client (RFC 7591 §3.1); returns it and its secret, shown this once."""
    try:
        return client_service(provider).register(
            name=name,
            channel=channel,
            redirect_uris=redirect_uris,
            scope=scope,
            token_endpoint_auth_method=token_endpoint_auth_method,
            subject_type=subject_type,
            jwks=jwks,
            actor=actor,
            require_pushed_authorization_requests=require_pushed_authorization_requests,
            exchange_targets=exchange_targets,
            backchannel_token_delivery_mode=backchannel_token_delivery_mode,
            backchannel_client_notification_endpoint=backchannel_client_notification_endpoint,
        )
    except InvalidClientMetadata as exc:
        raise InvalidRequest(str(exc)) from None


def list_clients(provider: Provider, limit: int, offset: int) -> ClientPage:
    """One page of clients, ordered by client id."""
    with provider.ctx.sessions() as session:
        total = session.scalar(select(func.count()).select_from(ClientRow)) or 0
        rows = session.scalars(
            select(ClientRow).order_by(ClientRow.client_id).limit(limit).offset(offset)
        )
        clients = [row.to_client() for row in rows]
    return ClientPage(clients, int(total), limit, offset)


def get_client(provider: Provider, client_id: str) -> Client:
    with provider.ctx.sessions() as session:
        client = provider.server.clients.get(session, client_id)
    if client is None:
        raise NotFound("client")
    return client


def rotate_secret(provider: Provider, client_id: str, *, actor: str) -> str:
    """A new secret for a client that has one; the old one stops working at once in this
    worker and within seconds in the others (:mod:`idp.clients.cache`)."""
    if get_client(provider, client_id).secret_hash is None:
        raise Conflict("this client authenticates without a secret (public or private_key_jwt)")
    try:
        return client_service(provider).rotate_secret(client_id, actor=actor)
    except UnknownClient:
        raise NotFound("client") from None


def set_client_status(provider: Provider, client_id: str, status: str, *, actor: str) -> Client:
    """Enable or disable a client; a disabled client gets no token at the token endpoint,
    and its tokens no longer open this service's APIs."""
    try:
        return client_service(provider).set_status(client_id, status, actor=actor)
    except UnknownClient:
        raise NotFound("client") from None


def set_client_policy(
    provider: Provider,
    client_id: str,
    *,
    require_pushed_authorization_requests: bool | None,
    exchange_targets: Sequence[str] | None,
    clear_exchange_targets: bool,
    actor: str,
) -> Client:
    """Change the PAR requirement (RFC 9126 §6) and the token-exchange allow-list."""
    try:
        return client_service(provider).set_policy(
            client_id,
            require_pushed_authorization_requests=require_pushed_authorization_requests,
            exchange_targets=exchange_targets,
            clear_exchange_targets=clear_exchange_targets,
            actor=actor,
        )
    except UnknownClient:
        raise NotFound("client") from None
    except InvalidClientMetadata as exc:
        raise InvalidRequest(str(exc)) from None
