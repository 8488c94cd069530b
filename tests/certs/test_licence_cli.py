"""`govtrust licence ...` on the embedded default: a licence administrator issues (holder code
on standard input), shows, changes, suspends, resumes, prints, renews, reissues and revokes;
another authority's administrator is refused; no clear ID number is ever printed."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pyhanko.pdf_utils.reader import PdfFileReader

from certs.demo_types import BUSINESS_LICENCE, TOUR_GUIDE_CARD, demo_licence_types
from certs.service import LicenceService
from core.cli import main
from core.services import Services
from idp.identities.service import IdentityService
from seal.registry import SealRegistry
from tests.certs.conftest import BUSINESS_FIELDS, GUIDE_FIELDS
from verify.qr_image import read_qr_texts

AUTHORITY_A, AUTHORITY_B = "11350100MB00000012", "11350200MB0000002A"
CITIZEN = "11010519491231002X"
COMPANY = "91350100M000100Y43"
IDENTIFIER = re.compile(r"1\.2\.156\.3005\.2\.\S+")


@pytest.fixture
def subjects(cli_services: Services) -> dict[str, str]:
    services = cli_services
    clock = services.keys.clock
    ids = IdentityService(services.sessions, services.identifiers, services.audit, clock)
    admin_a = ids.register_person("350102198503150022", "王芳", actor="t")
    admin_b = ids.register_person("350102197806200037", "陈明", actor="t")
    citizen = ids.register_person(CITIZEN, "张三", actor="t")
    authority = ids.register_organisation(
        AUTHORITY_A, "福州市市场监督管理局", admin_a.id, actor="t"
    )
    ids.register_organisation(AUTHORITY_B, "厦门市市场监督管理局", admin_b.id, actor="t")
    seals = SealRegistry(services.sessions, services.keys, services.audit, clock)
    seal = seals.create(organisation_id=authority.id, kind="official", by=admin_a.id)
    licences = LicenceService(services.sessions, services.identifiers, services.audit, clock)
    for licence_type in demo_licence_types(seal_id=seal.id):
        licences.register_type(licence_type, "t")
    return {"a": admin_a.subject, "b": admin_b.subject, "citizen": citizen.subject}


def invoke(*args: str, stdin: str | None = None) -> Result:
    result = CliRunner().invoke(main, list(args), input=stdin)
    assert CITIZEN not in result.output
    return result


def run(*args: str, stdin: str | None = None) -> str:
    result = invoke(*args, stdin=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def identifier_in(output: str) -> str:
    match = IDENTIFIER.search(output)
    assert match, output
    return match.group(0)


def test_licence_commands(subjects: dict[str, str], tmp_path: Path) -> None:
    assert "导游证" in run("licence", "types")
    by_a = ("--by", subjects["a"])
    guide_fields = json.dumps(dict(GUIDE_FIELDS, name="张三"), ensure_ascii=False)
    issued = run(
        "licence",
        "issue",
        "--type",
        TOUR_GUIDE_CARD,
        "--holder-name",
        "张三",
        "--fields",
        guide_fields,
        *by_a,
        stdin=CITIZEN + "\n",
    )
    guide = identifier_in(issued)
    assert f".{AUTHORITY_A}." in guide and "version 001  valid" in issued
    assert "110105********002X" in issued
    fields_file = tmp_path / "fields.json"
    fields_file.write_text(json.dumps(BUSINESS_FIELDS, ensure_ascii=False), encoding="utf-8")
    business = identifier_in(
        run(
            "licence",
            "issue",
            "--type",
            BUSINESS_LICENCE,
            "--holder-name",
            BUSINESS_FIELDS["name"],
            "--holder-code",
            COMPANY,
            "--fields",
            f"@{fields_file}",
            "--issuer",
            AUTHORITY_A,
            *by_a,
        )
    )
    shown = run("licence", "show", guide, *by_a)
    assert "证照标识 (identifier): " + guide in shown
    assert "持证主体代码 (holder_code): 110105********002X" in shown
    assert "state: valid" in shown

    changed = run(
        "licence",
        "change",
        business,
        "--fields",
        json.dumps(dict(BUSINESS_FIELDS, address="福州市台江区1号"), ensure_ascii=False),
        "--reason",
        "住所变更",
        *by_a,
    )
    second = identifier_in(changed)
    assert "version 002  valid" in changed
    assert "suspended" in run("licence", "suspend", second, "--reason", "检查", *by_a)
    assert "valid" in run("licence", "resume", second, "--reason", "整改完成", *by_a)
    printed = run("licence", "print", second, *by_a)
    assert re.search(r"print serial [0-9A-F]{16}", printed)
    renewed = run("licence", "renew", guide, "--until", "2099-12-31", *by_a)
    assert "version 002  valid" in renewed
    reissued = run("licence", "reissue", identifier_in(renewed), "--reason", "遗失补发", *by_a)
    assert "version 003  valid" in reissued
    revoked = run("licence", "revoke", identifier_in(reissued), "--reason", "注销", *by_a)
    assert "revoked" in revoked
    again = invoke("licence", "revoke", identifier_in(reissued), "--reason", "注销", *by_a)
    assert again.exit_code == 1 and "not allowed" in again.output
    assert "0 licences expired" in run("licence", "expire-due")

    # another authority's administrator: as if the licence did not exist
    other = invoke("licence", "revoke", second, "--reason", "x", "--by", subjects["b"])
    assert other.exit_code == 1 and "No such licence" in other.output
    assert invoke("licence", "show", second, "--by", subjects["b"]).exit_code == 1
    wrong_issuer = invoke(
        "licence",
        "issue",
        "--type",
        BUSINESS_LICENCE,
        "--holder-name",
        "x",
        "--holder-code",
        COMPANY,
        "--fields",
        "{}",
        "--issuer",
        AUTHORITY_A,
        "--by",
        subjects["b"],
    )
    assert wrong_issuer.exit_code == 1 and "Not a licence administrator" in wrong_issuer.output
    holder = invoke("licence", "show", guide, "--by", subjects["citizen"])
    assert holder.exit_code == 1 and "not a licence administrator" in holder.output
    unknown = invoke("licence", "show", guide, "--by", "nobody")
    assert unknown.exit_code == 1 and "no active person" in unknown.output
    bad_code = invoke(
        "licence",
        "issue",
        "--type",
        TOUR_GUIDE_CARD,
        "--holder-name",
        "张三",
        "--fields",
        guide_fields,
        *by_a,
        stdin="11010519491231002Y\n",
    )
    assert bad_code.exit_code == 1 and "11010519491231002Y" not in bad_code.output


def test_licence_documents_from_the_command_line(subjects: dict[str, str], tmp_path: Path) -> None:
    by_a = ("--by", subjects["a"])
    issued = run(
        "licence",
        "issue",
        "--type",
        BUSINESS_LICENCE,
        "--holder-name",
        "福州示例科技有限公司",
        "--holder-code",
        COMPANY,
        "--fields",
        json.dumps(dict(BUSINESS_FIELDS, name="福州示例科技有限公司"), ensure_ascii=False),
        "--issuer",
        AUTHORITY_A,
        *by_a,
    )
    identifier = identifier_in(issued)
    pdf = tmp_path / "licence.pdf"
    assert f"wrote {pdf}" in run("licence", "document", identifier, "--output", str(pdf), *by_a)
    signature = PdfFileReader(io.BytesIO(pdf.read_bytes())).embedded_signatures[0]
    signature.compute_integrity_info()
    assert signature.sig_object["/Reason"] == "电子证照签章"
    electronic = read_qr_texts(pdf)
    preview = tmp_path / "licence.png"
    run("licence", "document", identifier, "--preview", "--output", str(preview), *by_a)
    assert read_qr_texts(preview)[0].startswith("HTTPS://GOVTRUST.TEST/V/GT1:")
    paper = tmp_path / "print.pdf"
    printed = run("licence", "print", identifier, "--output", str(paper), *by_a)
    assert re.search(r"print serial [0-9A-F]{16}", printed)
    assert read_qr_texts(paper) != electronic  # the print's own QR, naming its serial
    refused = invoke("licence", "document", identifier, "--output", str(pdf), "--by", subjects["b"])
    assert refused.exit_code == 1 and "No such licence" in refused.output
