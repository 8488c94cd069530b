"""The licence as a sealed OFD over HTTP (GB/T 33190 with a GB/T 38540 seal): the holder and
the issuing authority download it, its seal verifies against the registry's SM2 hierarchy,
its QR (signed SM2 here, ``GOVTRUST_LICENCE_ALGORITHM=SM2``) verifies, the SES seal of the
authority's seal is made once and reused, and nobody else gets it. Without the SM2 hierarchy
the endpoints answer 409 (``tests/certs/test_licence_wallet.py``)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from certs.ofd.licence import registry_trust
from certs.ofd.seals import SesSealRow
from certs.ofd.verify import verify_ofd
from certs.ofd.xml import read_container
from core.services import Services
from seal.registry import SealRegistry
from seal.storage import SealRow
from tests.certs.conftest import audit_entries
from tests.certs.test_licence_api import (  # noqa: F401 (fixtures)
    ADMIN_A,
    ADMIN_B,
    CITIZEN,
    HOLDER_SCOPE,
    STRANGER,
    RecordingClient,
    World,
    bearer,
    client,
    guide_body,
    issued,
    world,
)
from tests.conftest import FrozenClock
from tests.keys.sm2_services import sm2_services
from verify.qr_image import decode_image

OFD_TYPE = "application/ofd"


@pytest.fixture
def services(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, clock: FrozenClock
) -> Iterator[Services]:
    """The ``services`` of ``tests/conftest.py`` with the SM2 hierarchy on and licences
    signed SM2 (overrides it for this module's ``world``)."""
    built = sm2_services(tmp_path, clock, backend, request, licence_algorithm="SM2")
    built.keys.init()
    try:
        yield built
    finally:
        built.close()


def _qr(data: bytes) -> list[str]:
    [image] = [body for path, body in read_container(data).items() if path.endswith(".png")]
    with Image.open(io.BytesIO(image)) as picture:
        return decode_image(picture)


def _verdict(client: RecordingClient, text: str) -> str:
    response = client.post("/verify", json={"qr": text})
    assert response.status_code == 200
    return str(response.json()["verdict"])


def test_holder_and_authority_download_a_sealed_ofd_whose_seal_and_qr_verify(
    world: World, client: RecordingClient
) -> None:
    guide = issued(client, world.token(ADMIN_A), guide_body())
    identifier = guide["identifier"]
    holder = bearer(world.token(CITIZEN, HOLDER_SCOPE))
    response = client.get(f"/me/licences/{identifier}/document.ofd", headers=holder)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == OFD_TYPE
    assert response.headers["content-disposition"].endswith('.ofd"')
    assert response.headers["cache-control"] == "no-store"
    keys = world.services.keys
    result = verify_ofd(response.content, registry_trust(keys))
    assert result.valid, result.summary
    [signature] = result.signatures
    assert signature.ses is not None and signature.ses.signer_revocation == "good"
    [text] = _qr(response.content)
    assert _verdict(client, text) == "valid"

    admin = client.get(f"/licences/{identifier}/document.ofd", headers=bearer(world.token(ADMIN_A)))
    assert admin.status_code == 200
    assert verify_ofd(admin.content, registry_trust(keys)).valid

    # the authority's SES seal was made once (one SM2 seal key) and used twice
    with world.services.sessions() as session:
        rows = session.scalars(select(SesSealRow)).all()
    assert len(rows) == 1
    assert [key.kid for key in keys.list_keys("sm2-seal")] == [rows[0].key_kid]
    actions = [entry.event for entry in audit_entries(world.services)]
    assert [event.action for event in actions].count("seal.ses_created") == 1
    ofd_uses = [e for e in actions if e.action == "seal.used" and e.details.get("format") == "ofd"]
    assert [use.details["on"] for use in ofd_uses] == [identifier, identifier]


def test_nobody_else_gets_the_ofd_and_a_suspended_seal_seals_nothing(
    world: World, client: RecordingClient
) -> None:
    admin_token = world.token(ADMIN_A)
    identifier = issued(client, admin_token, guide_body())["identifier"]
    stranger = bearer(world.token(STRANGER, HOLDER_SCOPE))
    assert (
        client.get(f"/me/licences/{identifier}/document.ofd", headers=stranger).status_code == 404
    )
    other_authority = bearer(world.token(ADMIN_B))
    assert (
        client.get(f"/licences/{identifier}/document.ofd", headers=other_authority).status_code
        == 404
    )
    assert client.get(f"/licences/{identifier}/document.ofd").status_code == 401

    services = world.services
    seals = SealRegistry(services.sessions, services.keys, services.audit, services.keys.clock)
    with services.sessions() as session:
        [seal] = session.scalars(select(SealRow.id)).all()
    seals.set_status(seal, "suspended", by=world.person_ids[ADMIN_A], reason="印章暂停使用")
    refused = client.get(f"/licences/{identifier}/document.ofd", headers=bearer(admin_token))
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("seal-use-refused")
    with services.sessions() as session:
        assert session.scalars(select(SesSealRow)).all() == []
