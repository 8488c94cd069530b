"""Backchannel authentication requests of OpenID Connect CIBA (Client-Initiated Backchannel
Authentication Core 1.0): their table, their storage and the checks of their parameters.

A counter or hotline client asks the provider to authenticate a person it names by
``login_hint`` (the resident ID number, in the back channel only, §7.1). The request is a
row of ``ciba_requests``:

- keyed for the client by the keyed hash of ``auth_req_id`` (§7.3: opaque, here 256 bits
  from :mod:`secrets`); the identifier in clear is never stored, except in ping mode, where
  it sits in the shared cache beside the ``client_notification_token`` until the request
  expires, because the ping callback must carry both (§10.2);
- a separate random ``id`` names the request to the person (approval page and SMS link);
- ``decided_at`` / ``approved`` / ``grant_id`` are written once (``UPDATE ... WHERE
  decided_at IS NULL``): approving and denying cannot both win;
- ``consumed_at`` is set once, when tokens are issued (single use, §11); the row stays, so
  a second use is recognised and refused;
- polling state (last poll, interval grown by ``slow_down``) lives in the shared cache,
  because error answers of the token endpoint roll back its unit of work.

The login hint never reaches a log or a table in clear: it is parsed (GB 11643 check digit)
and looked up by its blind index (:meth:`SqlIdentityStore.person_by_id_number`).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.cache.base import Cache
from core.db.base import Base
from core.db.types import UtcDateTime
from idp.oauth.polling import Poll, record_poll

DEFAULT_EXPIRY_SECONDS = 300
MAX_EXPIRY_SECONDS = 600
INTERVAL_SECONDS = 5
RETENTION_SECONDS = MAX_EXPIRY_SECONDS + 3600
MAX_NOTIFICATION_TOKEN = 1024  # §7.1
# §7.1: a short message shown on both devices. Letters (Chinese included), digits, spaces
# and a little punctuation; no "/", ":" or "." so that it cannot carry a link into the SMS.
BINDING_MESSAGE = re.compile(r"[\w \-#,，。、（）()]{1,32}")
# The staff member's identifier in the counter's or hotline's own system (work number).
STAFF_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class CibaRequestRow(Base):
    __tablename__ = "ciba_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    auth_req_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_clients.client_id"), index=True)
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    scope: Mapped[str] = mapped_column(Text)
    binding_message: Mapped[str | None] = mapped_column(String(64), nullable=True)
    staff_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    delivery_mode: Mapped[str] = mapped_column(String(8))
    interval: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_polled_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    approved: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    grant_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


@dataclass(frozen=True)
class CibaRequest:
    id: str
    auth_req_hash: str
    client_id: str
    person_id: str
    scope: str
    binding_message: str | None
    staff_id: str | None
    delivery_mode: str
    interval: int
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    approved: bool | None
    grant_id: str | None
    consumed_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    @classmethod
    def of(cls, row: CibaRequestRow) -> CibaRequest:
        return cls(
            id=row.id,
            auth_req_hash=row.auth_req_hash,
            client_id=row.client_id,
            person_id=row.person_id,
            scope=row.scope,
            binding_message=row.binding_message,
            staff_id=row.staff_id,
            delivery_mode=row.delivery_mode,
            interval=row.interval,
            created_at=row.created_at,
            expires_at=row.expires_at,
            decided_at=row.decided_at,
            approved=row.approved,
            grant_id=row.grant_id,
            consumed_at=row.consumed_at,
        )


@dataclass(frozen=True)
class PingTarget:
    """What the ping callback (§10.2) needs that is not stored in the table."""

    auth_req_id: str
    client_notification_token: str


def new_auth_req_id() -> str:
    return secrets.token_urlsafe(32)


class SqlCibaStore:
    """The requests, in the caller's session; every change that must happen once is a
    conditional ``UPDATE`` whose row count says who won."""

    def add(self, session: Session, request: CibaRequest) -> None:
        session.add(
            CibaRequestRow(
                id=request.id,
                auth_req_hash=request.auth_req_hash,
                client_id=request.client_id,
                person_id=request.person_id,
                scope=request.scope,
                binding_message=request.binding_message,
                staff_id=request.staff_id,
                delivery_mode=request.delivery_mode,
                interval=request.interval,
                created_at=request.created_at,
                expires_at=request.expires_at,
            )
        )
        session.flush()

    def by_hash(self, session: Session, auth_req_hash: str) -> CibaRequest | None:
        row = session.scalars(
            select(CibaRequestRow).where(CibaRequestRow.auth_req_hash == auth_req_hash)
        ).first()
        return None if row is None else CibaRequest.of(row)

    def by_id(self, session: Session, request_id: str) -> CibaRequest | None:
        row = session.get(CibaRequestRow, request_id)
        return None if row is None else CibaRequest.of(row)

    def pending_for(self, session: Session, person_id: str, now: datetime) -> list[CibaRequest]:
        """The person's undecided requests that have not expired, newest first."""
        query = (
            select(CibaRequestRow)
            .where(
                CibaRequestRow.person_id == person_id,
                CibaRequestRow.decided_at.is_(None),
                CibaRequestRow.expires_at > now,
            )
            .order_by(CibaRequestRow.created_at.desc())
            .limit(20)
        )
        return [CibaRequest.of(row) for row in session.scalars(query)]

    def decide(
        self,
        session: Session,
        request_id: str,
        *,
        approved: bool,
        grant_id: str | None,
        now: datetime,
    ) -> bool:
        """Record the person's answer; False when one was recorded already."""
        result = session.execute(
            update(CibaRequestRow)
            .where(CibaRequestRow.id == request_id, CibaRequestRow.decided_at.is_(None))
            .values(decided_at=now, approved=approved, grant_id=grant_id)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def consume(self, session: Session, request_id: str, now: datetime) -> bool:
        """Claim an approved request for issuing tokens: True exactly once."""
        result = session.execute(
            update(CibaRequestRow)
            .where(CibaRequestRow.id == request_id, CibaRequestRow.consumed_at.is_(None))
            .values(consumed_at=now)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


class CibaCache:
    """The short-lived, shared parts: polling state and the ping mode secrets."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache

    def poll(self, request: CibaRequest, now: datetime) -> Poll:
        """Record this poll: too fast, or not, and the interval from now on (§11)."""
        key = f"ciba-poll:{request.auth_req_hash}"
        return record_poll(self.cache, key, now.timestamp(), request.interval, RETENTION_SECONDS)

    def keep_ping_target(self, request_id: str, target: PingTarget, ttl: int) -> None:
        body = json.dumps(
            {"auth_req_id": target.auth_req_id, "token": target.client_notification_token}
        ).encode()
        self.cache.set(f"ciba-ping:{request_id}", body, ttl=ttl)

    def take_ping_target(self, request_id: str) -> PingTarget | None:
        raw = self.cache.get(f"ciba-ping:{request_id}")
        if raw is None:
            return None
        self.cache.delete(f"ciba-ping:{request_id}")
        data = json.loads(raw)
        return PingTarget(str(data["auth_req_id"]), str(data["token"]))


def expiry(requested: str | None) -> int | None:
    """``requested_expiry`` (§7.1) in seconds, capped; None when it is not a positive
    integer."""
    if requested is None:
        return DEFAULT_EXPIRY_SECONDS
    if not requested.isascii() or not requested.isdigit() or len(requested) > 6:
        return None
    seconds = int(requested)
    if seconds <= 0:
        return None
    return min(seconds, MAX_EXPIRY_SECONDS)


def expires_at(now: datetime, seconds: int) -> datetime:
    return now + timedelta(seconds=seconds)
