"""The audit trail: append events, sign checkpoints, serve proofs, verify end to end.

Appends happen inside the caller's transaction, so a domain change and its audit entry are
committed together or not at all. Checkpoints are signed tree heads; a new one is signed only
after checking that the stored log still extends the previous one (RFC 9162 §2.1.4), so the
service never signs two inconsistent views.

The tree hash (SHA-256, RFC 6962 §2.1; or SM3, GB/T 32905-2016) is a parameter of the log
(RFC 9162 §4.1), chosen by ``GOVTRUST_AUDIT_HASH`` and fixed for the life of the log. The log
records it without a schema change: every signed checkpoint names it on its ``hash`` line, and
before the first checkpoint the first entry's stored leaf hash shows which function made it.
The trail compares that with its own setting before its first use and before every
verification, and refuses (:class:`AuditHashMismatch`) rather than recompute the tree with
the wrong function and report tampering, or worse, sign a checkpoint over a mixed tree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from core.audit import merkle
from core.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    NoteSigner,
    open_checkpoint,
    sign_checkpoint,
)
from core.audit.entry import AuditEntry, AuditEvent, canonical_entry, parse_entry
from core.audit.storage import SqlAuditStore, StoredCheckpoint, StoredEntry
from core.errors.problem import DependencyUnavailable


class AuditTampered(RuntimeError):
    """The stored log no longer matches what was signed; nothing new is signed over it."""


class ProofRangeError(ValueError):
    """A proof was asked for positions the log does not have."""


class AuditHashMismatch(DependencyUnavailable):
    """The stored log was built with another tree hash than the one configured: a
    deployment error; over HTTP a 503 problem (never a 500), on the command line a refusal."""


@dataclass(frozen=True)
class InclusionProof:
    """RFC 9162 §2.1.3: the audit path of one leaf in the tree of ``tree_size`` leaves."""

    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    path: list[bytes]
    hash_algorithm: str = merkle.SHA256.name


@dataclass(frozen=True)
class ConsistencyProof:
    """RFC 9162 §2.1.4: proof that the tree of ``second`` leaves extends that of ``first``."""

    first: int
    second: int
    path: list[bytes]
    hash_algorithm: str = merkle.SHA256.name


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of recomputing the whole log. ``first_bad_index`` names the first entry
    that does not match (None when ``ok``); ``problem`` says how."""

    ok: bool
    entries_checked: int
    checkpoints_checked: int
    first_bad_index: int | None = None
    problem: str | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


class AuditTrail:
    def __init__(
        self,
        signer: NoteSigner,
        origin: str,
        store: SqlAuditStore | None = None,
        clock: Callable[[], datetime] = utc_now,
        hasher: merkle.TreeHash = merkle.SHA256,
    ) -> None:
        self.signer = signer
        self.origin = origin
        self.store = store or SqlAuditStore()
        self.hasher = hasher
        self._clock = clock
        self._hash_confirmed = False

    def log_hash(self, session: Session) -> tuple[str, str] | None:
        """Which tree hash the stored log was built with, and how that is known.

        The latest checkpoint's ``hash`` line, if its signature verifies (RFC 9162 §4.10:
        the signed tree head carries the log's parameters); else the first entry's stored
        leaf hash, recomputed with each known function (RFC 9162 §2.1.1 leaf hash). None for
        an empty log, or when neither tells (a forged note or first entry, which
        :meth:`verify` then reports as tampering).
        """
        latest = self.store.latest_checkpoint(session)
        if latest is not None:
            try:
                signed = open_checkpoint(latest.note, self.signer.name, self.signer.verifier_keys())
            except CheckpointError:
                signed = None
            if signed is not None:
                return signed.hash_algorithm, f"its checkpoint at size {latest.tree_size}"
        first = self.store.entry(session, 0)
        if first is None:
            return None
        makers = [
            name
            for name, hasher in merkle.TREE_HASHES.items()
            if hasher.leaf(first.entry) == first.leaf_hash
        ]
        if len(makers) == 1:
            return makers[0], "the leaf hash of its first entry"
        return None

    def check_hash(self, session: Session) -> None:
        """Raise :class:`AuditHashMismatch` unless the stored log uses this trail's hash."""
        found = self.log_hash(session)
        if found is not None and found[0] != self.hasher.name:
            name, evidence = found
            raise AuditHashMismatch(
                f"the audit log is a {name} tree ({evidence}) but GOVTRUST_AUDIT_HASH is "
                f"{self.hasher.name}; a log keeps its tree hash for life: set "
                f"GOVTRUST_AUDIT_HASH={name}"
            )
        self._hash_confirmed = True

    def _confirm_hash(self, session: Session) -> None:
        if not self._hash_confirmed:
            self.check_hash(session)

    def record(self, session: Session, event: AuditEvent) -> AuditEntry:
        """Append ``event`` in the caller's transaction and return it with its index."""
        self.store.lock(session)
        self._confirm_hash(session)
        entry = AuditEntry(
            index=self.store.next_index(session), recorded_at=self._clock(), event=event
        )
        data = canonical_entry(entry)
        stored = StoredEntry(
            index=entry.index,
            actor=event.actor,
            action=event.action,
            object_type=event.object_type,
            object_id=event.object_id,
            entry=data,
            leaf_hash=self.hasher.leaf(data),
        )
        self.store.insert(session, entry.index, entry.recorded_at, stored)
        return entry

    def checkpoint(self, session: Session, *, reuse_within: timedelta = timedelta(0)) -> str:
        """The signed checkpoint of the current log, signing a new one if the log grew.

        ``reuse_within``: the latest checkpoint is answered, although the log grew since,
        while it is younger than this. Signing a new one takes the append lock and rehashes
        the whole log (its consistency with the last one included), so a public endpoint
        asked after every append must not do it each time; a checkpoint of a prefix of the
        log is still a checkpoint (RFC 9162 §4.10: a log publishes tree heads at intervals).
        Without it (the operator's command), always the log as it is now.
        """
        self._confirm_hash(session)
        latest = self.store.latest_checkpoint(session)  # first without the lock
        if latest is not None and (
            latest.tree_size == self.store.size(session)
            or (latest.signed_at is not None and self._clock() - latest.signed_at < reuse_within)
        ):
            return latest.note
        self.store.lock(session)
        latest = self.store.latest_checkpoint(session)
        size = self.store.size(session)
        if latest is not None and latest.tree_size == size:
            return latest.note
        leaves = self.store.leaf_hashes(session, size)
        if len(leaves) != size:
            raise AuditTampered("the log has gaps")
        if latest is not None:
            if latest.tree_size > size:
                raise AuditTampered("the log is shorter than its last checkpoint")
            if merkle.root_hash(leaves[: latest.tree_size], self.hasher) != latest.root_hash:
                raise AuditTampered("the log no longer extends its last checkpoint")
        now = self._clock()
        root = merkle.root_hash(leaves, self.hasher)
        head = Checkpoint(self.origin, size, root, now, self.hasher.name)
        note = sign_checkpoint(head, self.signer)
        self.store.add_checkpoint(session, StoredCheckpoint(size, head.root_hash, note), now)
        return note

    def _checked_leaves(self, session: Session, tree_size: int) -> list[bytes]:
        self._confirm_hash(session)
        size = self.store.size(session)
        if not 0 < tree_size <= size:
            raise ProofRangeError(f"tree_size must be between 1 and {size}")
        return self.store.leaf_hashes(session, tree_size)

    def inclusion_proof(self, session: Session, index: int, tree_size: int) -> InclusionProof:
        leaves = self._checked_leaves(session, tree_size)
        if not 0 <= index < tree_size:
            raise ProofRangeError("leaf index must be below tree_size")
        path = merkle.inclusion_proof(index, leaves, self.hasher)
        return InclusionProof(index, tree_size, leaves[index], path, self.hasher.name)

    def consistency_proof(self, session: Session, first: int, second: int) -> ConsistencyProof:
        leaves = self._checked_leaves(session, second)
        if not 0 < first <= second:
            raise ProofRangeError("first must be between 1 and second")
        path = merkle.consistency_proof(first, leaves, self.hasher)
        return ConsistencyProof(first, second, path, self.hasher.name)

    def verify(self, session: Session) -> AuditVerification:
        """Recompute every leaf and the root at every checkpoint; name the first mismatch.

        Raises :class:`AuditHashMismatch` first if the log was built with another tree hash.
        """
        self.check_hash(session)
        checkpoints = self.store.checkpoints(session)
        return verify_log(
            self.store.entries(session),
            checkpoints,
            self.signer.name,
            self.signer.verifier_keys(),
            self.hasher,
        )


def _entry_problem(
    position: int, stored: StoredEntry, hasher: merkle.TreeHash = merkle.SHA256
) -> str | None:
    if stored.index != position:
        if stored.index > position:
            return f"entry {position} is missing"
        return f"entry {stored.index} is out of order at position {position}"
    if hasher.leaf(stored.entry) != stored.leaf_hash:
        return f"entry {position} does not match its leaf hash"
    try:
        parsed = parse_entry(stored.entry)
    except (ValueError, KeyError):
        return f"entry {position} cannot be read"
    columns = (stored.index, stored.actor, stored.action, stored.object_type, stored.object_id)
    content = (
        parsed.index,
        parsed.event.actor,
        parsed.event.action,
        parsed.event.object_type,
        parsed.event.object_id,
    )
    if columns != content:
        return f"entry {position}: indexed columns differ from the signed content"
    return None


def verify_log(
    entries: Iterable[StoredEntry],
    checkpoints: list[StoredCheckpoint],
    signer_name: str,
    public_keys: Sequence[bytes],
    hasher: merkle.TreeHash = merkle.SHA256,
) -> AuditVerification:
    """Walk the log in order; check each entry, then each checkpoint's signature, tree hash
    (its ``hash`` line must name ``hasher``) and root (RFC 9162 §2.1.1, §4.10)."""
    pending = list(checkpoints)
    tree = merkle.CompactRange(hasher)
    verified_size = 0
    checked = 0

    def fail(index: int, problem: str) -> AuditVerification:
        return AuditVerification(False, tree.size, checked, index, problem)

    for position, stored in enumerate(entries):
        problem = _entry_problem(position, stored, hasher)
        if problem is not None:
            return fail(position, problem)
        tree.append(stored.leaf_hash)
        while pending and pending[0].tree_size == tree.size:
            cp = pending.pop(0)
            try:
                signed = open_checkpoint(cp.note, signer_name, public_keys)
            except CheckpointError as exc:
                return fail(verified_size, f"checkpoint at size {cp.tree_size}: {exc}")
            if signed.hash_algorithm != hasher.name:
                return fail(
                    verified_size,
                    f"checkpoint at size {cp.tree_size} commits to a {signed.hash_algorithm} "
                    f"tree, not {hasher.name}",
                )
            if (signed.tree_size, signed.root_hash) != (cp.tree_size, cp.root_hash) or (
                tree.root() != signed.root_hash
            ):
                return fail(
                    verified_size,
                    f"entries {verified_size}..{cp.tree_size - 1} do not match the checkpoint "
                    f"signed at size {cp.tree_size}",
                )
            verified_size = cp.tree_size
            checked += 1
    if pending:
        return fail(
            tree.size,
            f"log has {tree.size} entries but a checkpoint was signed at "
            f"size {pending[0].tree_size}",
        )
    return AuditVerification(True, tree.size, checked)
