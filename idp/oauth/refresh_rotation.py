"""A refresh token's rotation in plain SQL, atomic, for the hot path
(:mod:`idp.hotpath.refresh`): what both backends share (the read, how its row is judged, the
new rows' parameters); each backend's statements and where they are sent are in
:mod:`idp.oauth.refresh_rotation_sqlite` and :mod:`idp.oauth.refresh_rotation_postgres`.

The general path (:class:`idp.grants.refresh.RotatingRefreshGrant` under Authlib, in an ORM
unit of work) spends about 8 ms of CPU on a refresh, most of it in the ORM around six
statements (``bench/PROFILE.md``, eighth pass). This sends the same reads and writes through
the driver itself:

1. the read: the token's row, its grant and the grant's person, in one
   ``SELECT``, judged by :func:`usable` with the same checks as ``authenticate_refresh_token``
   (not revoked, not expired, not yet rotated, the grant not revoked, the presenting
   client's token, no DPoP binding) and an active person; anything else is not decided here;
2. the rotation: the conditional ``UPDATE`` that only one request can win (RFC
   9700 §4.14.2), as on the general path, and only while the grant is not revoked; and,
   only if it won, the new access token's and refresh token's rows, converted by the
   columns' own types, so they are stored exactly as the ORM stores them. All of it or
   nothing.

On SQLite the two steps are one transaction; on PostgreSQL two statements, the claim and
both inserts in the second.

A token that was already rotated is *not* decided here: the caller leaves such a request to
the general path, which revokes the whole grant and audits the reuse. So this module only
ever rotates a token that is valid; every refusal stays with the general path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Engine, Table

from core.db.driver_connection import PLACEHOLDERS, driver_converters, result_converters
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
    """What :attr:`RotationStatements.read_sql` selects, in its order."""

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


class RotationStatements:
    """The read and the parameters of the writes, made once for the engine's dialect (names
    and placeholders only; every value is a parameter)."""

    def __init__(self, engine: Engine) -> None:
        self.placeholder = PLACEHOLDERS[engine.dialect.paramstyle]
        names = {TOKENS: "t", GRANTS: "g", PERSONS: "p"}
        selected = ", ".join(f"{names[table]}.{column}" for table, column in _SELECTED)
        self.read_sql = (
            f"SELECT {selected} FROM {TOKENS.name} t "  # noqa: S608
            f"JOIN {GRANTS.name} g ON g.id = t.grant_id "
            f"LEFT JOIN {PERSONS.name} p ON p.id = g.person_id "
            f"WHERE t.token_hash = {self.placeholder}"
        )
        # the claim wins only while the token and its grant stand; on PostgreSQL it locks the
        # grant's row until the rotation commits, so that a revocation of the grant either
        # comes first and the claim sees it, or waits and then revokes the new tokens too
        # (on SQLite the write lock already orders them)
        lock = " FOR NO KEY UPDATE" if engine.dialect.name == "postgresql" else ""
        self.claim_sql = (
            f"UPDATE {TOKENS.name} SET rotated_at = {self.placeholder} "  # noqa: S608
            f"WHERE token_hash = {self.placeholder} AND rotated_at IS NULL "
            f"AND revoked_at IS NULL AND EXISTS (SELECT 1 FROM {GRANTS.name} g "
            f"WHERE g.id = {TOKENS.name}.grant_id AND g.revoked_at IS NULL{lock})"
        )
        self.read_converters = [
            result_converters(engine, table, [column])[0] for table, column in _SELECTED
        ]
        self.now_converter = driver_converters(engine, TOKENS, ["rotated_at"])[0]
        self.access_token_converters = driver_converters(
            engine, access_token_ledger.TOKENS, access_token_ledger.COLUMNS
        )
        self.refresh_token_converters = driver_converters(engine, TOKENS, REFRESH_COLUMNS)

    def presented(
        self, rows: Sequence[Sequence[Any]], client_id: str, now: datetime
    ) -> Presented | None:
        """What :attr:`read_sql`'s rows say (:func:`usable`)."""
        if len(rows) != 1:
            return None
        converted = (
            convert(value) for convert, value in zip(self.read_converters, rows[0], strict=True)
        )
        return usable(Found(*converted), client_id, now)

    def parameters(
        self,
        token_hash: str,
        now: datetime,
        access_token: AccessTokenRecord,
        refresh_token: dict[str, Any],
    ) -> tuple[list[Any], list[Any], list[Any]]:
        """The claim's, the access token row's and the refresh token row's parameters,
        converted by the columns' own types (:func:`refresh_token_columns` for the last)."""
        claim = [self.now_converter(now), token_hash]
        access = [
            convert(getattr(access_token, column))
            for column, convert in zip(
                access_token_ledger.COLUMNS, self.access_token_converters, strict=True
            )
        ]
        refresh = [
            convert(refresh_token[column])
            for column, convert in zip(REFRESH_COLUMNS, self.refresh_token_converters, strict=True)
        ]
        return claim, access, refresh
