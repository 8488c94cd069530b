"""Bulk import over HTTP (``POST /licence-imports``, text/csv) and from the command line
(``govtrust licence import FILE --type CODE --issuer USCC --by SUBJECT``): guarded like the
other administrator operations, a per-row report with masked holder codes, idempotent."""

from __future__ import annotations

from pathlib import Path

import httpx
from click.testing import CliRunner

from certs.demo_types import TOUR_GUIDE_CARD
from core.cli import main
from tests.certs.test_licence_api import (  # noqa: F401 (fixtures)
    ADMIN_A,
    AUTHORITY_A,
    AUTHORITY_B,
    CITIZEN,
    NOBODY,
    RecordingClient,
    World,
    bearer,
    client,
    world,
)
from tests.certs.test_licence_cli import subjects  # noqa: F401 (fixture)

HEADER = (
    "licence_number,holder_name,holder_code,issued_on,valid_from,"
    "field.name,field.sex,field.language,field.level,field.issuing_authority"
)
BAD_NUMBER = "110105194912310021"


def guide_csv(*codes: str) -> bytes:
    rows = [
        f"DY-{n},张三,{code},2025-03-01,2025-03-01,张三,女,英语,中级,福建省文化和旅游厅"
        for n, code in enumerate(codes, start=1)
    ]
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def post_csv(
    http: RecordingClient, token: str | None, data: bytes, **params: str
) -> httpx.Response:
    headers = {"Content-Type": "text/csv; charset=utf-8"}
    if token:
        headers.update(bearer(token))
    query = {"type_code": TOUR_GUIDE_CARD, **params}
    return http.post("/licence-imports", params=query, content=data, headers=headers)


def test_import_over_http(world: World, client: RecordingClient) -> None:
    admin = world.token(ADMIN_A)
    answer = post_csv(client, admin, guide_csv(CITIZEN, BAD_NUMBER))
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert BAD_NUMBER not in answer.text
    assert (report["issuer_uscc"], report["complete"]) == (AUTHORITY_A, False)
    assert [(r["row"], r["status"]) for r in report["rows"]] == [(2, "imported"), (3, "rejected")]
    assert report["rows"][0]["holder_code_masked"] == "110105********002X"
    assert report["rows"][1]["holder_code_masked"] == "110105********0021"
    identifier = report["rows"][0]["identifier"]
    shown = client.get(f"/licences/{identifier}", headers=bearer(admin))
    assert shown.status_code == 200 and shown.json()["licence_number"] == "DY-1"

    again = post_csv(client, admin, guide_csv(CITIZEN), mode="all_or_nothing")
    assert [r["status"] for r in again.json()["rows"]] == ["already_imported"]
    assert again.json()["rows"][0]["identifier"] == identifier

    missing = post_csv(client, admin, HEADER.replace("holder_code,", "").encode() + b"\n")
    assert missing.status_code == 422
    assert missing.headers["content-type"] == "application/problem+json"
    assert "holder_code" in missing.json()["detail"]
    as_json = client.post(
        "/licence-imports",
        params={"type_code": TOUR_GUIDE_CARD},
        json={"rows": []},
        headers=bearer(admin),
    )
    assert as_json.status_code == 415
    assert post_csv(client, admin, guide_csv(CITIZEN), mode="sometimes").status_code == 422


def test_import_is_for_the_authoritys_administrators_only(
    world: World,
    client: RecordingClient,
) -> None:
    data = guide_csv(CITIZEN)
    assert post_csv(client, None, data).status_code == 401
    nobody = post_csv(client, world.token(NOBODY), data)
    assert nobody.status_code == 403
    other = post_csv(client, world.token(ADMIN_A), data, issuer_uscc=AUTHORITY_B)
    assert other.status_code == 403
    holder = post_csv(client, world.token(CITIZEN, "openid"), data)
    assert holder.status_code == 403  # no licence:admin scope


def test_import_from_the_command_line(
    subjects: dict[str, str],
    tmp_path: Path,
) -> None:
    path = tmp_path / "guides.csv"
    path.write_bytes(guide_csv(CITIZEN, BAD_NUMBER))
    args = ["licence", "import", str(path), "--type", TOUR_GUIDE_CARD, "--issuer", AUTHORITY_A]
    first = CliRunner().invoke(main, [*args, "--by", subjects["a"]])
    assert first.exit_code == 1, first.output  # a row was rejected
    assert CITIZEN not in first.output and BAD_NUMBER not in first.output
    lines = first.output.splitlines()
    assert lines[0].startswith("row 2  imported  holder 110105********002X  1.2.156.3005.2.")
    assert lines[1].startswith("row 3  rejected  holder 110105********0021  holder_code")
    assert "1 imported, 1 rejected" in lines[2]
    path.write_bytes(guide_csv(CITIZEN))
    again = CliRunner().invoke(main, [*args, "--by", subjects["a"]])
    assert again.exit_code == 0, again.output
    assert "already_imported" in again.output and "1 already_imported" in again.output
    refused = CliRunner().invoke(main, [*args, "--by", subjects["b"]])
    assert refused.exit_code != 0 and "Not a licence administrator" in refused.output
