"""Fixtures for the console tests: the demo world (a citizen who represents a company, an
agent, a licence administrator of 福州市市场监督管理局, their licences) on the chosen backend,
and a browser-like client that logs in through the provider's own pages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from core.app import create_app
from core.demo import seed_demo
from core.services import Services

ORIGIN = "https://govtrust.test"


@dataclass
class Demo:
    services: Services
    data: dict[str, Any]

    def user(self, who: str) -> dict[str, Any]:
        """``citizen``, ``agent``, ``admin`` (the licence and seal administrator) or
        ``approver`` (may use the authority's approval seal)."""
        if who == "admin":
            return dict(self.data["certs"]["admin"])
        if who == "approver":
            return dict(self.data["console"]["approver"])
        return dict(self.data["idp"]["users"][who])

    def licence(self, name: str) -> str:
        return str(self.data["certs"]["licences"][name]["identifier"])


@pytest.fixture
def demo(services: Services, tmp_path: Path) -> Demo:
    return Demo(services, seed_demo(services, tmp_path / "demo.json"))


@pytest.fixture
def browser(services: Services) -> Iterator[TestClient]:
    """A browser on the issuer's https origin (so ``Secure`` cookies are sent back).
    Not entered as a context: the app's shutdown would close the shared ``services``."""
    yield TestClient(create_app(services=services), base_url=ORIGIN)


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


def _action(html: str) -> str:
    match = re.search(r'<form method="post" action="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


def csrf_of(html: str) -> str:
    return _csrf(html)


def _go(client: TestClient, response: httpx.Response) -> httpx.Response:
    assert response.status_code in (302, 303, 307), (response.status_code, response.text[:500])
    return client.get(response.headers["location"], follow_redirects=False)


def log_in(
    client: TestClient,
    demo: Demo,
    who: str = "citizen",
    *,
    start: str = "/console/",
    acting_as: str = "self",
) -> httpx.Response:
    """Log ``who`` in to the console as a person does in a browser; returns the page
    the console finally shows (after its redirect back to ``start``)."""
    page = _go(client, client.get(start, follow_redirects=False))  # -> /console/login
    page = _go(client, page)  # -> /authorize
    page = _go(client, page)  # -> /interaction/...
    return _drive(client, demo, who, page, acting_as)


def _drive(
    client: TestClient, demo: Demo, who: str, page: httpx.Response, acting_as: str = "self"
) -> httpx.Response:
    """Through the provider's pages (and redirects) back to the console."""
    user = demo.user(who)
    for _ in range(12):
        if page.status_code in (302, 303):
            location = page.headers["location"]
            if urlsplit(location).path == "/console/callback":
                landed = client.get(location, follow_redirects=False)
                return _go(client, landed)
            page = client.get(location, follow_redirects=False)
            continue
        html = page.text
        if 'name="password"' in html:
            data = {"username": user["id_number"], "password": user["password"]}
        elif 'name="acting_as"' in html:
            if acting_as == "self":
                data = {"acting_as": "self"}
            else:
                found = re.search(r'name="acting_as" value="([^"]+)"', html.split("self")[-1])
                assert found
                data = {"acting_as": found.group(1)}
        elif 'name="consent"' in html:
            data = {"consent": "allow"}
        elif 'name="otp"' in html:
            page = second_factor(client, demo, html)
            continue
        else:
            raise AssertionError(html[:2000])
        page = client.post(
            _action(html), data={**data, "csrf": _csrf(html)}, follow_redirects=False
        )
    raise AssertionError("the login did not come back to the console")


def callback_query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def post_form(client: TestClient, page: httpx.Response, action: str, **data: str) -> httpx.Response:
    """POST ``data`` to ``action`` with the CSRF token of ``page``."""
    return client.post(action, data={**data, "csrf": _csrf(page.text)}, follow_redirects=False)


def second_factor(client: TestClient, demo: Demo, html: str) -> httpx.Response:
    """Answer the provider's step-up page with a code sent by SMS (the demo's outbox)."""
    action = re.search(r'action="(/interaction/[^"/]+)/sms"', html)
    assert action, html[:2000]
    sent = client.post(f"{action.group(1)}/sms", data={"csrf": _csrf(html)})
    assert sent.status_code == 200, sent.text[:500]
    outbox = Path(demo.services.settings.data_dir) / "outbox.jsonl"
    message = json.loads(outbox.read_text(encoding="utf-8").splitlines()[-1])["message"]
    code = re.search(r"\d{6}", message)
    assert code
    return client.post(
        f"{action.group(1)}/second-factor",
        data={"method": "sms", "otp": code.group(0), "csrf": _csrf(html)},
        follow_redirects=False,
    )


def step_up(client: TestClient, demo: Demo, who: str, refused: httpx.Response) -> httpx.Response:
    """Follow the console's step-up redirect (``/console/login?...&acr=...``) through the
    provider's second-factor page and back; returns the page the console shows then."""
    assert refused.status_code == 303, (refused.status_code, refused.text[:300])
    location = refused.headers["location"]
    assert location.startswith("/console/login?") and "acr=" in location, location
    return _drive(client, demo, who, client.get(location, follow_redirects=False))


def import_licence(demo: Demo, licence_number: str, holder: str = "agent") -> str:
    """A tour guide card of ``holder`` imported from an older system under its own
    ``licence_number`` (which may be any text, e.g. 闽导字第0001号); its identifier."""
    from certs.demo_types import TOUR_GUIDE_CARD
    from certs.import_router import licence_importer

    authority = demo.data["certs"]["issuing_authority"]
    person = demo.user(holder)
    fields = {"name": person["name"], "sex": "男", "language": "日语"}
    header = "licence_number,holder_name,holder_code,issued_on,valid_from"
    row = f"{licence_number},{person['name']},{person['id_number']},2025-03-01,2025-03-01"
    header += "".join(f",field.{name}" for name in fields) + ",field.issuing_authority"
    row += "".join(f",{value}" for value in fields.values()) + f",{authority['name']}"
    report = licence_importer(demo.services).import_csv(
        f"{header}\n{row}\n".encode(), TOUR_GUIDE_CARD, authority["uscc"], authority["name"], "t"
    )
    identifier = report.rows[0].identifier
    assert identifier is not None, report.rows[0].error
    return identifier


def assert_control_characters_refused(response: httpx.Response) -> None:
    """The console's answer to text with a control character in it (console.text)."""
    assert response.status_code == 422, (response.status_code, response.text[:300])
    assert "输入的文字含有控制字符" in response.text
