"""`govtrust audit verify` names the first entry that does not match, and exits non-zero."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from core.audit.entry import AuditEvent
from core.cli import main
from core.db.engine import make_engine, transaction
from core.db.migrate import upgrade
from core.services import build_services
from tests.conftest import TEST_SECRET, make_settings


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GOVTRUST_ENVIRONMENT", "test")
    monkeypatch.setenv("GOVTRUST_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("GOVTRUST_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GOVTRUST_ISSUER", "https://govtrust.test")
    monkeypatch.delenv("GOVTRUST_DATABASE_URL", raising=False)
    return tmp_path


def seed(tmp_path: Path, count: int) -> None:
    """Migrate, create the keys (their creation is audited too), and record ``count`` uses."""
    services = build_services(make_settings(tmp_path))
    upgrade(services.engine)
    services.keys.init()
    with transaction(services.sessions) as session:
        for n in range(count):
            services.audit.record(session, AuditEvent("sub-1", "seal.used", "seal", f"S-{n}"))
    services.close()


def list_entries(tmp_path: Path) -> list[tuple[int, str]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'govtrust.db'}")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT idx, object_id FROM audit_entries ORDER BY idx"))
        result = [(int(idx), str(object_id)) for idx, object_id in rows]
    engine.dispose()
    return result


def test_migrate_then_verify_an_intact_trail(env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"]).exit_code == 0
    seed(env, 4)
    size = len(list_entries(env))
    result = runner.invoke(main, ["audit", "checkpoint"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1] == str(size)
    result = runner.invoke(main, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert f"{size} entries" in result.output and "1 signed checkpoints" in result.output


def test_verify_names_the_tampered_entry(env: Path) -> None:
    seed(env, 4)
    index = next(i for i, object_id in list_entries(env) if object_id == "S-2")
    engine = make_engine(f"sqlite:///{env / 'govtrust.db'}")
    with engine.begin() as connection:
        connection.execute(text("DROP TRIGGER audit_entries_no_update"))
        connection.execute(
            text("UPDATE audit_entries SET entry = replace(entry, 'S-2', 'S-7') WHERE idx = :i"),
            {"i": index},
        )
    engine.dispose()
    result = CliRunner().invoke(main, ["audit", "verify"])
    assert result.exit_code == 1
    assert f"first bad entry {index}" in result.output


def test_help_lists_every_command() -> None:
    output = CliRunner().invoke(main, ["--help"]).output
    for command in ("serve", "migrate", "audit verify", "audit checkpoint", "openapi"):
        assert command in output


def test_refuses_to_start_with_default_secret_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GOVTRUST_ENVIRONMENT", "production")
    monkeypatch.delenv("GOVTRUST_SECRET_KEY", raising=False)
    result = CliRunner().invoke(main, ["migrate"])
    assert result.exit_code != 0
    assert "configuration refused" in result.output
