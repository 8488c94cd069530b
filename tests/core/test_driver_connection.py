"""core/db/driver_connection.py: statements through the driver itself, on SQLite and on
PostgreSQL, on their own or in a transaction; a failure discards the connection, which
rolls back what it had begun; values stored and read exactly as SQLAlchemy's types store and
read them; one connection per thread."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, MetaData, String, Table, insert, select, text
from sqlalchemy.exc import DBAPIError

from core.db.driver_connection import (
    DriverConnection,
    ThreadConnections,
    driver_converters,
    result_converters,
)
from core.db.types import UtcDateTime
from core.services import Services

TIMES = Table(
    "driver_times",
    MetaData(),
    Column("k", String(8), primary_key=True),
    Column("at", UtcDateTime()),
)


@pytest.fixture
def connection(services: Services) -> DriverConnection:
    with services.engine.begin() as setup:
        setup.execute(text("CREATE TABLE driver_test (k VARCHAR(8) PRIMARY KEY, v INTEGER)"))
    return DriverConnection(services.engine)


def stored(services: Services) -> dict[str, int]:
    with services.engine.connect() as reading:
        return {k: v for k, v in reading.execute(text("SELECT k, v FROM driver_test"))}


def test_a_transaction_commits_its_statements_with_their_rows_and_counts(
    services: Services, connection: DriverConnection
) -> None:
    p = connection.placeholder
    with connection.transaction():
        inserted = connection.execute_count(
            f"INSERT INTO driver_test (k, v) VALUES ({p}, {p}), ({p}, {p})", ["a", 1, "b", 2]
        )
        updated = connection.execute_count(
            f"UPDATE driver_test SET v = v + 10 WHERE k = {p}", ["a"]
        )
        rows = connection.query("SELECT k, v FROM driver_test ORDER BY k", [])
    assert (inserted, updated, rows) == (2, 1, [("a", 11), ("b", 2)])
    assert stored(services) == {"a": 11, "b": 2}
    assert connection.query(f"SELECT v FROM driver_test WHERE k = {p}", ["b"]) == [(2,)]
    assert connection.execute(f"DELETE FROM driver_test WHERE k = {p}", ["b"]) == []
    assert stored(services) == {"a": 11}


@pytest.mark.parametrize("failure", ["a statement", "the caller"])
def test_a_failure_rolls_back_and_the_next_use_opens_a_new_connection(
    services: Services, connection: DriverConnection, failure: str
) -> None:
    p = connection.placeholder
    insert = f"INSERT INTO driver_test (k, v) VALUES ({p}, {p})"
    expected = DBAPIError if failure == "a statement" else RuntimeError
    with pytest.raises(expected), connection.transaction():
        connection.execute_count(insert, ["a", 1])
        if failure == "a statement":
            connection.execute_count(insert, ["a", 2])  # the same key again
        raise RuntimeError("the caller gives up")
    assert stored(services) == {}  # the first insert went with the discarded connection
    opened = connection.opened
    connection.execute_count(insert, ["c", 3])
    assert connection.opened == opened + 1
    assert stored(services) == {"c": 3}


def test_values_are_stored_and_read_as_sqlalchemy_stores_and_reads_them(
    services: Services, connection: DriverConnection
) -> None:
    TIMES.create(services.engine)
    moment = datetime(2026, 11, 28, 4, 5, 6, 789012, tzinfo=UTC)
    with services.engine.begin() as writing:  # as the ORM writes it
        writing.execute(insert(TIMES).values(k="orm", at=moment))
    bind = driver_converters(services.engine, TIMES, ["k", "at"])
    p = connection.placeholder
    connection.execute(
        f"INSERT INTO driver_times (k, at) VALUES ({p}, {p})",
        [convert(value) for convert, value in zip(bind, ["driver", moment], strict=True)],
    )
    with services.engine.connect() as reading:  # the same text or value in the database
        raw = {k: at for k, at in reading.execute(text("SELECT k, at FROM driver_times"))}
        assert raw["driver"] == raw["orm"]
        typed = {k: at for k, at in reading.execute(select(TIMES.c.k, TIMES.c.at))}
        assert typed == {"orm": moment, "driver": moment}
    (convert,) = result_converters(services.engine, TIMES, ["at"])
    rows = connection.query("SELECT at FROM driver_times ORDER BY k", [])
    assert [convert(value) for (value,) in rows] == [moment, moment]


def test_each_thread_gets_its_own_connection_and_close_closes_them_all(
    services: Services,
) -> None:
    connections = ThreadConnections(services.engine)
    seen: list[DriverConnection] = []

    def use() -> None:
        mine = connections.get()
        assert connections.get() is mine
        mine.execute("SELECT 1", [])
        seen.append(mine)

    threads = [threading.Thread(target=use) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(c) for c in seen}) == 3
    connections.close()
    assert all(c._connection is None for c in seen)
