"""Grants, authorization codes, tokens, login sessions and consents.

Only keyed hashes of codes, refresh tokens and session ids are stored (fosite's habit): a
database leak yields nothing usable. Codes and refresh tokens are marked consumed, never
deleted, so that a replay is recognised and revokes the whole grant (RFC 9700 §4.5,
§4.14.2).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db.base import Base
from core.db.types import UtcDateTime


class GrantRow(Base):
    """Everything issued from one authorization shares its grant id."""

    __tablename__ = "oauth_grants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.client_id"), index=True)
    person_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    subject: Mapped[str | None] = mapped_column(String(64), nullable=True)
    organisation_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    organisation_subject: Mapped[str | None] = mapped_column(String(64), nullable=True)
    scope: Mapped[str] = mapped_column(Text)
    auth_time: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    acr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    amr: Mapped[str] = mapped_column(String(200), default="")
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # the purpose the client stated in its authorization request (授权用证), if any
    purpose: Mapped[str | None] = mapped_column(String(200), nullable=True)


class CodeRow(Base):
    __tablename__ = "oauth_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("oauth_grants.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(Text, nullable=True)
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class AccessTokenRow(Base):
    """JWT access tokens are self-contained; the row lets introspection honour revocation."""

    __tablename__ = "oauth_access_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str | None] = mapped_column(
        ForeignKey("oauth_grants.id"), nullable=True, index=True
    )
    client_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    dpop_jkt: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RefreshTokenRow(Base):
    __tablename__ = "oauth_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("oauth_grants.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    dpop_jkt: Mapped[str | None] = mapped_column(String(64), nullable=True)


class LoginSessionRow(Base):
    __tablename__ = "login_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    acting_organisation_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    auth_time: Mapped[datetime] = mapped_column(UtcDateTime())
    acr: Mapped[str] = mapped_column(String(64))
    amr: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class ConsentRow(Base):
    __tablename__ = "oauth_consents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32))
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.client_id"))
    organisation_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    scope: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    purpose: Mapped[str | None] = mapped_column(String(200), nullable=True)

    __table_args__ = (Index("ix_oauth_consents_person_client", "person_id", "client_id"),)


def revoke_grant(session: Session, grant_id: str, now: datetime, reason: str) -> None:
    """Revoke a grant and everything issued from it (RFC 9700 §4.5.3, §4.14.2)."""
    session.execute(
        update(GrantRow)
        .where(GrantRow.id == grant_id, GrantRow.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    for table in (AccessTokenRow, RefreshTokenRow):
        session.execute(
            update(table)
            .where(table.grant_id == grant_id, table.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    session.flush()


def revoke_access_token(session: Session, claims: dict[str, Any], now: datetime) -> None:
    """Revoke the access token with these (verified) claims (RFC 7009 §2). A token issued
    without a row (:mod:`idp.oauth.rowless_tokens`) gets one here: written unrevoked, then
    revoked by an ``UPDATE``, in one transaction, so that the same triggers and statement
    watchers that see any other revocation see this one
    (:mod:`idp.oauth.usable_token_memory`)."""
    jti = claims["jti"]
    if session.get(AccessTokenRow, jti) is None:
        row = AccessTokenRow(
            jti=jti,
            grant_id=None,
            client_id=str(claims["client_id"]),
            subject=str(claims.get("sub", "")),
            scope=str(claims.get("scope", "")),
            issued_at=datetime.fromtimestamp(int(claims["iat"]), UTC),
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            dpop_jkt=(claims.get("cnf") or {}).get("jkt"),
        )
        try:
            with session.begin_nested():  # a concurrent revocation may write it first
                session.add(row)
        except IntegrityError:
            pass
    session.execute(
        update(AccessTokenRow)
        .where(AccessTokenRow.jti == jti, AccessTokenRow.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.flush()


def access_token_usable(
    *, revoked_at: object, grant_id: str | None, grant_found: bool, grant_revoked_at: object
) -> bool:
    """What an access token's row says (RFC 7009 §2 reaching a self-contained token): usable
    while neither it nor its grant, if it has one, is revoked (:func:`revoke_grant`)."""
    return revoked_at is None and (grant_id is None or (grant_found and grant_revoked_at is None))


def active_consents(
    session: Session,
    person_id: str,
    client_id: str,
    organisation_id: str | None,
    *,
    hold: bool = False,
) -> list[ConsentRow]:
    """The consents in force of the person to the client, for themselves or for
    ``organisation_id``, newest first; ``hold``: the rows read ``FOR SHARE`` until the
    transaction ends."""
    query = (
        select(ConsentRow)
        .where(
            ConsentRow.person_id == person_id,
            ConsentRow.client_id == client_id,
            ConsentRow.revoked_at.is_(None),
        )
        .order_by(ConsentRow.granted_at.desc(), ConsentRow.id)
    )
    if hold:
        query = query.with_for_update(read=True)
    return [row for row in session.scalars(query) if row.organisation_id == organisation_id]
