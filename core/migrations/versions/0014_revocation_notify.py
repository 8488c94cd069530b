"""PostgreSQL: a notification on every change that can make an access token unusable.

Statement-level triggers on ``oauth_access_tokens`` and ``oauth_grants`` send
``NOTIFY govtrust_token_revocations`` (payload: the table's name) after any ``UPDATE`` of
``revoked_at``, any ``DELETE`` and any ``TRUNCATE``: the changes
:func:`~idp.oauth.storage.access_token_usable` depends on. Every worker's memory of usable
tokens (:mod:`idp.oauth.usable_token_memory`) forgets what it holds when one arrives, so no
revocation path can forget to tell the other processes. PostgreSQL delivers a notification
when its transaction commits, and never for one that rolls back. Nothing on SQLite.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

CHANNEL = "govtrust_token_revocations"
FUNCTION = "govtrust_notify_token_revocation"
TRIGGERS = {
    "oauth_access_tokens": "oauth_access_tokens_revocation_notify",
    "oauth_grants": "oauth_grants_revocation_notify",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME); RETURN NULL; END $$"
    )
    for table, trigger in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {trigger} AFTER UPDATE OF revoked_at OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, trigger in TRIGGERS.items():
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    op.execute(f"DROP FUNCTION {FUNCTION}()")
