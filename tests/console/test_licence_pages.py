"""A holder's licence pages: the list, one licence, the sealed PDF, the dynamic QR; and
nothing of anyone else's (404), nor the administrators' pages (403)."""

from __future__ import annotations

import base64
import io
import re
from urllib.parse import quote

from fastapi.testclient import TestClient
from pyhanko.pdf_utils.reader import PdfFileReader

from certs.demo import AUTHORITY, GUIDE_FIELDS
from certs.demo_types import TOUR_GUIDE_CARD
from certs.lifecycle import china_date
from certs.service import LicenceService
from tests.console.conftest import Demo, import_licence, log_in
from verify.qr_image import decode_image


def _issue_to_agent(demo: Demo) -> str:
    services = demo.services
    licences = LicenceService(
        services.sessions, services.identifiers, services.audit, services.keys.clock
    )
    agent = demo.user("agent")
    licence = licences.issue(
        TOUR_GUIDE_CARD,
        AUTHORITY["uscc"],
        AUTHORITY["name"],
        agent["name"],
        agent["id_number"],
        {**GUIDE_FIELDS, "name": agent["name"]},
        china_date(services.keys.clock()),
        "test",
    )
    return licence.identifier


def test_my_licences_and_one_licence(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "citizen")
    listing = browser.get("/console/licences")
    assert listing.status_code == 200
    assert "导游证" in listing.text and "营业执照" in listing.text  # own, and the company's
    guide = demo.licence("tour_guide_card")
    page = browser.get(f"/console/licences/{guide}")
    assert page.status_code == 200
    assert "导游证" in page.text and "有效" in page.text
    assert "11010519491231002X" not in page.text
    assert f'href="/console/licences/{guide}/qr"' in page.text
    assert f'href="/console/licences/{guide}/document.pdf"' in page.text
    assert "变更记录" in page.text  # history


def test_the_sealed_pdf_comes_from_the_wallet(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "citizen")
    guide = demo.licence("tour_guide_card")
    pdf = browser.get(f"/console/licences/{guide}/document.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("attachment;")
    assert pdf.headers["cache-control"] == "no-store"
    assert PdfFileReader(io.BytesIO(pdf.content)).embedded_signatures  # sealed


def test_a_licence_numbered_outside_latin_1_downloads_under_its_number(
    demo: Demo, browser: TestClient
) -> None:
    """A licence imported with its old number (闽导字第0001号): the header names the PDF in
    ASCII for old browsers and by its number in UTF-8 (RFC 6266), not a 500."""
    legacy = import_licence(demo, "闽导字第0001号")
    log_in(browser, demo, "agent")
    pdf = browser.get(f"/console/licences/{legacy}/document.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    disposition = pdf.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="licence-_0001_-v1.pdf"; ')
    assert quote("licence-闽导字第0001号-v1.pdf") in disposition


def test_the_dynamic_qr_page_shows_a_qr_that_verifies(demo: Demo, browser: TestClient) -> None:
    from PIL import Image

    log_in(browser, demo, "citizen")
    guide = demo.licence("tour_guide_card")
    page = browser.get(f"/console/licences/{guide}/qr")
    assert page.status_code == 200
    seconds = re.search(r'data-seconds="(\d+)"', page.text)
    assert seconds and 0 < int(seconds.group(1)) <= 600
    assert '<script src="/console/static/qr.js" defer></script>' in page.text
    image = re.search(r'src="data:image/png;base64,([^"]+)"', page.text)
    assert image
    with Image.open(io.BytesIO(base64.b64decode(image.group(1)))) as picture:
        texts = decode_image(picture)
    assert len(texts) == 1
    verdict = browser.post("/verify", json={"qr": texts[0]})
    assert verdict.json()["verdict"] == "valid"
    script = browser.get("/console/static/qr.js")
    assert script.status_code == 200 and "qr-remaining" in script.text


def test_another_persons_licence_is_not_found(demo: Demo, browser: TestClient) -> None:
    theirs = _issue_to_agent(demo)
    log_in(browser, demo, "citizen")
    for path in ("", "/qr", "/document.pdf"):
        response = browser.get(f"/console/licences/{theirs}{path}")
        assert response.status_code == 404, path
        assert "李四" not in response.text
    assert browser.get("/console/licences/not-a-licence-identifier-at-all").status_code == 404


def test_a_citizen_cannot_open_the_administrators_pages(demo: Demo, browser: TestClient) -> None:
    """李四 represents no organisation: no licence administration for him (403)."""
    home = log_in(browser, demo, "agent")
    assert "/console/admin/licences" not in home.text  # not offered
    guide = demo.licence("tour_guide_card")
    for path in (
        "/console/admin/licences",
        f"/console/admin/licences/{guide}",
        f"/console/admin/licences/{guide}/suspend",
    ):
        response = browser.get(path)
        assert response.status_code == 403, path
        assert "您没有权限访问此页面" in response.text
    page = browser.get("/console/licences")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    refused = browser.post(
        f"/console/admin/licences/{guide}/suspend",
        data={"csrf": csrf.group(1), "reason": "x", "step": "confirm"},
    )
    assert refused.status_code == 403
    assert _state(demo, guide) == "valid"


def test_another_organisations_administrator_sees_nothing_of_the_authoritys_licences(
    demo: Demo, browser: TestClient
) -> None:
    """张三 is the legal representative of her company; a company issues no licences
    (:func:`certs.versions.is_issuing_authority`), so she administers none: the admin pages
    are not hers (403), and the market regulator's licences least of all."""
    log_in(browser, demo, "citizen")
    business = demo.licence("business_licence")
    assert browser.get(f"/console/admin/licences/{business}").status_code in (403, 404)
    assert browser.get(f"/console/admin/licences/{business}/suspend").status_code in (403, 404)
    assert browser.get("/console/admin/licences").status_code == 403
    home = browser.get("/console/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', home.text)
    assert csrf
    refused = browser.post(
        f"/console/admin/licences/{business}/suspend",
        data={"csrf": csrf.group(1), "reason": "x", "step": "confirm"},
    )
    assert refused.status_code in (403, 404)
    assert _state(demo, business) == "valid"


def _state(demo: Demo, identifier: str) -> str:
    services = demo.services
    licences = LicenceService(
        services.sessions, services.identifiers, services.audit, services.keys.clock
    )
    return licences.get(identifier).state.value
