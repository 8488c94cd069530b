"""Auditors check the log over HTTP without trusting the server: RFC 9162 proofs."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from core.app import create_app
from core.audit import merkle
from core.audit.checkpoint import open_checkpoint
from core.audit.entry import AuditEvent
from core.db.engine import transaction
from core.services import Services
from tests.conftest import FrozenClock


@pytest.fixture
def client(audit_services: Services) -> Iterator[TestClient]:
    yield TestClient(create_app(services=audit_services))


def append(audit_services: Services, count: int) -> None:
    with transaction(audit_services.sessions) as session:
        for n in range(count):
            audit_services.audit.record(
                session, AuditEvent("sub-1", "licence.issued", "licence", f"L-{n}")
            )


def head(client: TestClient, audit_services: Services) -> tuple[int, bytes]:
    response = client.get("/audit/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    first_line = client.get("/audit/key").text.splitlines()[0]
    name, _key_id, encoded = first_line.split("+", 2)
    public_key = base64.b64decode(encoded)[1:]
    assert name == audit_services.audit.signer.name
    signed = open_checkpoint(response.text, name, [public_key])
    return signed.tree_size, signed.root_hash


def test_inclusion_proofs_verify_against_the_signed_root(
    client: TestClient, audit_services: Services
) -> None:
    append(audit_services, 7)
    size, root = head(client, audit_services)
    assert size == 7
    for index in range(size):
        body = client.get(f"/audit/proof/inclusion?leaf_index={index}&tree_size={size}").json()
        leaf = base64.b64decode(body["leaf_hash"])
        path = [base64.b64decode(node) for node in body["proof"]]
        assert merkle.verify_inclusion(leaf, index, size, path, root)
        assert not merkle.verify_inclusion(leaf, (index + 1) % size, size, path, root)


def test_consistency_proof_links_two_checkpoints(
    client: TestClient, audit_services: Services, clock: FrozenClock
) -> None:
    append(audit_services, 3)
    size1, root1 = head(client, audit_services)
    append(audit_services, 5)
    clock.advance(seconds=audit_services.settings.audit_checkpoint_seconds)
    size2, root2 = head(client, audit_services)
    body = client.get(f"/audit/proof/consistency?first={size1}&second={size2}").json()
    path = [base64.b64decode(node) for node in body["proof"]]
    assert merkle.verify_consistency(size1, size2, root1, root2, path)
    assert not merkle.verify_consistency(size1, size2, root2, root1, path)


def test_the_public_checkpoint_is_signed_anew_at_most_once_a_minute(
    client: TestClient, audit_services: Services, clock: FrozenClock
) -> None:
    """Asked after every append, the public endpoint would rehash the whole log under the
    append lock each time: it answers the latest checkpoint (of a prefix of the log) until
    it is GOVTRUST_AUDIT_CHECKPOINT_SECONDS old, then signs one of the log as it is. The
    operator's command always signs the log as it is."""
    assert audit_services.settings.audit_checkpoint_seconds == 60
    append(audit_services, 3)
    assert head(client, audit_services)[0] == 3
    append(audit_services, 2)
    clock.advance(seconds=59)
    assert head(client, audit_services)[0] == 3  # young enough: the same checkpoint
    with transaction(audit_services.sessions) as session:
        fresh = audit_services.audit.checkpoint(session)  # `govtrust audit checkpoint`
    assert fresh.splitlines()[1] == "5"
    append(audit_services, 1)
    assert head(client, audit_services)[0] == 5  # the operator's, signed just now
    clock.advance(seconds=60)
    assert head(client, audit_services)[0] == 6


@pytest.mark.parametrize(
    "query",
    [
        "/audit/proof/inclusion?leaf_index=5&tree_size=2",
        "/audit/proof/inclusion?leaf_index=0&tree_size=99",
        "/audit/proof/consistency?first=3&second=2",
        "/audit/proof/consistency?first=1&second=99",
    ],
)
def test_proofs_out_of_range_are_problems(
    client: TestClient, audit_services: Services, query: str
) -> None:
    append(audit_services, 2)
    response = client.get(query)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/proof-range"


@pytest.mark.parametrize(
    "query",
    [
        "/audit/proof/inclusion?leaf_index=x&tree_size=2",
        "/audit/proof/inclusion?leaf_index=-1&tree_size=2",
        "/audit/proof/inclusion",
        "/audit/proof/consistency?first=0&second=1",
    ],
)
def test_malformed_proof_queries_are_problems(client: TestClient, query: str) -> None:
    response = client.get(query)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
