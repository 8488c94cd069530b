"""Alembic environment: runs on the connection given by :mod:`core.db.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

import core.db.models  # noqa: F401  (registers every table on Base.metadata)
from core.db.base import Base

config = context.config


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `govtrust migrate`")
run(connection)
