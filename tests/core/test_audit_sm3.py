"""SM3 (GB/T 32905-2016) as the audit tree hash: the RFC 6962 / RFC 9162 tree with SM3 for
SHA-256, on both backends, over HTTP and through ``govtrust audit verify``; and a log is
never verified or extended with the wrong tree hash.

Independent implementations: Debian's ``openssl dgst -sm3`` for leaf, node and empty-tree
hashes; Tongsuo (``tongsuopy``) for the recursive RFC definitions of MTH, PATH and PROOF.
"""

from __future__ import annotations

import base64
import functools
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from tongsuopy.crypto import hashes as t_hashes

from core.app import create_app
from core.audit import merkle
from core.audit.checkpoint import (
    DEFAULT_HASH,
    Checkpoint,
    CheckpointError,
    Ed25519NoteSigner,
    key_id,
    open_checkpoint,
    sign_checkpoint,
)
from core.audit.entry import AuditEvent
from core.audit.merkle import SHA256, SM3, CompactRange, TreeHash
from core.audit.trail import AuditHashMismatch, AuditTampered, AuditTrail, verify_log
from core.cli import main
from core.db.engine import make_engine, transaction
from core.db.migrate import upgrade
from core.services import Services, build_services
from tests.conftest import TEST_SECRET, FrozenClock, make_settings

# ------------------------------------------------------------------ independent SM3


@functools.cache
def openssl_sm3(data: bytes) -> bytes:
    """SM3 by Debian's openssl CLI (its own SM3 in libcrypto 3.0, not our Python stack)."""
    result = subprocess.run(
        ["openssl", "dgst", "-sm3", "-binary"], input=data, capture_output=True, check=True
    )
    assert len(result.stdout) == 32
    return result.stdout


def tongsuo_sm3(data: bytes) -> bytes:
    """SM3 by Tongsuo (tongsuopy), a third implementation."""
    digest = t_hashes.Hash(t_hashes.SM3())
    digest.update(data)
    return bytes(digest.finalize())


def openssl_mth(entries: Sequence[bytes]) -> bytes:
    """MTH(D[n]) by the recursive definition of RFC 9162 §2.1.1, every hash by openssl."""
    n = len(entries)
    if n == 0:
        return openssl_sm3(b"")
    if n == 1:
        return openssl_sm3(b"\x00" + entries[0])
    k = 1 << ((n - 1).bit_length() - 1)
    return openssl_sm3(b"\x01" + openssl_mth(entries[:k]) + openssl_mth(entries[k:]))


TONGSUO_SM3 = TreeHash("SM3", tongsuo_sm3)


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes (RFC 9162 §2.1.1), recursive, with Tongsuo's SM3."""
    if len(d) == 1:
        return d[0]
    k = 1 << ((len(d) - 1).bit_length() - 1)
    return TONGSUO_SM3.node(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) -- RFC 9162 §2.1.3.1, recursive."""
    if len(d) == 1:
        return []
    k = 1 << ((len(d) - 1).bit_length() - 1)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) -- RFC 9162 §2.1.4.1, recursive."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


# transparency-dev/merkle testonly/constants.go LeafInputs
ENTRIES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    bytes(range(0x60, 0x70)),
]

# ------------------------------------------------------------------ the pure tree


def test_sm3_matches_the_gb_t_32905_examples() -> None:
    """GB/T 32905-2016 Appendix A, examples 1 and 2."""
    assert SM3.digest(b"abc").hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )
    assert SM3.digest(b"abcd" * 16).hex() == (
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )


def test_sm3_leaf_node_and_empty_hashes_match_openssl() -> None:
    assert SM3.empty_root == openssl_sm3(b"")
    leaves = [merkle.leaf_hash(e, SM3) for e in ENTRIES]
    for entry, leaf in zip(ENTRIES, leaves, strict=True):
        assert leaf == openssl_sm3(b"\x00" + entry)  # RFC 9162 §2.1.1 leaf
        assert leaf != merkle.leaf_hash(entry)  # not the SHA-256 tree
    for left, right in ((0, 1), (2, 3), (6, 7), (7, 0)):
        expected = openssl_sm3(b"\x01" + leaves[left] + leaves[right])
        assert merkle.node_hash(leaves[left], leaves[right], SM3) == expected


@pytest.mark.parametrize("size", range(len(ENTRIES) + 1))
def test_sm3_root_of_every_prefix_matches_openssl(size: int) -> None:
    leaves = [merkle.leaf_hash(e, SM3) for e in ENTRIES[:size]]
    assert merkle.root_hash(leaves, SM3) == openssl_mth(ENTRIES[:size])
    compact = CompactRange(SM3)
    compact.extend(leaves)
    assert compact.root() == openssl_mth(ENTRIES[:size])


def test_sm3_proofs_match_the_recursive_definitions_and_have_the_sha256_shape() -> None:
    """Same generators, other hash: the proofs have exactly the SHA-256 tree's structure
    (length and positions), verify under SM3 and fail under SHA-256."""
    for n in range(1, 34):
        entries = [n.to_bytes(2, "big") + i.to_bytes(2, "big") for i in range(n)]
        sm3_leaves = [TONGSUO_SM3.leaf(e) for e in entries]
        sha_leaves = [merkle.leaf_hash(e) for e in entries]
        assert [merkle.leaf_hash(e, SM3) for e in entries] == sm3_leaves
        root = merkle.root_hash(sm3_leaves, SM3)
        assert root == ref_mth(sm3_leaves)
        for m in range(n):
            path = merkle.inclusion_proof(m, sm3_leaves, SM3)
            assert path == ref_path(m, sm3_leaves)
            assert len(path) == len(merkle.inclusion_proof(m, sha_leaves))
            assert merkle.verify_inclusion(sm3_leaves[m], m, n, path, root, SM3)
            if n > 1:  # a one-leaf tree hashes nothing in the proof
                assert not merkle.verify_inclusion(sm3_leaves[m], m, n, path, root)
        for m in range(1, n):
            proof = merkle.consistency_proof(m, sm3_leaves, SM3)
            assert proof == ref_subproof(m, sm3_leaves, True)
            assert len(proof) == len(merkle.consistency_proof(m, sha_leaves))
            old = merkle.root_hash(sm3_leaves[:m], SM3)
            assert merkle.verify_consistency(m, n, old, root, proof, SM3)
            assert not merkle.verify_consistency(m, n, old, root, proof)


def test_sm3_empty_tree_and_compact_range_state() -> None:
    leaf = merkle.leaf_hash(b"x", SM3)
    assert merkle.root_hash([], SM3) == SM3.empty_root != merkle.EMPTY_ROOT
    assert merkle.verify_consistency(0, 1, SM3.empty_root, leaf, [], SM3)
    assert not merkle.verify_consistency(0, 1, merkle.EMPTY_ROOT, leaf, [], SM3)
    compact = CompactRange(SM3)
    compact.extend([leaf] * 5)
    size, nodes = compact.to_state()
    restored = CompactRange.from_state(size, nodes, SM3)
    assert restored.hasher is SM3 and restored.root() == compact.root()
    assert CompactRange.from_state(size, nodes).root() != compact.root()  # SHA-256 default


def test_tree_hashes_are_named() -> None:
    assert merkle.tree_hash("SM3") is SM3 and merkle.tree_hash("SHA-256") is SHA256
    with pytest.raises(ValueError, match="unknown audit tree hash"):
        merkle.tree_hash("MD5")


def test_checkpoint_names_its_tree_hash_and_old_notes_mean_sha256() -> None:
    signer = Ed25519NoteSigner("govtrust.test/audit", Ed25519PrivateKey.generate())
    head = Checkpoint("o/audit", 3, b"\x07" * 32, FrozenClock().now, "SM3")
    note = sign_checkpoint(head, signer)
    assert note.splitlines()[4] == "hash SM3"
    assert open_checkpoint(note, signer.name, signer.verifier_keys()) == head
    with pytest.raises(CheckpointError):  # the hash line is signed
        open_checkpoint(note.replace("hash SM3", "hash SHA-256"), signer.name, [])
    # A note signed before the hash line existed: the same body without it.
    old_body = head.body().decode().replace("hash SM3\n", "")
    public_key, signature = signer.sign(old_body.encode())
    encoded = base64.b64encode(key_id(signer.name, public_key) + signature).decode()
    old = f"{old_body}\n\u2014 {signer.name} {encoded}\n"
    opened = open_checkpoint(old, signer.name, signer.verifier_keys())
    assert opened.hash_algorithm == DEFAULT_HASH == "SHA-256"
    assert opened.root_hash == head.root_hash


# ------------------------------------------------------------------ the trail, both backends


def trail(audit_services: Services, clock: FrozenClock, hasher: TreeHash) -> AuditTrail:
    signer = audit_services.audit.signer
    return AuditTrail(signer=signer, origin=signer.name, clock=clock, hasher=hasher)


@pytest.fixture
def sm3_services(audit_services: Services, clock: FrozenClock) -> Services:
    """The test trail, hashing with SM3."""
    audit_services.audit = trail(audit_services, clock, SM3)
    return audit_services


def event(n: int) -> AuditEvent:
    return AuditEvent("sub-1", "seal.used", "seal", f"seal-{n}", details={"n": n})


def record(services: Services, count: int, start: int = 0) -> None:
    with transaction(services.sessions) as session:
        for n in range(start, start + count):
            services.audit.record(session, event(n))


def checkpoint(services: Services) -> str:
    with transaction(services.sessions) as session:
        return services.audit.checkpoint(session)


def raw_update(engine: Engine, sql: str, **params: object) -> None:
    """Write past the append-only triggers, as a database administrator could."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_entries_no_update"))
        connection.execute(text(sql), params)


def test_sm3_trail_stores_sm3_leaves_and_signs_an_sm3_checkpoint(
    sm3_services: Services,
) -> None:
    record(sm3_services, 5)
    note = checkpoint(sm3_services)
    signer = sm3_services.audit.signer
    head = open_checkpoint(note, signer.name, signer.verifier_keys())
    assert head.hash_algorithm == "SM3" and "\nhash SM3\n" in note
    with sm3_services.sessions() as session:
        stored = list(sm3_services.audit.store.entries(session))
    for entry in stored:
        assert entry.leaf_hash == openssl_sm3(b"\x00" + entry.entry)
    assert head.root_hash == openssl_mth([s.entry for s in stored])
    with sm3_services.sessions() as session:
        report = sm3_services.audit.verify(session)
    assert report.ok and (report.entries_checked, report.checkpoints_checked) == (5, 1)


def test_sm3_trail_names_the_edited_row(sm3_services: Services, clock: FrozenClock) -> None:
    record(sm3_services, 6)
    checkpoint(sm3_services)
    clock.advance(minutes=1)
    record(sm3_services, 2, start=6)
    checkpoint(sm3_services)
    raw_update(
        sm3_services.engine,
        "UPDATE audit_entries SET entry = :e, object_id = 'seal-9' WHERE idx = 3",
        e=_entry(sm3_services, 3).replace(b'"seal-3"', b'"seal-9"'),
    )
    with sm3_services.sessions() as session:
        report = sm3_services.audit.verify(session)
    assert not report.ok
    assert report.first_bad_index == 3
    assert report.problem == "entry 3 does not match its leaf hash"


def test_sm3_trail_catches_a_recomputed_leaf_hash(sm3_services: Services) -> None:
    record(sm3_services, 6)
    checkpoint(sm3_services)
    record(sm3_services, 2, start=6)
    for index in (4, 6):  # before the last checkpoint, and since
        forged = _entry(sm3_services, index).replace(b'"seal-', b'"seal-8')
        raw_update(
            sm3_services.engine,
            "UPDATE audit_entries SET entry = :e, leaf_hash = :h, object_id = :o WHERE idx = :i",
            e=forged,
            h=openssl_sm3(b"\x00" + forged),
            o=f"seal-8{index}",
            i=index,
        )
    with sm3_services.sessions() as session:
        report = sm3_services.audit.verify(session)
    assert not report.ok
    assert report.first_bad_index == 4
    assert "entries 4..5 do not give the tree node" in (report.problem or "")
    with pytest.raises(AuditTampered, match=r"entries 6\.\.7"):
        checkpoint(sm3_services)


def _entry(services: Services, index: int) -> bytes:
    with services.sessions() as session:
        stored = services.audit.store.entry(session, index)
    assert stored is not None
    return stored.entry


def test_sm3_proofs_over_http_name_the_hash_and_verify(
    sm3_services: Services, clock: FrozenClock
) -> None:
    client = TestClient(create_app(services=sm3_services))
    record(sm3_services, 3)
    first = open_checkpoint(
        client.get("/audit/checkpoint").text,
        sm3_services.audit.signer.name,
        sm3_services.audit.signer.verifier_keys(),
    )
    record(sm3_services, 6, start=3)
    clock.advance(seconds=sm3_services.settings.audit_checkpoint_seconds)  # a new one is due
    second = open_checkpoint(
        client.get("/audit/checkpoint").text,
        sm3_services.audit.signer.name,
        sm3_services.audit.signer.verifier_keys(),
    )
    assert (first.hash_algorithm, second.hash_algorithm) == ("SM3", "SM3")
    size, root = second.tree_size, second.root_hash
    for index in range(size):
        body = client.get(f"/audit/proof/inclusion?leaf_index={index}&tree_size={size}").json()
        assert body["hash_algorithm"] == "SM3"
        hasher = merkle.tree_hash(body["hash_algorithm"])
        leaf = base64.b64decode(body["leaf_hash"])
        path = [base64.b64decode(node) for node in body["proof"]]
        assert merkle.verify_inclusion(leaf, index, size, path, root, hasher)
        assert not merkle.verify_inclusion(leaf, index, size, path, root)  # SHA-256: no
    body = client.get(f"/audit/proof/consistency?first={first.tree_size}&second={size}").json()
    assert body["hash_algorithm"] == "SM3"
    path = [base64.b64decode(node) for node in body["proof"]]
    args = (first.tree_size, size, first.root_hash, root, path)
    assert merkle.verify_consistency(*args, SM3)
    assert not merkle.verify_consistency(*args)


def test_sha256_proofs_over_http_say_sha256(audit_services: Services) -> None:
    client = TestClient(create_app(services=audit_services))
    record(audit_services, 2)
    inclusion = client.get("/audit/proof/inclusion?leaf_index=0&tree_size=2").json()
    consistency = client.get("/audit/proof/consistency?first=1&second=2").json()
    assert inclusion["hash_algorithm"] == consistency["hash_algorithm"] == "SHA-256"


# ------------------------------------------------------------------ the wrong hash is refused


@pytest.mark.parametrize("with_checkpoint", [True, False], ids=["checkpoint", "first-entry"])
@pytest.mark.parametrize(("built", "configured"), [(SM3, SHA256), (SHA256, SM3)])
def test_a_log_is_not_used_with_another_tree_hash(
    audit_services: Services,
    clock: FrozenClock,
    built: TreeHash,
    configured: TreeHash,
    with_checkpoint: bool,
) -> None:
    audit_services.audit = trail(audit_services, clock, built)
    record(audit_services, 3)
    if with_checkpoint:
        checkpoint(audit_services)
    audit_services.audit = wrong = trail(audit_services, clock, configured)
    evidence = "checkpoint at size 3" if with_checkpoint else "first entry"
    message = rf"{built.name} tree \(.*{evidence}.*GOVTRUST_AUDIT_HASH={built.name}"
    with pytest.raises(AuditHashMismatch, match=message), audit_services.sessions() as session:
        wrong.verify(session)
    with pytest.raises(AuditHashMismatch):
        record(audit_services, 1, start=3)
    with pytest.raises(AuditHashMismatch):
        checkpoint(audit_services)
    client = TestClient(create_app(services=audit_services), raise_server_exceptions=False)
    refused = client.get("/audit/proof/inclusion?leaf_index=0&tree_size=3")
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    with audit_services.sessions() as session:
        assert audit_services.audit.store.size(session) == 3  # nothing appended
    right = trail(audit_services, clock, built)
    with audit_services.sessions() as session:
        assert right.verify(session).ok


def test_an_empty_log_takes_the_configured_hash(
    audit_services: Services, clock: FrozenClock
) -> None:
    audit_services.audit = trail(audit_services, clock, SM3)
    with audit_services.sessions() as session:
        audit_services.audit.check_hash(session)
        assert audit_services.audit.log_hash(session) is None
    record(audit_services, 1)
    with audit_services.sessions() as session:
        assert audit_services.audit.log_hash(session) == (
            "SM3",
            "the leaf hash of its first entry",
        )


def test_verify_log_refuses_a_checkpoint_of_another_tree_hash(
    sm3_services: Services,
) -> None:
    """Below the trail's own check: each checkpoint's signed hash line is compared too."""
    record(sm3_services, 2)
    checkpoint(sm3_services)
    signer = sm3_services.audit.signer
    with sm3_services.sessions() as session:
        store = sm3_services.audit.store
        entries = list(store.entries(session))
        checkpoints = store.checkpoints(session)
    # The same leaves relabelled: every entry "matches" only if recomputed with SM3.
    report = verify_log(entries, checkpoints, signer.name, signer.verifier_keys(), SHA256)
    assert not report.ok and report.first_bad_index == 0
    forged = [
        e.__class__(**{**e.__dict__, "leaf_hash": merkle.leaf_hash(e.entry)}) for e in entries
    ]
    report = verify_log(forged, checkpoints, signer.name, signer.verifier_keys(), SHA256)
    assert not report.ok
    assert report.problem == "checkpoint at size 2 commits to a SM3 tree, not SHA-256"


# ------------------------------------------------------------------ the CLI, both backends


def _must_not_serve(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("serve started with a mismatching GOVTRUST_AUDIT_HASH")


@pytest.fixture
def cli_env(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str:
    """Environment for ``govtrust`` on the chosen backend; returns the database URL."""
    monkeypatch.setenv("GOVTRUST_ENVIRONMENT", "test")
    monkeypatch.setenv("GOVTRUST_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("GOVTRUST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GOVTRUST_ISSUER", "https://govtrust.test")
    monkeypatch.delenv("GOVTRUST_REDIS_URL", raising=False)
    if backend == "embedded":
        url = f"sqlite:///{tmp_path / 'govtrust.db'}"
    else:
        base, schema = request.getfixturevalue("pg_schema")
        url = f"{base}?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("GOVTRUST_DATABASE_URL", url)
    return url


def test_cli_verifies_an_sm3_log_and_refuses_the_wrong_setting(
    cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVTRUST_AUDIT_HASH", "SM3")
    services = build_services(make_settings(tmp_path, database_url=cli_env, audit_hash="SM3"))
    upgrade(services.engine)
    services.keys.init()
    record(services, 4)
    services.close()
    runner = CliRunner()
    result = runner.invoke(main, ["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    assert "hash SM3" in result.output.splitlines()
    result = runner.invoke(main, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "audit trail intact" in result.output

    monkeypatch.setenv("GOVTRUST_AUDIT_HASH", "SHA-256")
    monkeypatch.setattr("uvicorn.run", _must_not_serve)
    for command in (["audit", "verify"], ["audit", "checkpoint"], ["serve"]):
        result = runner.invoke(main, command)
        assert result.exit_code == 1, result.output
        assert "SM3 tree" in result.output and "GOVTRUST_AUDIT_HASH=SM3" in result.output
        assert "TAMPERED" not in result.output

    monkeypatch.setenv("GOVTRUST_AUDIT_HASH", "SM3")
    engine = make_engine(cli_env)
    with engine.connect() as connection:
        index, entry = connection.execute(
            text("SELECT idx, entry FROM audit_entries WHERE object_id = 'seal-2'")
        ).one()
    raw_update(
        engine,
        "UPDATE audit_entries SET entry = :e WHERE idx = :i",
        e=bytes(entry).replace(b"seal-2", b"seal-7"),
        i=index,
    )
    engine.dispose()
    result = runner.invoke(main, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"first bad entry {index}: entry {index} does not match its leaf hash" in result.output
