"""Triggers that make a table append-only: UPDATE and DELETE refused (PostgreSQL: TRUNCATE
too), on both backends, for the audit log's tables (migrations 0001 and 0016)."""

from __future__ import annotations

from alembic import op

PG_REFUSE = """
CREATE OR REPLACE FUNCTION govtrust_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def refuse_changes(table: str) -> None:
    """Add the triggers to ``table`` (PostgreSQL: the function first, if it is not there)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_REFUSE)
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION govtrust_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION govtrust_refuse_change()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only'); END"
            )
