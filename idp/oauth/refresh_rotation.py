"""A refresh token's rotation in one short transaction of SQLAlchemy Core statements, for
the hot path (:mod:`idp.hotpath.refresh`).

The general path (:class:`idp.grants.refresh.RotatingRefreshGrant` under Authlib, in an ORM
unit of work) spends about 8 ms of CPU on a refresh, most of it in the ORM around six
statements (``bench/PROFILE.md``, eighth pass). This does the same reads and writes with
prepared Core statements:

1. :data:`READ`: the token's row, its grant and the grant's person, in one ``SELECT``;
2. :func:`usable`: the same checks as ``authenticate_refresh_token`` (not revoked, not
   expired, not yet rotated, the grant not revoked, the presenting client's token, no DPoP
   binding) and an active person; anything else is not decided here;
3. :data:`CLAIM`: the conditional ``UPDATE`` that only one request can win (RFC 9700
   §4.14.2), as on the general path;
4. the new access token's and refresh token's rows.

A token that was already rotated is *not* decided here either: the caller leaves such a
request to the general path, which revokes the whole grant and audits the reuse. So this
module only ever rotates a token that is valid; every refusal stays with the general path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, insert, select, update

from idp.identities.storage import PersonRow
from idp.oauth.principal import Principal, principal_of_grant
from idp.oauth.storage import AccessTokenRow, GrantRow, RefreshTokenRow

TOKENS: Table = RefreshTokenRow.__table__  # type: ignore[assignment]
GRANTS: Table = GrantRow.__table__  # type: ignore[assignment]
PERSONS: Table = PersonRow.__table__  # type: ignore[assignment]
ACCESS_TOKENS: Table = AccessTokenRow.__table__  # type: ignore[assignment]

READ = (
    select(
        TOKENS.c.client_id,
        GRANTS.c.id,
        TOKENS.c.scope,
        TOKENS.c.expires_at,
        TOKENS.c.rotated_at,
        TOKENS.c.revoked_at,
        TOKENS.c.dpop_jkt,
        GRANTS.c.revoked_at.label("grant_revoked_at"),
        GRANTS.c.person_id,
        GRANTS.c.subject,
        GRANTS.c.auth_time,
        GRANTS.c.acr,
        GRANTS.c.amr,
        GRANTS.c.organisation_id,
        GRANTS.c.organisation_subject,
        GRANTS.c.session_id,
        PERSONS.c.status.label("person_status"),
        PERSONS.c.name.label("person_name"),
        PERSONS.c.id_number_masked.label("person_id_number_masked"),
    )
    .select_from(
        TOKENS.join(GRANTS, GRANTS.c.id == TOKENS.c.grant_id).outerjoin(
            PERSONS, PERSONS.c.id == GRANTS.c.person_id
        )
    )
    .where(TOKENS.c.token_hash == bindparam("token_hash"))
)

CLAIM = (
    update(TOKENS)
    .where(and_(TOKENS.c.token_hash == bindparam("hash"), TOKENS.c.rotated_at.is_(None)))
    .values(rotated_at=bindparam("now"))
)


@dataclass(frozen=True)
class Presented:
    """A refresh token found usable, with what its grant and person say."""

    token_hash: str
    client_id: str
    scope: str
    principal: Principal
    person_name: str
    person_id_number_masked: str


def usable(row: Any, token_hash: str, client_id: str, now: datetime) -> Presented | None:
    """:data:`READ`'s row as the general path would judge it, or None: not decided here."""
    if (
        row is None
        or row.revoked_at is not None
        or row.rotated_at is not None  # a reuse: the general path revokes the grant
        or row.expires_at <= now
        or row.grant_revoked_at is not None
        or row.client_id != client_id  # RefreshRecord.check_client
        or row.dpop_jkt is not None  # RFC 9449 §5.2: the general path checks the proof
        or row.person_status != "active"
    ):
        return None
    principal = principal_of_grant(row)
    if principal is None:
        return None
    return Presented(
        token_hash,
        row.client_id,
        row.scope,
        principal,
        row.person_name,
        row.person_id_number_masked,
    )


def read(
    connection: Connection, token_hash: str, client_id: str, now: datetime
) -> Presented | None:
    row = connection.execute(READ, {"token_hash": token_hash}).first()
    return usable(row, token_hash, client_id, now)


def claim(connection: Connection, token_hash: str, now: datetime) -> bool:
    """Mark the token rotated; False if another request did first (or it is gone)."""
    result = connection.execute(CLAIM, {"hash": token_hash, "now": now})
    return bool(result.rowcount == 1)


INSERT_ACCESS_TOKEN = insert(ACCESS_TOKENS)
INSERT_REFRESH_TOKEN = insert(TOKENS)


def store(
    connection: Connection, access_token: dict[str, Any], refresh_token: dict[str, Any]
) -> None:
    """The new tokens' rows: the columns of :class:`AccessTokenRow` and
    :class:`RefreshTokenRow` (:func:`refresh_token_columns`)."""
    connection.execute(INSERT_ACCESS_TOKEN, access_token)
    connection.execute(INSERT_REFRESH_TOKEN, refresh_token)


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
