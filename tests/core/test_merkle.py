"""Tests for core.audit.merkle against published RFC 6962 / RFC 9162 test vectors.

Vector sources (transcribed verbatim, hex):
  * github.com/transparency-dev/merkle  testonly/constants.go   (LeafInputs, NodeHashes,
    RootHashes, CompactTrees)
  * github.com/transparency-dev/merkle  proof/verify_test.go     (inclusionProofs,
    consistencyProofs, roots, leaves; corruptInclusionProof / corruptConsistencyProof)
  * github.com/google/certificate-transparency  cpp/merkletree/merkle_tree_test.cc
    (kInputs, kSHA256Roots, kSHA256Paths, kSHA256Proofs -- the same values)
  * tests/core/data/merkle/tdev_*_2.json: probe files from transparency-dev/merkle
    testdata/inclusion/2/ and testdata/consistency/2/ (paths recorded per probe).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.audit import merkle
from core.audit.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

DATA = Path(__file__).parent / "data" / "merkle"


def h(s: str) -> bytes:
    return bytes.fromhex(s)


# --- transparency-dev/merkle testonly/constants.go (= CT merkle_tree_test.cc kInputs etc.) ---
LEAF_INPUTS = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
EMPTY_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
# NodeHashes(): [level][index]; level 0 are the leaf hashes.
NODE_HASHES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]
# RootHashes(): indexed by tree size, 0..8.
ROOTS = [
    h(EMPTY_HEX),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
_N = NODE_HASHES
# CompactTrees(): the compact-range hashes for tree sizes 0..8.
COMPACT_TREES: list[list[bytes]] = [
    [],
    [_N[0][0]],
    [_N[1][0]],
    [_N[1][0], _N[0][2]],
    [_N[2][0]],
    [_N[2][0], _N[0][4]],
    [_N[2][0], _N[1][2]],
    [_N[2][0], _N[1][2], _N[0][6]],
    [_N[3][0]],
]

# --- transparency-dev/merkle proof/verify_test.go inclusionProofs (= CT kSHA256Paths) ---
# (leaf, size, proof) with a 1-based leaf number, as published; {0, 0, nil} is the invalid one.
INCLUSION_PROOFS: list[tuple[int, int, list[bytes]]] = [
    (0, 0, []),
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (3, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        2,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
VALID_INCLUSION = INCLUSION_PROOFS[1:]

# --- transparency-dev/merkle proof/verify_test.go consistencyProofs (CT kSHA256Proofs has
# the first four; {6, 7} is only in transparency-dev) ---
CONSISTENCY_PROOFS: list[tuple[int, int, list[bytes]]] = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]
# verify_test.go: sha256SomeHash
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")

LEAF_HASHES = [leaf_hash(d) for d in LEAF_INPUTS]


def flip(b: bytes, byte: int = 0, mask: int = 8) -> bytes:
    out = bytearray(b)
    out[byte] ^= mask
    return bytes(out)


# ----------------------------------------------------------------------------- hashing


def test_empty_root_is_sha256_of_empty_string() -> None:
    assert EMPTY_ROOT.hex() == EMPTY_HEX
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert root_hash([]) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT
    assert HASH_SIZE == 32


def test_leaf_and_node_hashes_match_published_node_hashes() -> None:
    assert NODE_HASHES[0] == LEAF_HASHES
    for level in range(1, len(NODE_HASHES)):
        below = NODE_HASHES[level - 1]
        computed = [node_hash(below[2 * i], below[2 * i + 1]) for i in range(len(below) // 2)]
        assert computed == NODE_HASHES[level]
    # Domain separation: a leaf is not hashed like a node and vice versa.
    assert leaf_hash(b"") != hashlib.sha256(b"").digest()
    assert node_hash(b"a", b"b") != leaf_hash(b"ab")


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_root_hash_vectors(size: int) -> None:
    assert root_hash(LEAF_HASHES[:size]) == ROOTS[size]
    if size:
        assert root_hash([*LEAF_HASHES[: size - 1], flip(LEAF_HASHES[size - 1])]) != ROOTS[size]


def test_root_hash_rejects_malformed_leaf_hash() -> None:
    with pytest.raises(ProofError):
        root_hash([LEAF_HASHES[0], b"\x00" * 31])
    with pytest.raises(ValueError):  # ProofError is a ValueError
        root_hash(["not bytes" * 4])  # type: ignore[list-item]


# ----------------------------------------------------------------- independent reference
# Direct, recursive transcription of RFC 9162 §2.1.1 MTH, §2.1.3.1 PATH, §2.1.4.1 SUBPROOF.


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def test_generators_match_recursive_rfc_definitions_exhaustively() -> None:
    leaves = [leaf_hash(i.to_bytes(2, "big")) for i in range(40)]
    for n in range(1, len(leaves) + 1):
        d = leaves[:n]
        root = ref_mth(d)
        assert root_hash(d) == root
        for m in range(n):
            proof = inclusion_proof(m, d)
            assert proof == ref_path(m, d), (m, n)
            assert verify_inclusion(d[m], m, n, proof, root)
        for m in range(1, n + 1):
            proof = consistency_proof(m, d)
            assert proof == ref_subproof(m, d, True), (m, n)
            assert verify_consistency(m, n, ref_mth(d[:m]), root, proof)


# ------------------------------------------------------------------- inclusion proofs


def test_published_inclusion_vectors_are_what_we_generate() -> None:
    for leaf, size, proof in VALID_INCLUSION:
        assert inclusion_proof(leaf - 1, LEAF_HASHES[:size]) == proof


def corrupt_inclusion(
    index: int, size: int, proof: list[bytes], root: bytes, lh: bytes
) -> list[tuple[str, int, int, list[bytes], bytes, bytes]]:
    """The probe set of transparency-dev proof/verify_test.go corruptInclusionProof."""
    probes = [
        ("index - 1", index - 1, size, proof, root, lh),
        ("index + 1", index + 1, size, proof, root, lh),
        ("index ^ 2", index ^ 2, size, proof, root, lh),
        ("size * 2", index, size * 2, proof, root, lh),
        ("size // 2", index, size // 2, proof, root, lh),
        ("wrong leaf", index, size, proof, root, b"WrongLeaf"),
        ("flipped leaf", index, size, proof, root, flip(lh)),
        ("empty root", index, size, proof, EMPTY_ROOT, lh),
        ("random root", index, size, proof, SOME_HASH, lh),
        ("flipped root", index, size, proof, flip(root, 31, 1), lh),
        ("trailing garbage", index, size, [*proof, b""], root, lh),
        ("trailing root", index, size, [*proof, root], root, lh),
        ("preceding garbage", index, size, [b"", *proof], root, lh),
        ("preceding root", index, size, [root, *proof], root, lh),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = flip(bad[i])
        probes.append((f"modified proof[{i}]", index, size, bad, root, lh))
    if proof:
        probes.append(("removed component", index, size, proof[:-1], root, lh))
    if len(proof) > 1:
        probes.append(
            ("inserted component", index, size, [proof[0], SOME_HASH, *proof[1:]], root, lh)
        )
    return probes


@pytest.mark.parametrize(("leaf", "size", "proof"), VALID_INCLUSION)
def test_published_inclusion_vectors_verify_and_corruptions_fail(
    leaf: int, size: int, proof: list[bytes]
) -> None:
    index, root, lh = leaf - 1, ROOTS[size], LEAF_HASHES[leaf - 1]
    assert verify_inclusion(lh, index, size, proof, root)
    accepted = [
        desc
        for desc, i, s, p, r, leaf_h in corrupt_inclusion(index, size, proof, root, lh)
        if verify_inclusion(leaf_h, i, s, p, r)
    ]
    assert accepted == []


def test_invalid_published_inclusion_vector_and_degenerate_probes() -> None:
    # verify_test.go TestVerifyInclusion: {0,0}, {0,1}, {1,0}, {2,1} with bad root/leaf.
    for index, size in [(0, 0), (0, 1), (1, 0), (2, 1)]:
        assert not verify_inclusion(SOME_HASH, index, size, [], b"")
        assert not verify_inclusion(b"", index, size, [], EMPTY_ROOT)
        assert not verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)
    # The {0, 0, nil} entry (leaf number 0 => index -1, empty tree) can't be generated.
    with pytest.raises(ProofError):
        inclusion_proof(-1, [])
    with pytest.raises(ProofError):
        inclusion_proof(0, [])


def test_single_entry_inclusion() -> None:
    # verify_test.go TestVerifyInclusionSingleEntry
    lh = leaf_hash(b"data")
    assert verify_inclusion(lh, 0, 1, [], lh)
    assert not verify_inclusion(b"", 0, 1, [], lh)
    assert not verify_inclusion(lh, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], b"")


@pytest.mark.parametrize("index", [-1, 8, 9, 10**6])
def test_inclusion_proof_rejects_out_of_range_index(index: int) -> None:
    with pytest.raises(ProofError):
        inclusion_proof(index, LEAF_HASHES)


# ----------------------------------------------------------------- consistency proofs


def test_published_consistency_vectors_are_what_we_generate() -> None:
    for size1, size2, proof in CONSISTENCY_PROOFS:
        assert consistency_proof(size1, LEAF_HASHES[:size2]) == proof


def corrupt_consistency(
    s1: int, s2: int, r1: bytes, r2: bytes, proof: list[bytes]
) -> list[tuple[str, int, int, bytes, bytes, list[bytes]]]:
    """The probe set of transparency-dev proof/verify_test.go corruptConsistencyProof."""
    probes = [
        ("size1 - 1", s1 - 1, s2, r1, r2, proof),
        ("size1 + 1", s1 + 1, s2, r1, r2, proof),
        ("size1 ^ 2", s1 ^ 2, s2, r1, r2, proof),
        ("size2 * 2", s1, s2 * 2, r1, r2, proof),
        ("size2 // 2", s1, s2 // 2, r1, r2, proof),
        ("wrong root1", s1, s2, b"WrongRoot", r2, proof),
        ("wrong root2", s1, s2, r1, b"WrongRoot", proof),
        ("flipped root1", s1, s2, flip(r1, 31, 1), r2, proof),
        ("flipped root2", s1, s2, r1, flip(r2, 31, 1), proof),
        ("swapped roots", s1, s2, r2, r1, proof),
        ("empty proof", s1, s2, r1, r2, []),
        ("trailing garbage", s1, s2, r1, r2, [*proof, b""]),
        ("trailing root1", s1, s2, r1, r2, [*proof, r1]),
        ("trailing root2", s1, s2, r1, r2, [*proof, r2]),
        ("preceding garbage", s1, s2, r1, r2, [b"", *proof]),
        ("preceding root1", s1, s2, r1, r2, [r1, *proof]),
        ("preceding root2", s1, s2, r1, r2, [r2, *proof]),
        ("preceding proof[0]", s1, s2, r1, r2, [proof[0], *proof]),
        ("truncated proof", s1, s2, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = flip(bad[i], 0, 16)
        probes.append((f"modified proof[{i}]", s1, s2, r1, r2, bad))
    return probes


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY_PROOFS)
def test_published_consistency_vectors_verify_and_corruptions_fail(
    size1: int, size2: int, proof: list[bytes]
) -> None:
    r1, r2 = ROOTS[size1], ROOTS[size2]
    assert verify_consistency(size1, size2, r1, r2, proof)
    if not proof:  # as upstream: only non-trivial proofs are corrupted
        return
    accepted = [
        desc
        for desc, s1, s2, a, b, p in corrupt_consistency(size1, size2, r1, r2, proof)
        if verify_consistency(s1, s2, a, b, p)
    ]
    assert accepted == []


R5 = ROOTS[5]


@pytest.mark.parametrize(
    ("size1", "size2", "root1", "root2", "proof", "ok"),
    [
        # Adapted from verify_test.go TestVerifyConsistency / CT VerifyConsistencyProof.
        # Upstream uses 12-byte "don't care" roots; here roots must be 32-byte hashes.
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [], True),
        (1, 1, R5, R5, [], True),
        (0, 5, EMPTY_ROOT, R5, [], True),  # every tree extends the empty tree
        (0, 0, EMPTY_ROOT, R5, [], False),  # roots don't match
        (1, 1, EMPTY_ROOT, R5, [], False),
        (0, 0, R5, R5, [], False),  # size 0 must have the empty root
        (0, 5, R5, R5, [], False),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),  # roots match, proof not empty
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (1, 0, R5, R5, [], False),  # time travel to the past
        (2, 1, R5, R5, [], False),
        (1, 2, ROOTS[1], ROOTS[2], [], False),  # empty proof
        (1, 2, ROOTS[1], ROOTS[2], [LEAF_HASHES[1]], True),
        (-1, 2, ROOTS[1], ROOTS[2], [LEAF_HASHES[1]], False),
        (1, -2, ROOTS[1], ROOTS[2], [LEAF_HASHES[1]], False),
    ],
)
def test_consistency_edge_cases(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes], ok: bool
) -> None:
    assert verify_consistency(size1, size2, root1, root2, proof) is ok


def test_consistency_proof_argument_errors_and_trivial_proofs() -> None:
    with pytest.raises(ProofError):
        consistency_proof(-1, LEAF_HASHES)
    with pytest.raises(ProofError):
        consistency_proof(9, LEAF_HASHES)
    with pytest.raises(ProofError):
        consistency_proof(1, [])
    assert consistency_proof(0, LEAF_HASHES) == []
    assert consistency_proof(8, LEAF_HASHES) == []
    assert consistency_proof(0, []) == []


# ------------------------------------------------- transparency-dev testdata probe files


def _b64(s: str) -> bytes:
    return base64.b64decode(s)


def _load(name: str) -> list[dict[str, Any]]:
    probes: list[dict[str, Any]] = json.loads((DATA / name).read_text())["probes"]
    return probes


@pytest.mark.parametrize("probe", _load("tdev_inclusion_2.json"), ids=lambda p: p["desc"])
def test_transparency_dev_inclusion_probe_files(probe: dict[str, Any]) -> None:
    proof = [_b64(x) for x in probe["proof"] or []]
    got = verify_inclusion(
        _b64(probe["leafHash"]), probe["leafIdx"], probe["treeSize"], proof, _b64(probe["root"])
    )
    assert got is not probe["wantErr"]


@pytest.mark.parametrize("probe", _load("tdev_consistency_2.json"), ids=lambda p: p["desc"])
def test_transparency_dev_consistency_probe_files(probe: dict[str, Any]) -> None:
    proof = [_b64(x) for x in probe["proof"] or []]
    got = verify_consistency(
        probe["size1"], probe["size2"], _b64(probe["root1"]), _b64(probe["root2"]), proof
    )
    assert got is not probe["wantErr"]


# ------------------------------------------------------------- verifiers never raise


@pytest.mark.parametrize(
    "args",
    [
        (None, 0, 1, [], None),
        ("x" * 32, 0, 1, [], "x" * 32),
        (LEAF_HASHES[0], "0", 1, [], ROOTS[1]),
        (LEAF_HASHES[0], 0, None, [], ROOTS[1]),
        (LEAF_HASHES[1], True, 2, [LEAF_HASHES[0]], ROOTS[2]),  # would verify as index 1
        (LEAF_HASHES[0], -1, 1, [], ROOTS[1]),
        (LEAF_HASHES[0], 0, 2, LEAF_HASHES[1], ROOTS[2]),  # proof given as bytes
        (LEAF_HASHES[0], 0, 2, [None], ROOTS[2]),
        (LEAF_HASHES[0], 0, 2, [LEAF_HASHES[1]] * 10**5, ROOTS[2]),
        (LEAF_HASHES[0], 0, 2**70, [LEAF_HASHES[1]] * 3, ROOTS[2]),
    ],
)
def test_verify_inclusion_returns_false_on_garbage(args: tuple[Any, ...]) -> None:
    assert verify_inclusion(*args) is False


@pytest.mark.parametrize(
    "args",
    [
        (1, 2, None, ROOTS[2], [LEAF_HASHES[1]]),
        (1, 2, ROOTS[1], ROOTS[2][:31], [LEAF_HASHES[1]]),
        ("1", 2, ROOTS[1], ROOTS[2], [LEAF_HASHES[1]]),
        (1, 2.0, ROOTS[1], ROOTS[2], [LEAF_HASHES[1]]),
        (1, 2, ROOTS[1], ROOTS[2], LEAF_HASHES[1]),  # proof given as bytes
        (1, 2, ROOTS[1], ROOTS[2], [1234]),
        (1, 2, ROOTS[1], ROOTS[2], [LEAF_HASHES[1]] * 10**5),
        (3, 2**80, ROOTS[3], ROOTS[2], [LEAF_HASHES[1]] * 5),
        (True, 2, ROOTS[1], ROOTS[2], [LEAF_HASHES[1]]),  # would verify as old_size 1
    ],
)
def test_verify_consistency_returns_false_on_garbage(args: tuple[Any, ...]) -> None:
    assert verify_consistency(*args) is False


def test_verify_consistency_rejects_shrinking_tree_the_rfc_loop_would_accept() -> None:
    # For first=3 > second=2 the bare §2.1.4.2 loop ends with fr == first_hash,
    # sr == second_hash and sn == 0; only the 0 < first < second precondition rejects it.
    x, c = SOME_HASH, EMPTY_ROOT
    assert not verify_consistency(3, 2, x, node_hash(x, c), [x, c])


class _HugeProof(Sequence[bytes]):
    """A proof claiming 10**12 elements; touching any element fails the test."""

    def __len__(self) -> int:
        return 10**12

    def __getitem__(self, i: Any) -> Any:
        raise AssertionError("over-long proof must be rejected without reading it")


def test_verifiers_reject_over_long_proofs_without_reading_them() -> None:
    assert not verify_inclusion(LEAF_HASHES[0], 0, 8, _HugeProof(), ROOTS[8])
    assert not verify_consistency(1, 8, ROOTS[1], ROOTS[8], _HugeProof())


def test_generators_reject_bool_and_non_int_sizes() -> None:
    for bad in (True, 1.0, "1", None):
        with pytest.raises(ProofError):
            inclusion_proof(bad, LEAF_HASHES)  # type: ignore[arg-type]
        with pytest.raises(ProofError):
            consistency_proof(bad, LEAF_HASHES)  # type: ignore[arg-type]


# ------------------------------------------------------------------ property tests


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(b"entry-%d" % i) for i in range(n)]


@settings(max_examples=150, deadline=None)
@given(data=st.data(), n=st.integers(min_value=1, max_value=200))
def test_property_inclusion_proofs_verify_and_any_change_breaks_them(
    data: st.DataObject, n: int
) -> None:
    leaves = _leaves(n)
    root = root_hash(leaves)
    index = data.draw(st.integers(min_value=0, max_value=n - 1), label="index")
    proof = inclusion_proof(index, leaves)
    assert verify_inclusion(leaves[index], index, n, proof, root)
    for i in range(len(proof)):
        bit = data.draw(st.integers(min_value=0, max_value=8 * HASH_SIZE - 1), label="bit")
        bad = list(proof)
        bad[i] = flip(bad[i], bit // 8, 1 << (bit % 8))
        assert not verify_inclusion(leaves[index], index, n, bad, root)
        assert not verify_inclusion(leaves[index], index, n, proof[:i] + proof[i + 1 :], root)
    assert not verify_inclusion(leaves[index], index, n, [*proof, root], root)
    if n > 1:
        other = (index + 1) % n
        assert not verify_inclusion(leaves[other], index, n, proof, root)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), n=st.integers(min_value=1, max_value=200))
def test_property_consistency_proofs_verify_and_any_change_breaks_them(
    data: st.DataObject, n: int
) -> None:
    leaves = _leaves(n)
    old = data.draw(st.integers(min_value=0, max_value=n), label="old_size")
    old_root, new_root = root_hash(leaves[:old]), root_hash(leaves)
    proof = consistency_proof(old, leaves)
    assert verify_consistency(old, n, old_root, new_root, proof)
    for i in range(len(proof)):
        bit = data.draw(st.integers(min_value=0, max_value=8 * HASH_SIZE - 1), label="bit")
        bad = list(proof)
        bad[i] = flip(bad[i], bit // 8, 1 << (bit % 8))
        assert not verify_consistency(old, n, old_root, new_root, bad)
        assert not verify_consistency(old, n, old_root, new_root, proof[:i] + proof[i + 1 :])
    assert not verify_consistency(old, n, old_root, new_root, [*proof, new_root])
    if 0 < old < n:
        assert not verify_consistency(old, n, flip(old_root), new_root, proof)
        assert not verify_consistency(old, n, old_root, flip(new_root), proof)


# ------------------------------------------------------------------------ CompactRange


@pytest.mark.parametrize("size", range(len(COMPACT_TREES)))
def test_compact_range_matches_published_compact_trees(size: int) -> None:
    cr = CompactRange()
    cr.extend(LEAF_HASHES[:size])
    assert cr.size == size
    assert cr.to_state() == (size, COMPACT_TREES[size])
    assert cr.root() == ROOTS[size]


def test_compact_range_root_equals_root_hash_for_every_size_0_to_100() -> None:
    leaves = _leaves(100)
    cr = CompactRange()
    for size in range(101):
        assert cr.size == size
        assert cr.root() == root_hash(leaves[:size]), size
        size_, hashes = cr.to_state()
        assert size_ == size and len(hashes) == size.bit_count()
        state = json.loads(json.dumps({"size": size_, "hashes": [x.hex() for x in hashes]}))
        restored = CompactRange.from_state(
            state["size"], [bytes.fromhex(x) for x in state["hashes"]]
        )
        assert restored.root() == cr.root()
        if size < 100:
            cr.append(leaves[size])
            restored.append(leaves[size])
            assert restored.to_state() == cr.to_state()


def test_compact_range_append_is_amortised_constant() -> None:
    calls = 0

    def counting(data: bytes) -> bytes:
        nonlocal calls
        calls += data[:1] == b"\x01"  # interior nodes only (RFC 9162 §2.1.1)
        return hashlib.sha256(data).digest()

    cr = CompactRange(merkle.TreeHash("SHA-256-counting", counting))
    n = 1000
    for leaf in _leaves(n):
        cr.append(leaf)
    assert calls == n - n.bit_count()  # every merge creates one perfect subtree
    assert len(cr.to_state()[1]) == n.bit_count()


def test_compact_range_rejects_bad_input() -> None:
    cr = CompactRange()
    with pytest.raises(ProofError):
        cr.append(b"\x00" * 33)
    assert cr.size == 0
    with pytest.raises(ProofError):
        CompactRange.from_state(3, [LEAF_HASHES[0]])  # popcount(3) == 2
    with pytest.raises(ProofError):
        CompactRange.from_state(1, [b"short"])
    with pytest.raises(ProofError):
        CompactRange.from_state(-1, [])


# ------------------------------------------------------------------------ large trees


@pytest.mark.slow
def test_million_leaves_no_recursion_limit() -> None:
    x = LEAF_HASHES[3]
    expected = x
    for _ in range(20):
        expected = node_hash(expected, expected)
    assert root_hash([x] * 2**20) == expected  # 1,048,576 identical leaves
    leaves = [x] * 10**6
    root = root_hash(leaves)
    proof = inclusion_proof(10**6 - 1, leaves)
    assert verify_inclusion(x, 10**6 - 1, 10**6, proof, root)
    proof = consistency_proof(999_999, leaves)
    assert verify_consistency(999_999, 10**6, root_hash(leaves[:999_999]), root, proof)
