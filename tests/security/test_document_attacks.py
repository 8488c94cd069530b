"""Document attacks that tests/seal/test_validation.py does not already show: a signature
lifted from one sealed document into another, a seal image with no signature behind it, and
a stamp asked for by an approver whose authorisation on the seal had expired. Each is
reported for what it is (seal.validation, seal.registry). The others (bytes changed,
incremental update after signing, revoked seal, expired seal) are referenced in README.md."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from core.errors.problem import PROBLEM_MEDIA_TYPE
from core.services import Services
from seal.validation import NO_SIGNATURE
from tests.certs.conftest import audit_entries
from tests.conftest import FrozenClock
from tests.seal.conftest import cjk_one_page_pdf, wqy_font
from tests.seal.test_seal_api import BOSS, CLERK, Office, app, bearer, client, office, token_for
from tests.seal.test_validation import (
    Pki,
    Sign,
    indication,
    one_page_pdf,
    only,
    pki,
    sign,
    validate,
)

__all__ = [  # fixtures used below
    "app",
    "cjk_one_page_pdf",
    "client",
    "office",
    "pki",
    "sign",
    "wqy_font",
]

CONTENTS = re.compile(rb"/Contents\s*<([0-9a-fA-F]+)>")


def test_a_signature_moved_to_another_document_is_a_hash_failure(pki: Pki, sign: Sign) -> None:
    """The CMS signature of a genuine sealed document pasted into another document (same
    placeholder, same byte range): the seal no longer covers what is shown."""
    genuine = sign(one_page_pdf())
    other = sign(one_page_pdf().replace(b"(Licence 0042)", b"(Licence 9999)"))
    lifted = CONTENTS.search(genuine)
    target = CONTENTS.search(other)
    assert lifted and target
    if len(lifted.group(1)) > len(target.group(1)):  # DER signatures differ by a byte or two
        genuine, other, lifted, target = other, genuine, target, lifted
    padded = lifted.group(1).ljust(len(target.group(1)), b"0")  # as the placeholder is
    moved = other[: target.start(1)] + padded + other[target.end(1) :]
    assert indication(only(validate(genuine, pki))) == ("TOTAL-PASSED", None)
    signature = only(validate(moved, pki))
    assert indication(signature) == ("TOTAL-FAILED", "HASH_FAILURE")
    assert not signature.integrity


def _seal_picture_pdf() -> bytes:
    """A page that shows a red seal, drawn, scanned or copied: no signature anywhere."""
    picture = Image.new("RGB", (200, 200), "white")
    draw = ImageDraw.Draw(picture)
    draw.ellipse((4, 4, 196, 196), outline=(220, 20, 30), width=12)
    draw.ellipse((80, 80, 120, 120), fill=(220, 20, 30))
    writer = PdfFileWriter()
    image = PdfImage(picture, writer=writer).image_ref
    content = generic.StreamObject(stream_data=b"q 150 0 0 150 300 150 cm /Im1 Do Q")
    resources = generic.DictionaryObject(
        {pdf_name("/XObject"): generic.DictionaryObject({pdf_name("/Im1"): image})}
    )
    writer.insert_page(
        PageObject(writer.add_object(content), media_box=[0, 0, 595, 842], resources=resources)
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_seal_image_without_a_signature_is_no_seal(pki: Pki) -> None:
    report = validate(_seal_picture_pdf(), pki)
    assert report.signatures == ()
    assert indication(report) == ("INDETERMINATE", NO_SIGNATURE)


def test_an_approver_whose_authorisation_had_expired_cannot_stamp(
    app: FastAPI,
    client: TestClient,
    office: Office,
    clock: FrozenClock,
    services: Services,
    cjk_one_page_pdf: bytes,
) -> None:
    """A grant on a seal ends at its ``valid_until``: from that instant on, the approver is
    refused (403 problem, ``seal.use_refused`` in the audit trail), even with an access token
    obtained while the grant was valid and even with a fresh one, and nothing is sealed.
    Documents stamped while the grant was valid still validate: the grant rules who may
    apply the seal, not what the seal signed."""
    boss = token_for(app, office, BOSS, office.boss_id, clock)
    seal = client.post(
        "/seals", json={"organisation_id": office.org, "kind": "approval"}, headers=bearer(boss)
    ).json()
    clerk = token_for(app, office, CLERK, office.clerk_id, clock)
    until = clock.now + timedelta(minutes=5)  # within the clerk's token's ten minutes
    granted = client.post(
        f"/seals/{seal['id']}/grants",
        headers=bearer(boss),
        json={"person_subject": office.clerk_subject, "valid_until": until.isoformat()},
    )
    assert granted.status_code == 201, granted.text
    files = {"document": ("a.pdf", cjk_one_page_pdf, "application/pdf")}

    def stamp(token: str, level: str) -> httpx.Response:
        return client.post(
            f"/seals/{seal['id']}/stamp",
            headers=bearer(token),
            files=files,
            data={"level": level, "anchor": "盖章", "purpose": "准予许可决定书"},
        )

    clock.now = until - timedelta(seconds=1)  # the last second of the grant
    while_valid = {level: stamp(clerk, level) for level in ("B-B", "B-T")}
    for level, response in while_valid.items():
        assert response.status_code == 200, (level, response.text[:300])

    def uses() -> list[str]:
        return [
            entry.event.action
            for entry in audit_entries(services)
            if entry.event.object_id == seal["id"] and entry.event.action.startswith("seal.use")
        ]

    assert uses() == ["seal.used", "seal.used"]

    def refused(response: httpx.Response, at: datetime) -> None:
        assert response.status_code == 403, response.text[:300]
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
        body = response.json()
        assert body["status"] == 403
        assert body["reason"] == "no valid authorisation to use this seal", body
        last = audit_entries(services)[-1].event
        assert (last.action, last.object_id) == ("seal.use_refused", seal["id"])
        assert last.actor == office.clerk_id
        assert last.details["reason"] == "no valid authorisation to use this seal"
        assert clock.now == at

    # the instant the grant ends (valid_from <= t < valid_until): refused, with the token
    # the approver logged in with while it was valid
    clock.now = until
    refused(stamp(clerk, "B-B"), until)
    # a day later, logged in afresh at two factors: still refused
    clock.advance(days=1)
    fresh = token_for(app, office, CLERK, office.clerk_id, clock)
    refused(stamp(fresh, "B-T"), clock.now)
    assert uses() == ["seal.used", "seal.used", "seal.use_refused", "seal.use_refused"]
    listed = client.get(
        f"/seals/{seal['id']}/uses",
        headers=bearer(token_for(app, office, BOSS, office.boss_id, clock)),
    )
    assert listed.status_code == 200 and len(listed.json()) == 2, listed.text

    # what was stamped while the grant held still validates
    for level, response in while_valid.items():
        report = client.post(
            "/signatures/validate",
            files={"document": ("s.pdf", response.content, "application/pdf")},
        )
        assert report.status_code == 200, report.text
        body = report.json()
        assert body["overall"] == "TOTAL-PASSED", (level, body)
        assert body["signatures"][0]["seal"]["uscc"] == "91350100M000100Y43"
