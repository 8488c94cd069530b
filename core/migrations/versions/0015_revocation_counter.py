"""SQLite: a counter of every change that can make an access token unusable.

The embedded default's counterpart of migration 0014 (PostgreSQL's notifications): SQLite
has no notification channel, so triggers on ``oauth_access_tokens`` and ``oauth_grants``
add one to ``oauth_revocation_counter`` in the same transaction as any ``UPDATE`` of
``revoked_at`` and any ``DELETE`` (SQLite has no ``TRUNCATE``; a ``DELETE`` without
``WHERE`` fires the triggers too): the changes
:func:`~idp.oauth.storage.access_token_usable` depends on. A worker's memory of usable tokens
(:mod:`idp.oauth.usable_token_memory`) reads the counter whenever ``PRAGMA data_version``
says another connection has committed something, and forgets what it holds when the
counter has moved, so no revocation path (a request, the CLI, another process) can leave it
out. Nothing on PostgreSQL.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

COUNTER = "oauth_revocation_counter"
TRIGGERS = {
    "oauth_access_tokens_revoked": "AFTER UPDATE OF revoked_at ON oauth_access_tokens",
    "oauth_access_tokens_deleted": "AFTER DELETE ON oauth_access_tokens",
    "oauth_grants_revoked": "AFTER UPDATE OF revoked_at ON oauth_grants",
    "oauth_grants_deleted": "AFTER DELETE ON oauth_grants",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        f"CREATE TABLE {COUNTER} (id INTEGER PRIMARY KEY CHECK (id = 1), changes INTEGER NOT NULL)"
    )
    op.execute(f"INSERT INTO {COUNTER} (id, changes) VALUES (1, 0)")  # noqa: S608
    for trigger, when in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {trigger} {when} FOR EACH ROW "  # noqa: S608
            f"BEGIN UPDATE {COUNTER} SET changes = changes + 1; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger}")
    op.execute(f"DROP TABLE {COUNTER}")
