"""A refresh token's rotation in one short transaction of plain SQL, for the hot path
(:mod:`idp.hotpath.refresh`).

The general path (:class:`idp.grants.refresh.RotatingRefreshGrant` under Authlib, in an ORM
unit of work) spends about 8 ms of CPU on a refresh, most of it in the ORM around six
statements (``bench/PROFILE.md``, eighth pass). This sends the same reads and writes through
the driver itself, on a connection of the calling thread's own
(:class:`~core.db.driver_connection.ThreadConnections`), in one transaction:

1. :meth:`Rotation.read`: the token's row, its grant and the grant's person, in one
   ``SELECT``, judged by :func:`usable` with the same checks as ``authenticate_refresh_token``
   (not revoked, not expired, not yet rotated, the grant not revoked, the presenting
   client's token, no DPoP binding) and an active person; anything else is not decided here;
2. :meth:`Rotation.claim`: the conditional ``UPDATE`` that only one request can win (RFC
   9700 §4.14.2), as on the general path;
3. :meth:`Rotation.store`: the new access token's and refresh token's rows, converted by
   the columns' own types, so they are stored exactly as the ORM stores them.

A token that was already rotated is *not* decided here: the caller leaves such a request to
the general path, which revokes the whole grant and audits the reuse. So this module only
ever rotates a token that is valid; every refusal stays with the general path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Engine, Table

from core.db.driver_connection import (
    PLACEHOLDERS,
    DriverConnection,
    ThreadConnections,
    driver_converters,
    result_converters,
)
from core.db.engine import write_turn
from idp.identities.storage import PersonRow
from idp.oauth import access_token_ledger
from idp.oauth.access_token_ledger import AccessTokenRecord
from idp.oauth.principal import Principal, principal_of_grant
from idp.oauth.storage import GrantRow, RefreshTokenRow

TOKENS: Table = RefreshTokenRow.__table__  # type: ignore[assignment]
GRANTS: Table = GrantRow.__table__  # type: ignore[assignment]
PERSONS: Table = PersonRow.__table__  # type: ignore[assignment]
REFRESH_COLUMNS = (
    "token_hash",
    "grant_id",
    "client_id",
    "scope",
    "issued_at",
    "expires_at",
    "dpop_jkt",
)


class Found(NamedTuple):
    """What :meth:`Rotation.read` selects, in its order."""

    client_id: str
    scope: str
    expires_at: datetime
    rotated_at: Any  # only whether it is NULL is read
    revoked_at: Any
    dpop_jkt: str | None
    grant_revoked_at: Any
    id: str  # the grant's
    person_id: str | None
    subject: str | None
    auth_time: datetime | None
    acr: str | None
    amr: str
    organisation_id: str | None
    organisation_subject: str | None
    session_id: str | None
    person_status: str | None
    person_name: str | None
    person_id_number_masked: str | None


_SELECTED = (
    (TOKENS, "client_id"),
    (TOKENS, "scope"),
    (TOKENS, "expires_at"),
    (TOKENS, "rotated_at"),
    (TOKENS, "revoked_at"),
    (TOKENS, "dpop_jkt"),
    (GRANTS, "revoked_at"),
    (GRANTS, "id"),
    (GRANTS, "person_id"),
    (GRANTS, "subject"),
    (GRANTS, "auth_time"),
    (GRANTS, "acr"),
    (GRANTS, "amr"),
    (GRANTS, "organisation_id"),
    (GRANTS, "organisation_subject"),
    (GRANTS, "session_id"),
    (PERSONS, "status"),
    (PERSONS, "name"),
    (PERSONS, "id_number_masked"),
)


@dataclass(frozen=True)
class Presented:
    """A refresh token found usable, with what its grant and person say."""

    scope: str
    principal: Principal
    person_name: str
    person_id_number_masked: str


def usable(found: Found | None, client_id: str, now: datetime) -> Presented | None:
    """The row as the general path would judge it, or None: not decided here."""
    if (
        found is None
        or found.revoked_at is not None
        or found.rotated_at is not None  # a reuse: the general path revokes the grant
        or found.expires_at <= now
        or found.grant_revoked_at is not None
        or found.client_id != client_id  # RefreshRecord.check_client
        or found.dpop_jkt is not None  # RFC 9449 §5.2: the general path checks the proof
        or found.person_status != "active"
        or found.person_name is None
        or found.person_id_number_masked is None
    ):
        return None
    principal = principal_of_grant(found)
    if principal is None:
        return None
    return Presented(
        found.scope,
        principal,
        found.person_name,
        found.person_id_number_masked,
    )


def refresh_token_columns(
    token_hash: str,
    grant_id: str,
    client_id: str,
    scope: str,
    issued_at: datetime,
    lifetime: timedelta,
    dpop_jkt: str | None,
) -> dict[str, Any]:
    """A new refresh token's row (only its keyed hash is stored), on either path."""
    return {
        "token_hash": token_hash,
        "grant_id": grant_id,
        "client_id": client_id,
        "scope": scope,
        "issued_at": issued_at,
        "expires_at": issued_at + lifetime,
        "dpop_jkt": dpop_jkt,
    }


class RefreshRotation:
    """The rotation's statements, made once for the engine's dialect (names and placeholders
    only; every value is a parameter)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connections = ThreadConnections(engine)
        p = PLACEHOLDERS[engine.dialect.paramstyle]
        names = {TOKENS: "t", GRANTS: "g", PERSONS: "p"}
        selected = ", ".join(f"{names[table]}.{column}" for table, column in _SELECTED)
        self.read_sql = (
            f"SELECT {selected} FROM {TOKENS.name} t "  # noqa: S608
            f"JOIN {GRANTS.name} g ON g.id = t.grant_id "
            f"LEFT JOIN {PERSONS.name} p ON p.id = g.person_id "
            f"WHERE t.token_hash = {p}"
        )
        self.claim_sql = (
            f"UPDATE {TOKENS.name} SET rotated_at = {p} "  # noqa: S608
            f"WHERE token_hash = {p} AND rotated_at IS NULL"
        )
        self.insert_access_token_sql = access_token_ledger.insert_sql(p, 1)
        self.insert_refresh_token_sql = (
            f"INSERT INTO {TOKENS.name} ({', '.join(REFRESH_COLUMNS)}) "  # noqa: S608
            f"VALUES ({', '.join([p] * len(REFRESH_COLUMNS))})"
        )
        self.read_converters = [
            result_converters(engine, table, [column])[0] for table, column in _SELECTED
        ]
        self.now_converter = driver_converters(engine, TOKENS, ["rotated_at"])[0]
        self.access_token_converters = driver_converters(
            engine, access_token_ledger.TOKENS, access_token_ledger.COLUMNS
        )
        self.refresh_token_converters = driver_converters(engine, TOKENS, REFRESH_COLUMNS)

    @contextmanager
    def transaction(self) -> Iterator[Rotation]:
        """One transaction on this thread's connection, after this process's other writers
        (SQLite): committed at the end, rolled back on any exception."""
        connection = self._connections.get()
        with write_turn(self._engine), connection.transaction():
            yield Rotation(self, connection)

    def close(self) -> None:
        self._connections.close()


class Rotation:
    """The statements of one rotation, inside :meth:`RefreshRotation.transaction`."""

    def __init__(self, statements: RefreshRotation, connection: DriverConnection) -> None:
        self._statements = statements
        self._connection = connection

    def read(self, token_hash: str, client_id: str, now: datetime) -> Presented | None:
        rows = self._connection.query(self._statements.read_sql, [token_hash])
        if len(rows) != 1:
            return None
        converted = (
            convert(value)
            for convert, value in zip(self._statements.read_converters, rows[0], strict=True)
        )
        return usable(Found(*converted), client_id, now)

    def claim(self, token_hash: str, now: datetime) -> bool:
        """Mark the token rotated; False if another request did first (or it is gone)."""
        sql = self._statements.claim_sql
        return (
            self._connection.execute_count(sql, [self._statements.now_converter(now), token_hash])
            == 1
        )

    def store(self, access_token: AccessTokenRecord, refresh_token: dict[str, Any]) -> None:
        """The new tokens' rows (:func:`refresh_token_columns` for the refresh token's)."""
        statements = self._statements
        self._connection.execute_count(
            statements.insert_access_token_sql,
            [
                convert(getattr(access_token, column))
                for column, convert in zip(
                    access_token_ledger.COLUMNS, statements.access_token_converters, strict=True
                )
            ],
        )
        self._connection.execute_count(
            statements.insert_refresh_token_sql,
            [
                convert(refresh_token[column])
                for column, convert in zip(
                    REFRESH_COLUMNS, statements.refresh_token_converters, strict=True
                )
            ],
        )
