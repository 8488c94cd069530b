"""RFC 9162 / RFC 6962 Merkle tree hashing, proofs and a compact range.

Pure functions over *already hashed* leaves (``leaf_hash(entry)``), SHA-256 only.
Section numbers refer to RFC 9162 (Certificate Transparency v2.0) unless stated;
RFC 6962 §2.1 defines the same tree and proofs.

Error policy: the hashing functions and proof *generators* raise :class:`ProofError`
(a ``ValueError``) for invalid arguments; the *verifiers* never raise and return
``False`` for anything malformed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import TypeGuard

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = HASH() -- RFC 9162 §2.1.1, RFC 6962 §2.1."""


class ProofError(ValueError):
    """Invalid argument to a tree-hash computation or proof generator."""


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d(0)}) = HASH(0x00 || d(0)) -- RFC 9162 §2.1.1, RFC 6962 §2.1."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """HASH(0x01 || left || right), the interior node hash -- RFC 9162 §2.1.1, RFC 6962 §2.1."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _is_hash(value: object) -> TypeGuard[bytes]:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _checked(value: object) -> bytes:
    if not _is_hash(value):
        raise ProofError(f"leaf hash must be {HASH_SIZE} bytes")
    return value


def _fold(stack: list[bytes]) -> bytes:
    """Merge a stack of perfect-subtree roots right to left (RFC 9162 §2.1.2 step 3)."""
    acc = stack[-1] if stack else EMPTY_ROOT
    for left in reversed(stack[:-1]):
        acc = node_hash(left, acc)
    return acc


def _push(stack: list[bytes], count: int, value: bytes) -> None:
    """Add leaf number ``count`` (0-based) to the stack (RFC 9162 §2.1.2 step 2)."""
    while count & 1:
        value = node_hash(stack.pop(), value)
        count >>= 1
    stack.append(value)


def _subtree_root(leaf_hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) in O(hi - lo) time and O(log n) memory, without recursion."""
    stack: list[bytes] = []
    for i in range(lo, hi):
        _push(stack, i - lo, _checked(leaf_hashes[i]))
    return _fold(stack)


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1) -- RFC 9162 §2.1.1 ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """Merkle Tree Hash MTH(D[n]) over leaf hashes -- RFC 9162 §2.1.1, RFC 6962 §2.1.

    Iterative stack algorithm of RFC 9162 §2.1.2; O(n) time, O(log n) memory.
    Raises :class:`ProofError` if an element is not a 32-byte ``bytes``.
    """
    return _subtree_root(leaf_hashes, 0, len(leaf_hashes))


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) for n = len(leaf_hashes), ordered leaf to root.

    RFC 9162 §2.1.3.1 (RFC 6962 §2.1.1). The recursion is unrolled top-down; the
    sibling subtrees are disjoint, so the total cost is O(n) hashes.
    Raises :class:`ProofError` unless 0 <= index < n.
    """
    n = len(leaf_hashes)
    if not _is_size(index) or index >= n:
        raise ProofError(f"leaf index {index!r} out of range for tree size {n}")
    lo, hi = 0, n
    path: list[bytes] = []
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(_subtree_root(leaf_hashes, lo + k, hi))
            hi = lo + k
        else:
            path.append(_subtree_root(leaf_hashes, lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(old_size, D[n]) = SUBPROOF(old_size, D[n], true), n = len(leaf_hashes).

    RFC 9162 §2.1.4.1 (RFC 6962 §2.1.2), unrolled iteratively in O(n) hashes.
    The RFC defines 0 < old_size < n; for old_size == n and old_size == 0 the
    (trivial) proof is empty. Raises :class:`ProofError` unless 0 <= old_size <= n.
    """
    n = len(leaf_hashes)
    if not _is_size(old_size) or old_size > n:
        raise ProofError(f"old size {old_size!r} out of range for tree size {n}")
    if old_size in (0, n):
        return []
    lo, hi, m, known = 0, n, old_size, True
    upper: list[bytes] = []
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            upper.append(_subtree_root(leaf_hashes, lo + k, hi))
            hi = lo + k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            upper.append(_subtree_root(leaf_hashes, lo, lo + k))
            lo, m, known = lo + k, m - k, False
    proof = [] if known else [_subtree_root(leaf_hashes, lo, hi)]
    proof.extend(reversed(upper))
    return proof


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
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
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:  # shift until LSB(fn) is set or fn is 0
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # 4c
        sn >>= 1
    return sn == 0 and r == root  # step 5


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Verify a consistency proof as RFC 9162 §2.1.4.2 (cf. RFC 6962 §2.1.2).

    The RFC algorithm covers 0 < old_size < new_size. old_size == new_size needs an
    empty proof and equal roots (SUBPROOF(m, D[m], true) = {}, RFC 6962 §2.1.2), as in
    transparency-dev/merkle. old_size == 0 needs an empty proof and, stricter than
    transparency-dev v0.0.x / CT's C++ verifier (roots unchecked; its HEAD rejects size 0),
    ``old_root == EMPTY_ROOT``. Returns ``False`` (never raises) for malformed input.
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
        return not proof and old_root == EMPTY_ROOT and (new_size > 0 or new_root == EMPTY_ROOT)
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
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:  # shift until LSB(fn) is set or fn is 0
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # 6c
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0  # step 7


class CompactRange:
    """Incremental tree head: the stack of perfect-subtree roots of RFC 9162 §2.1.2.

    Holds popcount(size) hashes (O(log n) memory); ``append`` is amortised O(1)
    hashes and ``root()`` costs O(log n) (RFC 9162 §2.1.1 MTH of the leaves so far).
    """

    __slots__ = ("_nodes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._nodes: list[bytes] = []

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash (RFC 9162 §2.1.2 step 2). Raises :class:`ProofError`."""
        _push(self._nodes, self._size, _checked(leaf_hash))
        self._size += 1

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append each leaf hash in order."""
        for h in leaf_hashes:
            self.append(h)

    def root(self) -> bytes:
        """MTH of all leaves appended so far; ``EMPTY_ROOT`` when empty (§2.1.1)."""
        return _fold(self._nodes)

    def to_state(self) -> tuple[int, list[bytes]]:
        """Serialisable state: (size, perfect-subtree roots from largest to smallest)."""
        return self._size, list(self._nodes)

    @classmethod
    def from_state(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """Restore from :meth:`to_state` output; raises :class:`ProofError` if inconsistent."""
        if not _is_size(size) or len(hashes) != size.bit_count():
            raise ProofError("compact range needs exactly popcount(size) hashes")
        obj = cls()
        obj._nodes = [_checked(h) for h in hashes]
        obj._size = size
        return obj
