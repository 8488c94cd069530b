"""The holder's wallet over HTTP: download the sealed PDF, preview it, show a dynamic QR
(亮证) that verifies for a few minutes only; and the issuing authority's sealed copies of the
electronic licence and of each paper print. Nobody else gets any of them (404)."""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import quote

from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from seal.stamping.signer import to_asn1
from tests.certs.test_licence_api import (  # noqa: F401 (fixtures)
    ADMIN_A,
    ADMIN_B,
    CITIZEN,
    HOLDER_SCOPE,
    STRANGER,
    RecordingClient,
    World,
    bearer,
    business_body,
    client,
    guide_body,
    issued,
    world,
)
from tests.certs.test_licence_import_api import guide_csv, post_csv
from verify.qr_image import decode_image, read_qr_texts


def _verdict(client: RecordingClient, text: str) -> str:
    response = client.post("/verify", json={"qr": text})
    assert response.status_code == 200
    return str(response.json()["verdict"])


def _pdf_qr(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "licence.pdf"
    path.write_bytes(pdf)
    texts = read_qr_texts(path)
    assert len(texts) == 1
    return texts[0]


def test_the_holder_downloads_a_sealed_pdf_whose_qr_verifies(
    world: World,
    client: RecordingClient,
    tmp_path: Path,
) -> None:
    guide = issued(client, world.token(ADMIN_A), guide_body())
    holder = bearer(world.token(CITIZEN, HOLDER_SCOPE))
    response = client.get(f"/me/licences/{guide['identifier']}/document.pdf", headers=holder)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["cache-control"] == "no-store"
    signature = PdfFileReader(io.BytesIO(response.content)).embedded_signatures[0]
    root = world.services.keys.signer("root").certificate_chain()[0]
    status = validate_pdf_signature(signature, ValidationContext(trust_roots=[to_asn1(root)]))
    assert status.intact and status.valid  # integrity and signature (trust: the pdfsig test)
    assert _verdict(client, _pdf_qr(response.content, tmp_path)) == "valid"

    preview = client.get(f"/me/licences/{guide['identifier']}/preview.png", headers=holder)
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(preview.content)) as image:
        assert [_verdict(client, text) for text in decode_image(image)] == ["valid"]


def test_a_licence_numbered_outside_latin_1_downloads_under_its_number(
    world: World, client: RecordingClient
) -> None:
    """A licence imported with its old number (闽导字第0001号): the PDF is named in ASCII and,
    for the clients that read it, by its number in UTF-8 (RFC 6266 §4.3), not a 500."""
    csv = guide_csv(CITIZEN).replace(b"DY-1,", "闽导字第0001号,".encode())
    imported = post_csv(client, world.token(ADMIN_A), csv)
    identifier = imported.json()["rows"][0]["identifier"]
    holder = bearer(world.token(CITIZEN, HOLDER_SCOPE))
    response = client.get(f"/me/licences/{identifier}/document.pdf", headers=holder)
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert response.headers["content-disposition"] == (
        'attachment; filename="licence-_0001_-v1.pdf"; '
        f"filename*=UTF-8''{quote('licence-闽导字第0001号-v1.pdf')}"
    )


def test_a_dynamic_qr_verifies_for_minutes_only(world: World, client: RecordingClient) -> None:
    business = issued(client, world.token(ADMIN_A), business_body())
    holder = bearer(world.token(CITIZEN, HOLDER_SCOPE))  # the company's legal representative
    shown = client.post(f"/me/licences/{business['identifier']}/dynamic-qr", headers=holder)
    assert shown.status_code == 200
    body = shown.json()
    assert body["image"].startswith("data:image/png;base64,")
    assert _verdict(client, body["qr"]) == "valid"
    world.services.keys.clock.advance(minutes=6)  # type: ignore[attr-defined]
    assert _verdict(client, body["qr"]) == "expired"


def test_a_licence_not_in_force_is_not_shown(world: World, client: RecordingClient) -> None:
    admin = world.token(ADMIN_A)
    guide = issued(client, admin, guide_body())
    suspended = client.post(
        f"/licences/{guide['identifier']}/suspend", json={"reason": "暂扣"}, headers=bearer(admin)
    )
    assert suspended.status_code == 200
    holder = bearer(world.token(CITIZEN, HOLDER_SCOPE))
    refused = client.post(f"/me/licences/{guide['identifier']}/dynamic-qr", headers=holder)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"


def test_the_ofd_needs_the_sm2_hierarchy(world: World, client: RecordingClient) -> None:
    """Without ``GOVTRUST_SM2_ENABLED`` there is no GB/T 38540 seal to put on an OFD: 409
    (the download itself: ``tests/certs/test_licence_ofd_download.py``)."""
    admin = world.token(ADMIN_A)
    identifier = issued(client, admin, guide_body())["identifier"]
    holder = bearer(world.token(CITIZEN, HOLDER_SCOPE))
    for path, token in (
        (f"/me/licences/{identifier}/document.ofd", holder),
        (f"/licences/{identifier}/document.ofd", bearer(admin)),
    ):
        response = client.get(path, headers=token)
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("sm2-hierarchy-off")
    pdf = client.get(f"/me/licences/{identifier}/document.pdf", headers=holder)
    assert pdf.status_code == 200  # the PDF does not need it


def test_nobody_else_gets_the_documents(world: World, client: RecordingClient) -> None:
    guide = issued(client, world.token(ADMIN_A), guide_body())
    identifier = guide["identifier"]
    stranger = bearer(world.token(STRANGER, HOLDER_SCOPE))
    for path in ("document.pdf", "preview.png"):
        assert client.get(f"/me/licences/{identifier}/{path}", headers=stranger).status_code == 404
    assert client.post(f"/me/licences/{identifier}/dynamic-qr", headers=stranger).status_code == 404
    openid_only = bearer(world.token(CITIZEN, "openid"))
    assert (
        client.get(f"/me/licences/{identifier}/document.pdf", headers=openid_only).status_code
        == 403
    )
    assert client.get(f"/me/licences/{identifier}/document.pdf").status_code == 401
    other_authority = bearer(world.token(ADMIN_B))
    assert (
        client.get(f"/licences/{identifier}/document.pdf", headers=other_authority).status_code
        == 404
    )
    malformed = client.get("/me/licences/not-an-identifier-at-all/document.pdf", headers=stranger)
    assert malformed.status_code in (404, 422)


def test_the_authority_prints_a_paper_copy_whose_qr_names_the_print(
    world: World,
    client: RecordingClient,
    tmp_path: Path,
) -> None:
    admin = bearer(world.token(ADMIN_A))
    business = issued(client, world.token(ADMIN_A), business_body())
    electronic = client.get(f"/licences/{business['identifier']}/document.pdf", headers=admin)
    assert electronic.status_code == 200
    printed = client.post(f"/licences/{business['identifier']}/prints", headers=admin)
    assert printed.status_code in (200, 201), printed.text
    serial = printed.json()["print_serial"]
    paper = client.get(f"/licence-prints/{serial}/document.pdf", headers=admin)
    assert paper.status_code == 200
    text = _pdf_qr(paper.content, tmp_path)
    assert _verdict(client, text) == "valid"
    checked = client.post("/verify", json={"qr": text}).json()
    assert checked["licence"]["kind"] == "print"
    lost = client.post(f"/licence-prints/{serial}/lost", json={"reason": "遗失"}, headers=admin)
    assert lost.status_code == 200, lost.text
    assert _verdict(client, text) == "print_lost"
    other = bearer(world.token(ADMIN_B))
    assert client.get(f"/licence-prints/{serial}/document.pdf", headers=other).status_code == 404
