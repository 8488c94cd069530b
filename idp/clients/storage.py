"""The client registry's table."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Boolean, String, Text, false, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db.base import Base
from core.db.types import UtcDateTime
from idp.clients.channels import Channel
from idp.clients.models import Client


class ClientRow(Base):
    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    redirect_uris: Mapped[str] = mapped_column(Text)
    post_logout_redirect_uris: Mapped[str] = mapped_column(Text)
    grant_types: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    subject_type: Mapped[str] = mapped_column(String(16))
    sector_identifier: Mapped[str | None] = mapped_column(String(200), nullable=True)
    jwks: Mapped[str | None] = mapped_column(Text, nullable=True)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    require_pushed_authorization_requests: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    exchange_targets: Mapped[str | None] = mapped_column(Text, nullable=True)
    backchannel_token_delivery_mode: Mapped[str | None] = mapped_column(String(8), nullable=True)
    backchannel_client_notification_endpoint: Mapped[str | None] = mapped_column(
        Text, nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    def to_client(self) -> Client:
        return Client(
            client_id=self.client_id,
            name=self.name,
            channel=Channel(self.channel),
            token_endpoint_auth_method=self.token_endpoint_auth_method,
            redirect_uris=tuple(json.loads(self.redirect_uris)),
            grant_types=tuple(json.loads(self.grant_types)),
            scope=self.scope,
            status=self.status,
            secret_hash=self.secret_hash,
            post_logout_redirect_uris=tuple(json.loads(self.post_logout_redirect_uris)),
            subject_type=self.subject_type,
            sector_identifier=self.sector_identifier,
            jwks=json.loads(self.jwks) if self.jwks else None,
            backchannel_logout_uri=self.backchannel_logout_uri,
            require_pushed_authorization_requests=bool(self.require_pushed_authorization_requests),
            exchange_targets=(
                None if self.exchange_targets is None else tuple(json.loads(self.exchange_targets))
            ),
            backchannel_token_delivery_mode=self.backchannel_token_delivery_mode,
            backchannel_client_notification_endpoint=self.backchannel_client_notification_endpoint,
        )


def client_row(client: Client, now: datetime) -> ClientRow:
    return ClientRow(
        client_id=client.client_id,
        name=client.name,
        channel=client.channel.value,
        token_endpoint_auth_method=client.token_endpoint_auth_method,
        secret_hash=client.secret_hash,
        redirect_uris=json.dumps(list(client.redirect_uris)),
        post_logout_redirect_uris=json.dumps(list(client.post_logout_redirect_uris)),
        grant_types=json.dumps(list(client.grant_types)),
        scope=client.scope,
        subject_type=client.subject_type,
        sector_identifier=client.sector_identifier,
        jwks=json.dumps(client.jwks) if client.jwks else None,
        backchannel_logout_uri=client.backchannel_logout_uri,
        require_pushed_authorization_requests=client.require_pushed_authorization_requests,
        exchange_targets=(
            None if client.exchange_targets is None else json.dumps(list(client.exchange_targets))
        ),
        backchannel_token_delivery_mode=client.backchannel_token_delivery_mode,
        backchannel_client_notification_endpoint=client.backchannel_client_notification_endpoint,
        status=client.status,
        created_at=now,
        updated_at=now,
    )


class SqlClientStore:
    def get(self, session: Session, client_id: str) -> Client | None:
        row = session.get(ClientRow, client_id)
        return None if row is None else row.to_client()

    def row(self, session: Session, client_id: str) -> ClientRow | None:
        return session.get(ClientRow, client_id)

    def add(self, session: Session, client: Client, now: datetime) -> None:
        session.add(client_row(client, now))
        session.flush()

    def all(self, session: Session) -> list[Client]:
        return [
            row.to_client()
            for row in session.scalars(select(ClientRow).order_by(ClientRow.client_id))
        ]
