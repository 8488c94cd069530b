"""Where the audit log is kept: three append-only tables.

``audit_entries`` holds the entries and their leaf hashes, ``audit_checkpoints`` the signed tree
heads, ``audit_tree_nodes`` the interior nodes of the Merkle tree each append completes (RFC
9162 §2.1.1), so that a proof or a tree head reads O(log n) hashes instead of all n leaves. The
nodes are derived: :meth:`core.audit.trail.AuditTrail.verify` recomputes them from the entries.
The migrations add triggers that refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE) on all three
tables. Appends are serialised (a transaction-scoped advisory lock on PostgreSQL; on SQLite, writing
units of work start with ``BEGIN IMMEDIATE``, see :func:`core.db.engine.transaction`) so that
indexes have no gaps.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.audit.merkle import Node, NodeHash, append_order
from core.db.base import Base
from core.db.types import UtcDateTime

# Leaves whose nodes one query of :meth:`SqlAuditStore.stored_nodes` reads.
_NODE_WINDOW = 4096
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


class AuditTreeNodeRow(Base):
    """An interior node (level >= 1) of the log's tree, keyed by the append that completed it:
    its last leaf, then its level, which is the order the appends made them in."""

    __tablename__ = "audit_tree_nodes"

    last_leaf: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


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
        """The number of entries appended: one past the last index (a primary-key lookup, not
        a count; a missing row in between is :meth:`AuditTrail.verify`'s to find)."""
        last = session.scalar(select(func.max(AuditEntryRow.idx)))
        return 0 if last is None else int(last) + 1

    next_index = size

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

    def leaf_hashes_between(self, session: Session, start: int, end: int) -> Iterator[bytes]:
        """The leaf hashes of entries ``start`` to ``end - 1``, in order, read in batches."""
        query = (
            select(AuditEntryRow.leaf_hash)
            .where(AuditEntryRow.idx >= start, AuditEntryRow.idx < end)
            .order_by(AuditEntryRow.idx)
            .execution_options(yield_per=1000)
        )
        for value in session.scalars(query):
            yield _as_bytes(value)

    def nodes(self, session: Session, wanted: Collection[Node]) -> dict[Node, bytes]:
        """The hashes of the ``wanted`` nodes that are stored (leaves from the entries, the
        rest from the tree's nodes), in two lookups by primary key."""
        found: dict[Node, bytes] = {}
        leaves = sorted({index for level, index in wanted if level == 0})
        if leaves:
            query = select(AuditEntryRow.idx, AuditEntryRow.leaf_hash).where(
                AuditEntryRow.idx.in_(leaves)
            )
            found.update(((0, idx), _as_bytes(value)) for idx, value in session.execute(query))
        inner = {append_order(node): node for node in wanted if node[0] > 0}
        if inner:
            nodes_query = select(
                AuditTreeNodeRow.last_leaf, AuditTreeNodeRow.level, AuditTreeNodeRow.hash
            ).where(AuditTreeNodeRow.last_leaf.in_(sorted({key[0] for key in inner})))
            for last_leaf, level, value in session.execute(nodes_query):
                node = inner.get((last_leaf, level))
                if node is not None:
                    found[node] = _as_bytes(value)
        return found

    def add_nodes(self, session: Session, nodes: Iterable[NodeHash]) -> None:
        rows = [
            {"last_leaf": append_order(node)[0], "level": node[0], "hash": value}
            for node, value in nodes
        ]
        if rows:
            session.execute(insert(AuditTreeNodeRow), rows)

    def stored_nodes(
        self, session: Session, start: int = 0, end: int | None = None
    ) -> Iterator[tuple[tuple[int, int], bytes]]:
        """The stored interior nodes completed by the appends of leaves ``start`` to ``end - 1``
        (all from ``start`` when ``end`` is None), as ``((last_leaf, level), hash)`` in the order
        the appends made them (:func:`core.audit.merkle.append_order`).

        Read a window of leaves at a time, each query read to its end before anything is
        yielded, so that the caller may add nodes to the table between two of them (SQLite
        leaves a table changed under an open cursor's feet undefined)."""
        if end is None:
            last = session.scalar(select(func.max(AuditTreeNodeRow.last_leaf)))
            end = 0 if last is None else int(last) + 1
        for low in range(start, end, _NODE_WINDOW):
            query = (
                select(AuditTreeNodeRow.last_leaf, AuditTreeNodeRow.level, AuditTreeNodeRow.hash)
                .where(
                    AuditTreeNodeRow.last_leaf >= low,
                    AuditTreeNodeRow.last_leaf < min(low + _NODE_WINDOW, end),
                )
                .order_by(AuditTreeNodeRow.last_leaf, AuditTreeNodeRow.level)
            )
            rows = session.execute(query).all()
            for last_leaf, level, value in rows:
                yield (last_leaf, level), _as_bytes(value)

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
