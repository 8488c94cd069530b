"""Migrations and transactions on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from pathlib import Path

import pytest
from sqlalchemy import event, inspect, text
from sqlalchemy.exc import OperationalError

from core.audit.entry import AuditEvent
from core.db.engine import (
    make_engine,
    make_session_factory,
    normalise_url,
    ping,
    transaction,
    write_turn,
)
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


def test_sqlite_writers_of_one_process_take_turns(tmp_path: Path) -> None:
    """Writers of one process wait for their turn in the process, not in SQLite's busy
    handler: with that handler off (``busy_timeout=0``), eight concurrent writers all
    succeed, one after the other."""
    engine = make_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    event.listen(engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA busy_timeout=0"))
    sessions = make_session_factory(engine)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (n INTEGER)"))
        connection.execute(text("INSERT INTO counter VALUES (0)"))
    order: list[str] = []
    errors: list[Exception] = []

    def bump(name: str) -> None:
        try:
            with transaction(sessions) as session:
                order.append(f"{name} in")
                value = session.execute(text("SELECT n FROM counter")).scalar_one()
                time.sleep(0.01)
                session.execute(text("UPDATE counter SET n = :n"), {"n": value + 1})
                order.append(f"{name} out")
        except Exception as exc:  # "database is locked" without the turns
            errors.append(exc)

    threads = [threading.Thread(target=bump, args=(str(i),)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as connection:
        assert connection.execute(text("SELECT n FROM counter")).scalar_one() == 8
    assert [entry.split()[1] for entry in order] == ["in", "out"] * 8
    engine.dispose()


def test_a_turn_never_handed_back_is_refused_in_time(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a busy database is (OperationalError: a 503 at the edge); PostgreSQL's writers
    never wait here (its locks are per row)."""
    monkeypatch.setattr("core.db.engine.BUSY_SECONDS", 0.05)
    engine = services.engine
    on_sqlite = engine.dialect.name == "sqlite"
    with write_turn(engine):
        refused = pytest.raises(OperationalError) if on_sqlite else nullcontext()
        with refused, write_turn(engine):
            pass
