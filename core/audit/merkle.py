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


def inclusion_proof(
    index: int, leaf_hashes: Sequence[bytes], hasher: TreeHash = SHA256
) -> list[bytes]:
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
            path.append(_subtree_root(leaf_hashes, lo + k, hi, hasher))
            hi = lo + k
        else:
            path.append(_subtree_root(leaf_hashes, lo, lo + k, hasher))
            lo += k
    path.reverse()
    return path


def consistency_proof(
    old_size: int, leaf_hashes: Sequence[bytes], hasher: TreeHash = SHA256
) -> list[bytes]:
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
            upper.append(_subtree_root(leaf_hashes, lo + k, hi, hasher))
            hi = lo + k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            upper.append(_subtree_root(leaf_hashes, lo, lo + k, hasher))
            lo, m, known = lo + k, m - k, False
    proof = [] if known else [_subtree_root(leaf_hashes, lo, hi, hasher)]
    proof.extend(reversed(upper))
    return proof


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

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash (RFC 9162 §2.1.2 step 2). Raises :class:`ProofError`."""
        _push(self._nodes, self._size, _checked(leaf_hash), self._hasher)
        self._size += 1

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
