"""Migrations and transactions on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from core.audit.entry import AuditEvent
from core.db.engine import make_engine, normalise_url, ping, transaction
from core.db.migrate import current_revision, head_revision, upgrade
from core.services import Services


def test_schema_is_at_head(services: Services) -> None:
    assert current_revision(services.engine) == head_revision()
    tables = set(inspect(services.engine).get_table_names())
    assert {
        "audit_entries",
        "audit_checkpoints",
        "alembic_version",
        "keys",
        "issued_certificates",
    } <= tables


def test_upgrade_twice_is_harmless(services: Services) -> None:
    upgrade(services.engine)
    assert current_revision(services.engine) == head_revision()


def test_transaction_commits_or_rolls_back_whole(services: Services) -> None:
    with services.sessions() as session:
        before = services.audit.store.size(session)
    with pytest.raises(ZeroDivisionError), transaction(services.sessions) as session:
        services.audit.record(session, AuditEvent("a", "x.y", "t", "1"))
        services.audit.record(session, AuditEvent("a", "x.y", "t", "2"))
        _ = 1 / 0
    with transaction(services.sessions) as session:
        services.audit.record(session, AuditEvent("a", "x.y", "t", "3"))
    with services.sessions() as session:
        assert services.audit.store.size(session) == before + 1


def test_embedded_default_creates_its_directory(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'g.db'}")
    ping(engine)
    assert (tmp_path / "nested" / "dir" / "g.db").exists()
    engine.dispose()


def test_plain_postgresql_url_uses_psycopg() -> None:
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"
