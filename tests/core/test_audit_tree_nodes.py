"""The audit tree's stored interior nodes (RFC 9162 §2.1.1) on both backends: proofs and tree
heads from O(log n) stored hashes, equal to those from the leaves; a log from before the nodes
were kept; a tampered or stray node named by verification and refused by the checkpoint."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from core import cli
from core.audit import merkle
from core.audit import trail as trail_module
from core.audit.checkpoint import open_checkpoint
from core.audit.trail import AuditTampered
from core.db.engine import transaction
from core.services import Services
from tests.core.test_audit_trail import checkpoint, record, verify

NODES_BY_SIZE = 130


def raw(services: Services, sql: str, **params: object) -> None:
    """Write past the append-only triggers of the entries and the nodes, as an administrator."""
    with services.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for table in ("audit_entries", "audit_tree_nodes"):
                for verb in ("update", "delete"):
                    connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))
        connection.execute(text(sql), params)


def signed_root(services: Services, note: str) -> tuple[int, bytes]:
    signer = services.audit.signer
    head = open_checkpoint(note, signer.name, signer.verifier_keys())
    return head.tree_size, head.root_hash


@pytest.mark.parametrize("hasher", [merkle.SHA256, merkle.SM3], ids=lambda h: h.name)
def test_roots_of_stored_nodes_give_the_proofs_of_the_leaves(hasher: merkle.TreeHash) -> None:
    leaves = [hasher.leaf(str(i).encode()) for i in range(NODES_BY_SIZE)]
    tree = merkle.CompactRange(hasher)
    nodes: dict[merkle.Node, bytes] = {}
    for index, leaf in enumerate(leaves):
        nodes[(0, index)] = leaf
        made = tree.append(leaf)
        assert [node for node, _ in made] == [
            (level + 1, index >> (level + 1)) for level in range(len(made))
        ]
        siblings = [nodes[node] for node in merkle.append_siblings(index)]
        assert merkle.completed_nodes(index, leaf, siblings, hasher) == made
        nodes.update(made)
    for node, value in nodes.items():
        lo, hi = merkle.node_span(node)
        assert value == merkle.root_hash(leaves[lo:hi], hasher)
        assert merkle.append_order(node) == (hi - 1, node[0])

    def root(lo: int, hi: int) -> bytes:
        return merkle.range_root([nodes[n] for n in merkle.perfect_subtrees(lo, hi)], hasher)

    for size in range(1, NODES_BY_SIZE + 1):
        prefix = leaves[:size]
        assert root(0, size) == merkle.root_hash(prefix, hasher)
        for index in range(size):
            ranges = merkle.inclusion_ranges(index, size)
            assert [root(*r) for r in ranges] == merkle.inclusion_proof(index, prefix, hasher)
        for old in range(size + 1):
            ranges = merkle.consistency_ranges(old, size)
            assert [root(*r) for r in ranges] == merkle.consistency_proof(old, prefix, hasher)


def test_a_range_off_the_tree_s_subtrees_is_refused() -> None:
    assert merkle.perfect_subtrees(4, 7) == [(1, 2), (0, 6)]
    with pytest.raises(merkle.ProofError):
        merkle.perfect_subtrees(1, 3)
    with pytest.raises(merkle.ProofError):
        merkle.perfect_subtrees(5, 4)
    with pytest.raises(merkle.ProofError):
        merkle.completed_nodes(3, b"\x00" * 32, [], merkle.SHA256)


def test_proofs_and_tree_heads_read_log_n_stored_hashes(
    audit_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(audit_services, 300)
    first = checkpoint(audit_services)
    store = audit_services.audit.store
    asked: list[int] = []
    grown: list[tuple[int, int]] = []
    nodes, between = store.nodes, store.leaf_hashes_between

    def counted_nodes(session, wanted):  # type: ignore[no-untyped-def]
        asked.append(len(wanted))
        return nodes(session, wanted)

    def counted_between(session, start, end):  # type: ignore[no-untyped-def]
        grown.append((start, end))
        return between(session, start, end)

    def no_leaves(*args: object) -> list[bytes]:
        raise AssertionError("a proof read every leaf")

    monkeypatch.setattr(store, "nodes", counted_nodes)
    monkeypatch.setattr(store, "leaf_hashes_between", counted_between)
    monkeypatch.setattr(store, "leaf_hashes", no_leaves)
    size, root = signed_root(audit_services, first)
    with audit_services.sessions() as session:
        for index in (0, 1, 150, 255, 256, 299):
            proof = audit_services.audit.inclusion_proof(session, index, size)
            assert merkle.verify_inclusion(proof.leaf_hash, index, size, proof.path, root)
    assert asked and max(asked) <= 9 * 9  # at most log2(n) ranges of log2(n) subtrees each
    record(audit_services, 5, start=300)
    second = checkpoint(audit_services)
    assert grown == [(300, 305)]  # only the entries since the last checkpoint are rehashed
    with audit_services.sessions() as session:
        proof = audit_services.audit.consistency_proof(session, 300, 305)
    assert merkle.verify_consistency(
        300, 305, root, signed_root(audit_services, second)[1], proof.path
    )


def test_a_log_from_before_the_nodes_answers_from_its_leaves_then_builds_them(
    audit_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trail_module, "NODES_PER_WRITE", 4)  # rebuilt nodes written in turns
    record(audit_services, 37)
    size, root = signed_root(audit_services, checkpoint(audit_services))
    raw(audit_services, "DELETE FROM audit_tree_nodes")  # as migration 0016 finds a log
    with audit_services.sessions() as session:
        for index in (0, 20, 36):
            proof = audit_services.audit.inclusion_proof(session, index, size)
            assert merkle.verify_inclusion(proof.leaf_hash, index, size, proof.path, root)
    cli._build_audit_nodes(audit_services)  # what `govtrust serve` does at start
    with transaction(audit_services.sessions) as session:
        assert audit_services.audit.build_nodes(session) is False
    report = verify(audit_services)
    assert report.ok, report.problem
    raw(audit_services, "DELETE FROM audit_tree_nodes")
    record(audit_services, 3, start=37)  # leaf 39 merges with node (1, 18), not stored: rebuilt
    with transaction(audit_services.sessions) as session:
        assert audit_services.audit.build_nodes(session) is False
    new_size, new_root = signed_root(audit_services, checkpoint(audit_services))
    with audit_services.sessions() as session:
        proof = audit_services.audit.consistency_proof(session, size, new_size)
    assert merkle.verify_consistency(size, new_size, root, new_root, proof.path)
    assert verify(audit_services).ok


def test_a_tampered_node_is_named_and_no_checkpoint_is_signed_over_it(
    audit_services: Services,
) -> None:
    record(audit_services, 8)
    checkpoint(audit_services)
    raw(
        audit_services,
        "UPDATE audit_tree_nodes SET hash = :h WHERE last_leaf = 7 AND level = 3",
        h=b"\x01" * 32,
    )
    report = verify(audit_services)
    assert not report.ok
    assert report.first_bad_index == 0
    assert "entries 0..7 do not give the tree node" in (report.problem or "")
    record(audit_services, 1, start=8)
    with pytest.raises(AuditTampered, match="no longer extends its last checkpoint"):
        checkpoint(audit_services)


def test_a_stray_node_row_is_named(audit_services: Services) -> None:
    record(audit_services, 4)
    raw(
        audit_services,
        "INSERT INTO audit_tree_nodes (last_leaf, level, hash) VALUES (2, 1, :h)",
        h=b"\x02" * 32,
    )
    report = verify(audit_services)
    assert not report.ok
    assert report.problem == "a stored tree node (leaf 2, level 1) is no node of the tree"
