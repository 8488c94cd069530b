"""RFC 9162 / RFC 6962 Merkle tree hashing, proofs and a compact range.

Pure functions over *already hashed* leaves (``leaf_hash(entry)``). The hash function is a
parameter of the tree (RFC 9162 §2.1: "HASH" is the log's hash algorithm, fixed for the
life of the log, §4.1 "Log Parameters"): :data:`SHA256` (RFC 6962 §2.1, the default, so the
transparency-dev vectors hold unchanged) or :data:`SM3` (GB/T 32905-2016, the national
algorithm a GB/T 39786 assessment asks for; GM/T 0004-2012 is the same function). Both give
32-byte digests, so the tree shape, the proofs and their lengths are the same for both.
Section numbers refer to RFC 9162 (Certificate Transparency v2.0) unless stated;
RFC 6962 §2.1 defines the same tree and proofs.

Error policy: the hashing functions and proof *generators* raise :class:`ProofError`
(a ``ValueError``) for invalid arguments; the *verifiers* never raise and return
``False`` for anything malformed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeGuard

from cryptography.hazmat.primitives.hashes import SM3 as _SM3Algorithm
from cryptography.hazmat.primitives.hashes import Hash

HASH_SIZE = 32
"""Digest length of every tree hash offered here (SHA-256 and SM3 both give 32 bytes)."""


class ProofError(ValueError):
    """Invalid argument to a tree-hash computation or proof generator."""


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _sm3(data: bytes) -> bytes:
    """SM3 (GB/T 32905-2016 §5): 256-bit digest, through OpenSSL in ``cryptography``."""
    digest = Hash(_SM3Algorithm())
    digest.update(data)
    return digest.finalize()


@dataclass(frozen=True)
class TreeHash:
    """The hash algorithm of one Merkle tree (RFC 9162 §4.1 log parameter "hash algorithm").

    ``name`` is how the log announces it (checkpoint ``hash`` line, proofs API,
    ``GOVTRUST_AUDIT_HASH``); ``digest`` maps bytes to a :data:`HASH_SIZE`-byte digest. A log
    keeps one for its whole life: the leaf hashes it stores are already hashed with it.
    """

    name: str
    digest: Callable[[bytes], bytes] = field(repr=False, compare=False)

    def leaf(self, entry: bytes) -> bytes:
        """MTH({d(0)}) = HASH(0x00 || d(0)) -- RFC 9162 §2.1.1, RFC 6962 §2.1."""
        return self.digest(b"\x00" + entry)

    def node(self, left: bytes, right: bytes) -> bytes:
        """HASH(0x01 || left || right) -- RFC 9162 §2.1.1, RFC 6962 §2.1."""
        return self.digest(b"\x01" + left + right)

    @property
    def empty_root(self) -> bytes:
        """MTH({}) = HASH() -- RFC 9162 §2.1.1, RFC 6962 §2.1."""
        return self.digest(b"")


SHA256 = TreeHash("SHA-256", _sha256)
"""RFC 6962 §2.1 / RFC 9162 §2.1 with SHA-256 (FIPS 180-4): the default."""
SM3 = TreeHash("SM3", _sm3)
"""The same tree with SM3 (GB/T 32905-2016; GM/T 0004-2012) in place of SHA-256."""
TREE_HASHES: dict[str, TreeHash] = {SHA256.name: SHA256, SM3.name: SM3}

EMPTY_ROOT = SHA256.empty_root
"""MTH({}) = HASH() with SHA-256 -- RFC 9162 §2.1.1, RFC 6962 §2.1."""


def tree_hash(name: str) -> TreeHash:
    """The :class:`TreeHash` called ``name`` ("SHA-256" or "SM3"); ValueError otherwise."""
    try:
        return TREE_HASHES[name]
    except KeyError:
        raise ValueError(
            f"unknown audit tree hash {name!r}; known: {', '.join(TREE_HASHES)}"
        ) from None


def leaf_hash(entry: bytes, hasher: TreeHash = SHA256) -> bytes:
    """MTH({d(0)}) = HASH(0x00 || d(0)) -- RFC 9162 §2.1.1, RFC 6962 §2.1."""
    return hasher.leaf(entry)


def node_hash(left: bytes, right: bytes, hasher: TreeHash = SHA256) -> bytes:
    """HASH(0x01 || left || right), the interior node hash -- RFC 9162 §2.1.1, RFC 6962 §2.1."""
    return hasher.node(left, right)


def _is_hash(value: object) -> TypeGuard[bytes]:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _checked(value: object) -> bytes:
    if not _is_hash(value):
        raise ProofError(f"leaf hash must be {HASH_SIZE} bytes")
    return value


def _fold(stack: list[bytes], hasher: TreeHash) -> bytes:
    """Merge a stack of perfect-subtree roots right to left (RFC 9162 §2.1.2 step 3)."""
    acc = stack[-1] if stack else hasher.empty_root
    for left in reversed(stack[:-1]):
        acc = hasher.node(left, acc)
    return acc


def _push(stack: list[bytes], count: int, value: bytes, hasher: TreeHash) -> None:
    """Add leaf number ``count`` (0-based) to the stack (RFC 9162 §2.1.2 step 2)."""
    while count & 1:
        value = hasher.node(stack.pop(), value)
        count >>= 1
    stack.append(value)


def _subtree_root(leaf_hashes: Sequence[bytes], lo: int, hi: int, hasher: TreeHash) -> bytes:
    """MTH(D[lo:hi]) in O(hi - lo) time and O(log n) memory, without recursion."""
    stack: list[bytes] = []
    for i in range(lo, hi):
        _push(stack, i - lo, _checked(leaf_hashes[i]), hasher)
    return _fold(stack, hasher)


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1) -- RFC 9162 §2.1.1 ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def root_hash(leaf_hashes: Sequence[bytes], hasher: TreeHash = SHA256) -> bytes:
    """Merkle Tree Hash MTH(D[n]) over leaf hashes -- RFC 9162 §2.1.1, RFC 6962 §2.1.

    Iterative stack algorithm of RFC 9162 §2.1.2; O(n) time, O(log n) memory.
    Raises :class:`ProofError` if an element is not a 32-byte ``bytes``.
    """
    return _subtree_root(leaf_hashes, 0, len(leaf_hashes), hasher)


def inclusion_ranges(index: int, tree_size: int) -> list[tuple[int, int]]:
    """The subtrees ``[lo, hi)`` whose roots make PATH(index, D[tree_size]), leaf to root.

    RFC 9162 §2.1.3.1 (RFC 6962 §2.1.1), the recursion unrolled top-down: the proof is
    ``[MTH(D[lo:hi]) for lo, hi in inclusion_ranges(...)]``, whoever computes the roots.
    Raises :class:`ProofError` unless 0 <= index < tree_size.
    """
    if not _is_size(tree_size) or not _is_size(index) or index >= tree_size:
        raise ProofError(f"leaf index {index!r} out of range for tree size {tree_size!r}")
    lo, hi = 0, tree_size
    ranges: list[tuple[int, int]] = []
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, tree_size: int) -> list[tuple[int, int]]:
    """The subtrees whose roots make PROOF(old_size, D[tree_size]), in proof order.

    RFC 9162 §2.1.4.1 (RFC 6962 §2.1.2), SUBPROOF unrolled iteratively. The RFC defines
    0 < old_size < tree_size; for old_size == tree_size and old_size == 0 the (trivial) proof
    is empty. Raises :class:`ProofError` unless 0 <= old_size <= tree_size.
    """
    if not _is_size(tree_size) or not _is_size(old_size) or old_size > tree_size:
        raise ProofError(f"old size {old_size!r} out of range for tree size {tree_size!r}")
    if old_size in (0, tree_size):
        return []
    lo, hi, m, known = 0, tree_size, old_size, True
    upper: list[tuple[int, int]] = []
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            upper.append((lo + k, hi))
            hi = lo + k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            upper.append((lo, lo + k))
            lo, m, known = lo + k, m - k, False
    ranges = [] if known else [(lo, hi)]
    ranges.extend(reversed(upper))
    return ranges


def inclusion_proof(
    index: int, leaf_hashes: Sequence[bytes], hasher: TreeHash = SHA256
) -> list[bytes]:
    """PATH(index, D[n]) for n = len(leaf_hashes), ordered leaf to root, from the leaves.

    RFC 9162 §2.1.3.1 (RFC 6962 §2.1.1); the sibling subtrees are disjoint, so the total
    cost is O(n) hashes. Raises :class:`ProofError` unless 0 <= index < n.
    """
    return [
        _subtree_root(leaf_hashes, lo, hi, hasher)
        for lo, hi in inclusion_ranges(index, len(leaf_hashes))
    ]


def consistency_proof(
    old_size: int, leaf_hashes: Sequence[bytes], hasher: TreeHash = SHA256
) -> list[bytes]:
    """PROOF(old_size, D[n]) = SUBPROOF(old_size, D[n], true), n = len(leaf_hashes), from the
    leaves in O(n) hashes (RFC 9162 §2.1.4.1, RFC 6962 §2.1.2). Raises :class:`ProofError`
    unless 0 <= old_size <= n."""
    return [
        _subtree_root(leaf_hashes, lo, hi, hasher)
        for lo, hi in consistency_ranges(old_size, len(leaf_hashes))
    ]


Node = tuple[int, int]
"""A node of the tree as ``(level, index)``: the root of the perfect subtree over the leaves
``[index * 2**level, (index + 1) * 2**level)`` (RFC 9162 §2.1.1); level 0 is a leaf hash. A
log that keeps the interior nodes it has completed answers any proof and any tree head with
O(log n) of them instead of rehashing its n leaves."""

NodeHash = tuple[Node, bytes]


def node_span(node: Node) -> tuple[int, int]:
    """The leaves ``[lo, hi)`` under ``node``."""
    level, index = node
    return index << level, (index + 1) << level


def append_order(node: Node) -> tuple[int, int]:
    """``(last leaf, level)`` of ``node``: the append of its last leaf completes it, after the
    lower nodes that append completes, so sorting by this is the order appends make nodes in."""
    return node_span(node)[1] - 1, node[0]


def perfect_subtrees(lo: int, hi: int) -> list[Node]:
    """``[lo, hi)`` as the perfect subtrees whose roots fold into MTH(D[lo:hi]), largest first.

    MTH splits a range at the largest power of two below its size (RFC 9162 §2.1.1), so its
    root is the right fold of the subtrees sized as the binary digits of ``hi - lo``
    (RFC 9162 §2.1.2). Every range a proof above names, and every ``[0, n)``, starts on a
    multiple of its largest such subtree, so each is a node of the whole tree. Raises
    :class:`ProofError` for a range that does not.
    """
    if not (_is_size(lo) and _is_size(hi)) or lo > hi:
        raise ProofError(f"no range [{lo!r}, {hi!r})")
    nodes: list[Node] = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        if lo & ((1 << level) - 1):
            raise ProofError(f"[{lo}, {hi}) does not start on a subtree of the tree")
        nodes.append((level, lo >> level))
        lo += 1 << level
    return nodes


def range_root(subtree_roots: Sequence[bytes], hasher: TreeHash = SHA256) -> bytes:
    """MTH(D[lo:hi]) from the roots of :func:`perfect_subtrees` (lo, hi), in their order
    (RFC 9162 §2.1.2 step 3); HASH() of nothing for an empty range."""
    return _fold(list(subtree_roots), hasher)


def append_siblings(index: int) -> list[Node]:
    """The nodes that appending leaf ``index`` merges with, lowest first: the left siblings
    of the perfect subtrees it completes (RFC 9162 §2.1.2 step 2)."""
    if not _is_size(index):
        raise ProofError(f"no leaf index {index!r}")
    siblings: list[Node] = []
    level, count = 0, index
    while count & 1:
        siblings.append((level, count - 1))
        count >>= 1
        level += 1
    return siblings


def completed_nodes(
    index: int, leaf_hash: bytes, siblings: Sequence[bytes], hasher: TreeHash = SHA256
) -> list[NodeHash]:
    """The interior nodes that appending leaf ``index`` completes, lowest first, given the
    hashes of its :func:`append_siblings` in their order (RFC 9162 §2.1.1 node hash)."""
    if len(siblings) != len(append_siblings(index)):
        raise ProofError(f"leaf {index} merges with {len(append_siblings(index))} subtrees")
    made: list[NodeHash] = []
    value = _checked(leaf_hash)
    for level, sibling in enumerate(siblings, start=1):
        value = hasher.node(_checked(sibling), value)
        made.append(((level, index >> level), value))
    return made


def verify_inclusion(
    leaf_hash: bytes,
    index: int,
    tree_size: int,
    proof: Sequence[bytes],
    root: bytes,
    hasher: TreeHash = SHA256,
) -> bool:
    """Verify an inclusion proof exactly as RFC 9162 §2.1.3.2 (cf. RFC 6962 §2.1.1).

    Returns ``False`` (never raises) for any malformed input.
    """
    if not (_is_hash(leaf_hash) and _is_hash(root) and _is_size(index) and _is_size(tree_size)):
        return False
    if isinstance(proof, bytes | str) or len(proof) > (tree_size - 1).bit_length():
        return False  # too long: step 4a would fail anyway
    if not all(_is_hash(p) for p in proof) or index >= tree_size:  # step 1
        return False
    fn, sn, r = index, tree_size - 1, leaf_hash  # steps 2-3
    for p in proof:  # step 4
        if sn == 0:  # 4a
            return False
        if fn & 1 or fn == sn:  # 4b
            r = hasher.node(p, r)
            while not fn & 1 and fn != 0:  # shift until LSB(fn) is set or fn is 0
                fn >>= 1
                sn >>= 1
        else:
            r = hasher.node(r, p)
        fn >>= 1  # 4c
        sn >>= 1
    return sn == 0 and r == root  # step 5


def verify_consistency(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
    hasher: TreeHash = SHA256,
) -> bool:
    """Verify a consistency proof as RFC 9162 §2.1.4.2 (cf. RFC 6962 §2.1.2).

    The RFC algorithm covers 0 < old_size < new_size. old_size == new_size needs an
    empty proof and equal roots (SUBPROOF(m, D[m], true) = {}, RFC 6962 §2.1.2), as in
    transparency-dev/merkle. old_size == 0 needs an empty proof and, stricter than
    transparency-dev v0.0.x / CT's C++ verifier (roots unchecked; its HEAD rejects size 0),
    ``old_root == hasher.empty_root``. Returns ``False`` (never raises) for malformed input.
    """
    if not (_is_size(old_size) and _is_size(new_size)):
        return False
    if not (_is_hash(old_root) and _is_hash(new_root)) or isinstance(proof, bytes | str):
        return False
    if old_size > new_size or len(proof) > (new_size - 1).bit_length() + 1:
        return False  # shrinking tree (RFC requires first < second) or over-long proof
    if not all(_is_hash(p) for p in proof):
        return False
    if old_size == 0:
        empty = hasher.empty_root
        return not proof and old_root == empty and (new_size > 0 or new_root == empty)
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:  # step 1
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 2: old_size is an exact power of 2
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:  # 6a
            return False
        if fn & 1 or fn == sn:  # 6b
            fr = hasher.node(c, fr)
            sr = hasher.node(c, sr)
            while not fn & 1 and fn != 0:  # shift until LSB(fn) is set or fn is 0
                fn >>= 1
                sn >>= 1
        else:
            sr = hasher.node(sr, c)
        fn >>= 1  # 6c
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0  # step 7


class CompactRange:
    """Incremental tree head: the stack of perfect-subtree roots of RFC 9162 §2.1.2.

    Holds popcount(size) hashes (O(log n) memory); ``append`` is amortised O(1)
    hashes and ``root()`` costs O(log n) (RFC 9162 §2.1.1 MTH of the leaves so far), with
    the tree's ``hasher`` (SHA-256 unless told).
    """

    __slots__ = ("_hasher", "_nodes", "_size")

    def __init__(self, hasher: TreeHash = SHA256) -> None:
        self._hasher = hasher
        self._size = 0
        self._nodes: list[bytes] = []

    @property
    def hasher(self) -> TreeHash:
        """The hash algorithm of the tree this range belongs to."""
        return self._hasher

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> list[NodeHash]:
        """Add one leaf hash (RFC 9162 §2.1.2 step 2); return the interior nodes it completes,
        lowest first (:func:`completed_nodes`). Raises :class:`ProofError`."""
        merges = (self._size ^ (self._size + 1)).bit_length() - 1  # trailing ones of size
        siblings = self._nodes[len(self._nodes) - merges :][::-1]
        made = completed_nodes(self._size, leaf_hash, siblings, self._hasher)
        if merges:
            del self._nodes[-merges:]
        self._nodes.append(made[-1][1] if made else _checked(leaf_hash))
        self._size += 1
        return made

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append each leaf hash in order."""
        for h in leaf_hashes:
            self.append(h)

    def root(self) -> bytes:
        """MTH of all leaves appended so far; HASH() of nothing when empty (§2.1.1)."""
        return _fold(self._nodes, self._hasher)

    def to_state(self) -> tuple[int, list[bytes]]:
        """Serialisable state: (size, perfect-subtree roots from largest to smallest)."""
        return self._size, list(self._nodes)

    @classmethod
    def from_state(
        cls, size: int, hashes: Sequence[bytes], hasher: TreeHash = SHA256
    ) -> CompactRange:
        """Restore from :meth:`to_state` output; raises :class:`ProofError` if inconsistent."""
        if not _is_size(size) or len(hashes) != size.bit_count():
            raise ProofError("compact range needs exactly popcount(size) hashes")
        obj = cls(hasher)
        obj._nodes = [_checked(h) for h in hashes]
        obj._size = size
        return obj
