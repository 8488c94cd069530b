"""`govtrust seal ...` on the embedded default: create, authorise, stamp, validate, revoke."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from core.cli import main
from core.services import Services
from idp.identities.service import IdentityService


@pytest.fixture
def subjects(cli_services: Services) -> dict[str, str]:
    services = cli_services
    ids = IdentityService(
        services.sessions, services.identifiers, services.audit, services.keys.clock
    )
    boss = ids.register_person("11010519491231002X", "张三", actor="t")
    clerk = ids.register_person("350102198001010011", "李四", actor="t")
    ids.register_organisation("91350100M000100Y43", "福州示例科技有限公司", boss.id, actor="t")
    return {"boss": boss.subject, "clerk": clerk.subject}


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_seal_commands(subjects: dict[str, str], tmp_path: Path, cjk_one_page_pdf: bytes) -> None:
    made = run(
        "seal",
        "create",
        "--organisation",
        "91350100M000100Y43",
        "--kind",
        "approval",
        "--by",
        subjects["boss"],
    )
    seal_id = made.split()[0]
    assert seal_id in run("seal", "list", "--organisation", "91350100M000100Y43")
    refused = CliRunner().invoke(
        main, ["seal", "stamp", seal_id, "x", "y", "--by", subjects["clerk"], "--anchor", "盖章"]
    )
    assert refused.exit_code != 0
    run(
        "seal",
        "authorise",
        seal_id,
        "--person",
        subjects["clerk"],
        "--until",
        "2030-01-01",
        "--by",
        subjects["boss"],
    )
    source, target = tmp_path / "in.pdf", tmp_path / "out.pdf"
    source.write_bytes(cjk_one_page_pdf)
    run(
        "seal",
        "stamp",
        seal_id,
        str(source),
        str(target),
        "--by",
        subjects["clerk"],
        "--anchor",
        "盖章",
        "--level",
        "B-B",
        "--purpose",
        "审批",
    )
    assert '"overall": "TOTAL-PASSED"' in run("seal", "validate", str(target))
    assert "revoked" in run("seal", "revoke", seal_id, "--by", subjects["boss"], "--reason", "注销")
    again = CliRunner().invoke(
        main,
        [
            "seal",
            "stamp",
            seal_id,
            str(source),
            str(target),
            "--by",
            subjects["clerk"],
            "--anchor",
            "盖章",
        ],
    )
    assert again.exit_code == 1 and "refused" in again.output
    not_admin = CliRunner().invoke(
        main,
        [
            "seal",
            "create",
            "--organisation",
            "91350100M000100Y43",
            "--kind",
            "official",
            "--by",
            subjects["clerk"],
        ],
    )
    assert not_admin.exit_code == 1 and "Traceback" not in not_admin.output
