"""The audit trail on both backends: append, checkpoint, verify, and tampering detected."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from core.audit import merkle
from core.audit.checkpoint import CheckpointError, open_checkpoint
from core.audit.entry import AuditEvent, PersonalDataInAudit, parse_entry
from core.audit.trail import AuditTampered
from core.db.engine import transaction
from core.services import Services
from tests.conftest import FrozenClock

DOC_HASH = "ab" * 32


def event(n: int) -> AuditEvent:
    return AuditEvent(
        actor=f"sub-{n % 3}",
        action="seal.used",
        object_type="seal",
        object_id=f"seal-{n}",
        document_hash=DOC_HASH,
        details={"purpose": "approval", "n": n},
    )


def record(audit_services: Services, count: int, start: int = 0) -> None:
    with transaction(audit_services.sessions) as session:
        for n in range(start, start + count):
            audit_services.audit.record(session, event(n))


def checkpoint(audit_services: Services) -> str:
    with transaction(audit_services.sessions) as session:
        return audit_services.audit.checkpoint(session)


def verify(audit_services: Services):  # type: ignore[no-untyped-def]
    with audit_services.sessions() as session:
        return audit_services.audit.verify(session)


def raw(audit_services: Services, sql: str, **params: object) -> None:
    """Write past the append-only triggers, as a database administrator could."""
    with audit_services.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            connection.execute(text(sql), params)
        else:
            for verb in ("update", "delete"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS audit_entries_no_{verb}"))
            connection.execute(text(sql), params)


def test_entries_get_consecutive_indexes_and_frozen_time(
    audit_services: Services, clock: FrozenClock
) -> None:
    record(audit_services, 3)
    with audit_services.sessions() as session:
        stored = list(audit_services.audit.store.entries(session))
    assert [s.index for s in stored] == [0, 1, 2]
    parsed = parse_entry(stored[1].entry)
    assert parsed.recorded_at == clock.now
    assert parsed.event == event(1)


def test_rolled_back_transaction_leaves_no_entry(audit_services: Services) -> None:
    with pytest.raises(RuntimeError), transaction(audit_services.sessions) as session:
        audit_services.audit.record(session, event(0))
        raise RuntimeError("the domain change failed")
    with audit_services.sessions() as session:
        assert audit_services.audit.store.size(session) == 0


def test_intact_log_verifies_across_checkpoints(
    audit_services: Services, clock: FrozenClock
) -> None:
    record(audit_services, 5)
    first = checkpoint(audit_services)
    clock.advance(minutes=1)
    record(audit_services, 4, start=5)
    second = checkpoint(audit_services)
    signer = audit_services.audit.signer
    head1 = open_checkpoint(first, signer.name, signer.verifier_keys())
    head2 = open_checkpoint(second, signer.name, signer.verifier_keys())
    assert (head1.tree_size, head2.tree_size) == (5, 9)
    assert head2.timestamp == clock.now.replace(microsecond=0)
    report = verify(audit_services)
    assert report.ok, report.problem
    assert (report.entries_checked, report.checkpoints_checked) == (9, 2)


def test_checkpoint_is_reused_while_the_log_has_not_grown(audit_services: Services) -> None:
    record(audit_services, 2)
    assert checkpoint(audit_services) == checkpoint(audit_services)


def test_checkpoint_signature_fails_under_another_key(audit_services: Services) -> None:
    record(audit_services, 1)
    note = checkpoint(audit_services)
    with pytest.raises(CheckpointError):
        open_checkpoint(
            note.replace("\n1\n", "\n2\n", 1),
            audit_services.audit.signer.name,
            audit_services.audit.signer.verifier_keys(),
        )
    with pytest.raises(CheckpointError):
        open_checkpoint(note, audit_services.audit.signer.name, [b"\x00" * 32])


def test_table_refuses_update_and_delete(audit_services: Services) -> None:
    record(audit_services, 2)
    checkpoint(audit_services)
    for statement in (
        "UPDATE audit_entries SET action = 'x' WHERE idx = 0",
        "DELETE FROM audit_entries WHERE idx = 1",
        "UPDATE audit_checkpoints SET note = 'x'",
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_tree_nodes SET hash = hash",
        "DELETE FROM audit_tree_nodes",
    ):
        with pytest.raises(DatabaseError), audit_services.engine.begin() as connection:
            connection.execute(text(statement))
    if audit_services.engine.dialect.name == "postgresql":
        for table in ("audit_entries", "audit_tree_nodes"):
            with pytest.raises(DatabaseError), audit_services.engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {table}"))
    assert verify(audit_services).ok


def test_edited_row_is_named(audit_services: Services) -> None:
    record(audit_services, 6)
    checkpoint(audit_services)
    with audit_services.sessions() as session:
        original = audit_services.audit.store.entry(session, 3)
    assert original is not None
    forged = original.entry.replace(b'"seal-3"', b'"seal-9"')
    raw(
        audit_services,
        "UPDATE audit_entries SET entry = :e, object_id = 'seal-9' WHERE idx = 3",
        e=forged,
    )
    report = verify(audit_services)
    assert not report.ok
    assert report.first_bad_index == 3
    assert "entry 3" in (report.problem or "")


def forge_with_its_leaf_hash(audit_services: Services, index: int) -> None:
    """Edit entry ``index`` and store the leaf hash of the edited entry, as one who knows how
    the log hashes would."""
    with audit_services.sessions() as session:
        original = audit_services.audit.store.entry(session, index)
    assert original is not None
    forged = original.entry.replace(b'"approval"', b'"personal"')
    raw(
        audit_services,
        "UPDATE audit_entries SET entry = :e, leaf_hash = :h WHERE idx = :i",
        e=forged,
        h=merkle.leaf_hash(forged),
        i=index,
    )


def test_edited_row_with_recomputed_leaf_hash_is_named_and_never_signed(
    audit_services: Services,
) -> None:
    record(audit_services, 6)
    first = checkpoint(audit_services)
    forge_with_its_leaf_hash(audit_services, 4)
    report = verify(audit_services)
    assert not report.ok
    assert report.first_bad_index == 4
    assert "entries 4..5 do not give the tree node" in (report.problem or "")
    # The next checkpoint is signed over the tree as appended (its stored nodes), so it still
    # extends the first one: the edit is in neither.
    record(audit_services, 1, start=6)
    second = checkpoint(audit_services)
    signer = audit_services.audit.signer
    head1 = open_checkpoint(first, signer.name, signer.verifier_keys())
    head2 = open_checkpoint(second, signer.name, signer.verifier_keys())
    with audit_services.sessions() as session:
        proof = audit_services.audit.consistency_proof(session, 6, 7)
    assert merkle.verify_consistency(6, 7, head1.root_hash, head2.root_hash, proof.path)


def test_edited_row_since_the_last_checkpoint_fails_the_next_one(
    audit_services: Services,
) -> None:
    record(audit_services, 6)
    checkpoint(audit_services)
    record(audit_services, 4, start=6)
    forge_with_its_leaf_hash(audit_services, 6)
    with pytest.raises(AuditTampered, match=r"entries 6\.\.7"):
        checkpoint(audit_services)


def test_deleted_row_is_named(audit_services: Services) -> None:
    record(audit_services, 5)
    raw(audit_services, "DELETE FROM audit_entries WHERE idx = 2")
    report = verify(audit_services)
    assert not report.ok
    assert report.first_bad_index == 2
    assert report.problem == "entry 2 is missing"


def test_deleted_last_row_is_caught_by_the_checkpoint(audit_services: Services) -> None:
    record(audit_services, 4)
    checkpoint(audit_services)
    raw(audit_services, "DELETE FROM audit_entries WHERE idx = 3")
    report = verify(audit_services)
    assert not report.ok
    assert "checkpoint was signed at size 4" in (report.problem or "")


def test_reordered_rows_are_named(audit_services: Services) -> None:
    record(audit_services, 5)
    raw(audit_services, "UPDATE audit_entries SET idx = 100 WHERE idx = 1")
    raw(audit_services, "UPDATE audit_entries SET idx = 1 WHERE idx = 2")
    raw(audit_services, "UPDATE audit_entries SET idx = 2 WHERE idx = 100")
    report = verify(audit_services)
    assert not report.ok
    assert report.first_bad_index == 1


def test_id_number_is_refused_in_an_entry(audit_services: Services) -> None:
    bad = AuditEvent(
        actor="sub-1",
        action="licence.issued",
        object_type="licence",
        object_id="L-1",
        details={"holder": "11010519491231002X"},
    )
    with pytest.raises(PersonalDataInAudit), transaction(audit_services.sessions) as session:
        audit_services.audit.record(session, bad)
    with audit_services.sessions() as session:
        assert audit_services.audit.store.size(session) == 0


def test_malformed_document_hash_is_refused(audit_services: Services) -> None:
    bad = AuditEvent(
        actor="a", action="seal.used", object_type="seal", object_id="s", document_hash="not-a-hash"
    )
    with (
        pytest.raises(ValueError, match="document_hash"),
        transaction(audit_services.sessions) as s,
    ):
        audit_services.audit.record(s, bad)


def test_concurrent_appends_leave_no_gap(audit_services: Services) -> None:
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            for n in range(5):
                record(audit_services, 1, start=offset * 10 + n)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with audit_services.sessions() as session:
        indexes = [s.index for s in audit_services.audit.store.entries(session)]
    assert indexes == list(range(20))
    checkpoint(audit_services)
    assert verify(audit_services).ok


def test_other_18_digit_codes_are_not_mistaken_for_id_numbers(audit_services: Services) -> None:
    dotted = "1.2.156.3005.2.11100000000013338W032.123456789012345678.0000001.001.X"
    for reference in (dotted, "110105194912310021", "order 123456789012345678"):
        event = AuditEvent(
            actor="a",
            action="licence.issued",
            object_type="licence",
            object_id="L-1",
            details={"ref": reference},
        )
        with transaction(audit_services.sessions) as session:
            audit_services.audit.record(session, event)  # accepted: not a valid ID number
