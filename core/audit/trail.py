"""The audit trail: append events, sign checkpoints, serve proofs, verify end to end.

Appends happen inside the caller's transaction, so a domain change and its audit entry are
committed together or not at all, with the interior nodes of the Merkle tree the entry
completes (RFC 9162 §2.1.1): proofs and tree heads then cost O(log n) stored hashes, not a pass
over the whole log. Checkpoints are signed tree heads; a new one is signed only after checking
that the stored tree still extends the previous one (RFC 9162 §2.1.4), so the service never
signs two inconsistent views. :meth:`AuditTrail.verify` recomputes everything from the entries.

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

NODES_PER_WRITE = 1000
"""Tree nodes rebuilt for a log that lacks them are written this many at a time."""


class AuditTampered(DependencyUnavailable):
    """The stored log no longer matches what was signed; nothing new is signed over it. Over
    HTTP a 503 problem: the log cannot be vouched for until an operator has looked."""


class _NodeProblem(Exception):
    """A stored tree node that is not the one the entries give; ``index``: its first entry."""

    def __init__(self, index: int, problem: str) -> None:
        super().__init__(problem)
        self.index = index


class _NodeCheck:
    """The stored interior nodes, read beside the ones recomputed from the entries, both in
    the order appends make them (:func:`merkle.append_order`). Nodes not stored are allowed
    (a log from before they were kept); a stored node must be the recomputed one."""

    def __init__(self, stored: Iterable[tuple[tuple[int, int], bytes]]) -> None:
        self._stored = iter(stored)
        self._next = next(self._stored, None)

    def meet(self, node: merkle.Node, value: bytes) -> bool:
        """True when ``node`` is stored, False when it is not; :class:`_NodeProblem` when the
        stored one differs, or when a stored row before it names no node of the tree."""
        key = merkle.append_order(node)
        if self._next is not None and self._next[0] < key:
            self.stray("is no node of the tree")
        if self._next is None or self._next[0] != key:
            return False
        same = self._next[1] == value
        self._next = next(self._stored, None)
        if not same:
            lo, hi = merkle.node_span(node)
            raise _NodeProblem(
                lo, f"entries {lo}..{hi - 1} do not give the tree node stored when appended"
            )
        return True

    def stray(self, why: str = "needs entries the log does not have") -> None:
        """:class:`_NodeProblem` if a stored row is left, before what :meth:`meet` is given
        or after all of it: one that no append made."""
        if self._next is not None:
            (last_leaf, level), _ = self._next
            raise _NodeProblem(
                last_leaf, f"a stored tree node (leaf {last_leaf}, level {level}) {why}"
            )


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
        self._add_nodes(session, entry.index, stored.leaf_hash)
        return entry

    def _add_nodes(self, session: Session, index: int, leaf: bytes) -> None:
        """Store the interior nodes that appending leaf ``index`` completes (RFC 9162 §2.1.2
        step 2), from the stored siblings; all the missing ones if a sibling is not stored."""
        siblings = merkle.append_siblings(index)
        found = self.store.nodes(session, siblings)
        if len(found) < len(siblings):
            self._grow(session, merkle.CompactRange(self.hasher), index + 1)
            return
        hashes = [found[node] for node in siblings]
        self.store.add_nodes(session, merkle.completed_nodes(index, leaf, hashes, self.hasher))

    def _frontier(self, session: Session, size: int) -> merkle.CompactRange | None:
        """The tree of the first ``size`` entries as its perfect subtrees' stored roots (RFC
        9162 §2.1.2); None when one of them is not stored."""
        wanted = merkle.perfect_subtrees(0, size)
        found = self.store.nodes(session, wanted)
        if len(found) < len(wanted):
            return None
        return merkle.CompactRange.from_state(size, [found[n] for n in wanted], self.hasher)

    def _grow(self, session: Session, tree: merkle.CompactRange, end: int) -> merkle.CompactRange:
        """Append the leaves of entries ``tree.size`` to ``end - 1`` to ``tree``; check each
        node they complete against the stored one and store those not stored. Raises
        :class:`AuditTampered` where a stored node differs or entries are missing."""
        check = _NodeCheck(self.store.stored_nodes(session, tree.size, end))
        missing: list[merkle.NodeHash] = []
        try:
            for leaf in self.store.leaf_hashes_between(session, tree.size, end):
                missing += [made for made in tree.append(leaf) if not check.meet(*made)]
                if len(missing) >= NODES_PER_WRITE:
                    self.store.add_nodes(session, missing)
                    missing = []
            check.stray()
        except _NodeProblem as exc:
            raise AuditTampered(str(exc)) from None
        if tree.size != end:
            raise AuditTampered("the log has gaps")
        self.store.add_nodes(session, missing)
        return tree

    def build_nodes(self, session: Session) -> bool:
        """Store the tree's interior nodes if the log lacks some (a log kept before they were,
        migration 0016), under the append lock. True if it had to; O(n) then, O(log n) not."""
        self.store.lock(session)
        self._confirm_hash(session)
        size = self.store.size(session)
        if self._frontier(session, size) is not None:
            return False
        self._grow(session, merkle.CompactRange(self.hasher), size)
        return True

    def checkpoint(self, session: Session, *, reuse_within: timedelta = timedelta(0)) -> str:
        """The signed checkpoint of the current log, signing a new one if the log grew.

        Signing takes the append lock; the old tree head is recomputed from the stored nodes
        and must be the last checkpoint's (RFC 9162 §2.1.4: the log only grows), and each
        entry appended since is rehashed and checked against the nodes it completed, so what
        is signed is what was appended. Entries older than the last checkpoint are
        :meth:`verify`'s to recheck. O(log n + entries since) hashes.

        ``reuse_within``: the latest checkpoint is answered, although the log grew since,
        while it is younger than this, so that a public endpoint asked after every append does
        not sign each time; a checkpoint of a prefix of the log is still a checkpoint (RFC 9162
        §4.10: a log publishes tree heads at intervals). Without it (the operator's command),
        always the log as it is now.
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
        if latest is not None and latest.tree_size > size:
            raise AuditTampered("the log is shorter than its last checkpoint")
        start = 0 if latest is None else latest.tree_size
        tree = self._frontier(session, start)
        if tree is None:  # nodes not stored yet (a log from before migration 0016)
            tree = self._grow(session, merkle.CompactRange(self.hasher), start)
        if latest is not None and tree.root() != latest.root_hash:
            raise AuditTampered("the log no longer extends its last checkpoint")
        root = self._grow(session, tree, size).root()
        now = self._clock()
        head = Checkpoint(self.origin, size, root, now, self.hasher.name)
        note = sign_checkpoint(head, self.signer)
        self.store.add_checkpoint(session, StoredCheckpoint(size, head.root_hash, note), now)
        return note

    def _check_tree_size(self, session: Session, tree_size: int) -> None:
        self._confirm_hash(session)
        size = self.store.size(session)
        if not 0 < tree_size <= size:
            raise ProofRangeError(f"tree_size must be between 1 and {size}")

    def _roots(
        self, session: Session, ranges: list[tuple[int, int]], tree_size: int
    ) -> list[bytes]:
        """MTH(D[lo:hi]) of each range, from the stored nodes: O(log n) hashes for a proof
        (RFC 9162 §2.1.2). From the leaves if some are not stored yet (a log from before
        migration 0016, until :meth:`build_nodes`)."""
        subtrees = [merkle.perfect_subtrees(lo, hi) for lo, hi in ranges]
        found = self.store.nodes(session, {node for nodes in subtrees for node in nodes})
        if all(node in found for nodes in subtrees for node in nodes):
            return [merkle.range_root([found[n] for n in nodes], self.hasher) for nodes in subtrees]
        leaves = self.store.leaf_hashes(session, tree_size)
        if len(leaves) != tree_size:
            raise AuditTampered("the log has gaps")
        return [merkle.root_hash(leaves[lo:hi], self.hasher) for lo, hi in ranges]

    def inclusion_proof(self, session: Session, index: int, tree_size: int) -> InclusionProof:
        """RFC 9162 §2.1.3.1: the audit path of entry ``index`` in the tree of ``tree_size``."""
        self._check_tree_size(session, tree_size)
        if not 0 <= index < tree_size:
            raise ProofRangeError("leaf index must be below tree_size")
        ranges = merkle.inclusion_ranges(index, tree_size)
        leaf, *path = self._roots(session, [(index, index + 1), *ranges], tree_size)
        return InclusionProof(index, tree_size, leaf, path, self.hasher.name)

    def consistency_proof(self, session: Session, first: int, second: int) -> ConsistencyProof:
        """RFC 9162 §2.1.4.1: that the tree of ``second`` entries extends that of ``first``."""
        self._check_tree_size(session, second)
        if not 0 < first <= second:
            raise ProofRangeError("first must be between 1 and second")
        path = self._roots(session, merkle.consistency_ranges(first, second), second)
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
            nodes=self.store.stored_nodes(session),
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
    *,
    nodes: Iterable[tuple[tuple[int, int], bytes]] = (),
) -> AuditVerification:
    """Walk the log in order; check each entry, the stored tree ``nodes`` it completes (as
    :meth:`SqlAuditStore.stored_nodes` gives them; a node not stored is no fault), then each
    checkpoint's signature, tree hash (its ``hash`` line must name ``hasher``) and root (RFC
    9162 §2.1.1, §4.10)."""
    pending = list(checkpoints)
    stored_nodes = _NodeCheck(nodes)
    tree = merkle.CompactRange(hasher)
    verified_size = 0
    checked = 0

    def fail(index: int, problem: str) -> AuditVerification:
        return AuditVerification(False, tree.size, checked, index, problem)

    for position, stored in enumerate(entries):
        problem = _entry_problem(position, stored, hasher)
        if problem is not None:
            return fail(position, problem)
        try:
            for made in tree.append(stored.leaf_hash):
                stored_nodes.meet(*made)
        except _NodeProblem as exc:
            return fail(exc.index, str(exc))
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
    try:
        stored_nodes.stray()
    except _NodeProblem as exc:
        return fail(exc.index, str(exc))
    return AuditVerification(True, tree.size, checked)
