"""Where the audit log is kept: two append-only tables.

The migration adds triggers that refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE) on both
tables. Appends are serialised (a transaction-scoped advisory lock on PostgreSQL; on SQLite, writing
units of work start with ``BEGIN IMMEDIATE``, see :func:`core.db.engine.transaction`) so that
indexes have no gaps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Index, LargeBinary, String, Text, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db.base import Base
from core.db.types import UtcDateTime

# Any constant works; it names the lock that serialises appends and checkpoints.
_AUDIT_LOCK_KEY = 0x676F7674_61756469  # "govtaudi"


class AuditEntryRow(Base):
    __tablename__ = "audit_entries"

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(100), index=True)
    object_type: Mapped[str] = mapped_column(String(50))
    object_id: Mapped[str] = mapped_column(String(200))
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))

    __table_args__ = (Index("ix_audit_entries_object", "object_type", "object_id"),)


class AuditCheckpointRow(Base):
    __tablename__ = "audit_checkpoints"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    note: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class StoredEntry:
    index: int
    actor: str
    action: str
    object_type: str
    object_id: str
    entry: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class StoredCheckpoint:
    tree_size: int
    root_hash: bytes
    note: str
    signed_at: datetime | None = None  # as read back; a new one is given its time apart


def _as_bytes(value: object) -> bytes:
    """Column bytes, also when a hand edit left text in a binary column (SQLite allows it)."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return repr(value).encode("utf-8")


def _stored(row: AuditEntryRow) -> StoredEntry:
    return StoredEntry(
        index=row.idx,
        actor=row.actor,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        entry=_as_bytes(row.entry),
        leaf_hash=_as_bytes(row.leaf_hash),
    )


class SqlAuditStore:
    """Reads and appends; the one place that knows the tables."""

    def lock(self, session: Session) -> None:
        """Serialise writers until the end of the current transaction."""
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _AUDIT_LOCK_KEY})

    def size(self, session: Session) -> int:
        return int(session.scalar(select(func.count()).select_from(AuditEntryRow)) or 0)

    def next_index(self, session: Session) -> int:
        last = session.scalar(select(func.max(AuditEntryRow.idx)))
        return 0 if last is None else int(last) + 1

    def insert(
        self, session: Session, index: int, recorded_at: datetime, stored: StoredEntry
    ) -> None:
        session.add(
            AuditEntryRow(
                idx=index,
                recorded_at=recorded_at,
                actor=stored.actor,
                action=stored.action,
                object_type=stored.object_type,
                object_id=stored.object_id,
                entry=stored.entry,
                leaf_hash=stored.leaf_hash,
            )
        )
        session.flush()

    def leaf_hashes(self, session: Session, upto: int) -> list[bytes]:
        query = select(AuditEntryRow.leaf_hash).order_by(AuditEntryRow.idx).limit(upto)
        return [bytes(value) for value in session.scalars(query)]

    def entries(self, session: Session) -> Iterator[StoredEntry]:
        query = select(AuditEntryRow).order_by(AuditEntryRow.idx).execution_options(yield_per=1000)
        for row in session.scalars(query):
            yield _stored(row)

    def entry(self, session: Session, index: int) -> StoredEntry | None:
        row = session.get(AuditEntryRow, index)
        if row is None:
            return None
        return _stored(row)

    def entries_for(
        self,
        session: Session,
        object_type: str,
        object_id: str,
        action: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[StoredEntry]:
        """The entries about one object, newest first (for "every use of this seal")."""
        query = select(AuditEntryRow).where(
            AuditEntryRow.object_type == object_type, AuditEntryRow.object_id == object_id
        )
        if action is not None:
            query = query.where(AuditEntryRow.action == action)
        query = query.order_by(AuditEntryRow.idx.desc()).limit(limit).offset(offset)
        return [_stored(row) for row in session.scalars(query)]

    def checkpoints(self, session: Session) -> list[StoredCheckpoint]:
        query = select(AuditCheckpointRow).order_by(AuditCheckpointRow.tree_size)
        return [
            StoredCheckpoint(row.tree_size, bytes(row.root_hash), row.note)
            for row in session.scalars(query)
        ]

    def latest_checkpoint(self, session: Session) -> StoredCheckpoint | None:
        query = select(AuditCheckpointRow).order_by(AuditCheckpointRow.tree_size.desc()).limit(1)
        row = session.scalars(query).first()
        return (
            None
            if row is None
            else StoredCheckpoint(row.tree_size, bytes(row.root_hash), row.note, row.signed_at)
        )

    def add_checkpoint(
        self, session: Session, checkpoint: StoredCheckpoint, signed_at: datetime
    ) -> None:
        session.add(
            AuditCheckpointRow(
                tree_size=checkpoint.tree_size,
                root_hash=checkpoint.root_hash,
                signed_at=signed_at,
                note=checkpoint.note,
            )
        )
        session.flush()
