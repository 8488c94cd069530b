"""`govtrust keys ...` as an operator runs it, on the embedded default."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509

from core.cli import main
from keys.master import new_master_key
from tests.conftest import TEST_SECRET


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("GOVTRUST_ENVIRONMENT", "test")
    monkeypatch.setenv("GOVTRUST_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("GOVTRUST_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GOVTRUST_ISSUER", "https://govtrust.test")
    monkeypatch.setenv("GOVTRUST_MASTER_KEY", new_master_key())
    for name in ("GOVTRUST_DATABASE_URL", "GOVTRUST_REDIS_URL", "GOVTRUST_KEY_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"]).exit_code == 0
    return runner


def ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_init_list_rotate_export(runner: CliRunner, tmp_path: Path) -> None:
    assert "keys created" in ok(runner, "keys", "init")
    assert ok(runner, "keys", "init").strip().endswith("0 keys created")
    listing = ok(runner, "keys", "list")
    assert listing.splitlines()[0].split()[:5] == [
        "KID",
        "PURPOSE",
        "ALGORITHM",
        "BACKEND",
        "STATE",
    ]
    for purpose in ("root", "seal-ca", "service-ca", "token", "licence", "tsa", "ocsp", "audit"):
        assert f" {purpose} " in listing
    assert "ED25519" in listing and "EC_P256" in listing
    assert "is now active" in ok(runner, "keys", "rotate", "token")
    tokens = ok(runner, "keys", "list", "--purpose", "token")
    states = [line.split()[4] for line in tokens.splitlines()[1:]]
    assert sorted(states) == ["active", "next", "retired"]
    written = ok(runner, "keys", "export-trust", str(tmp_path / "trust")).split()
    names = {Path(path).name for path in written}
    assert {"root.pem", "jwks.json", "audit.vkey", "trust.json"} <= names
    root = x509.load_pem_x509_certificate((tmp_path / "trust" / "root.pem").read_bytes())
    assert root.subject == root.issuer


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["keys", "rotate", "passport"], "unknown key purpose"),
        (["keys", "rotate", "root"], "trust anchor"),
        (["keys", "list", "--purpose", "passport"], "unknown key purpose"),
        (["keys", "init", "--key-type", "DSA"], "unknown key type"),
        (["keys", "revoke-certificate", "root-x", "zz"], "SERIAL is hex"),
        (["keys", "revoke-certificate", "root-x", "ff"], "never issued"),
    ],
)
def test_bad_input_is_a_clear_error(runner: CliRunner, args: list[str], message: str) -> None:
    ok(runner, "keys", "init")
    before = ok(runner, "keys", "list")
    result = runner.invoke(main, args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert ok(runner, "keys", "list") == before


def test_wrong_master_key_is_refused(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    ok(runner, "keys", "init")
    monkeypatch.setenv("GOVTRUST_MASTER_KEY", new_master_key())
    result = runner.invoke(main, ["keys", "rotate", "token"])
    assert result.exit_code == 1
    assert "master key" in result.output


def test_missing_hsm_module_is_refused(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOVTRUST_KEY_BACKEND", "pkcs11")
    monkeypatch.setenv("GOVTRUST_PKCS11_MODULE", str(tmp_path / "missing.so"))
    monkeypatch.setenv("GOVTRUST_PKCS11_TOKEN_LABEL", "govtrust")
    monkeypatch.setenv("GOVTRUST_PKCS11_PIN", "123456")
    result = runner.invoke(main, ["keys", "init"])
    assert result.exit_code == 1
    assert "module" in result.output and "123456" not in result.output
