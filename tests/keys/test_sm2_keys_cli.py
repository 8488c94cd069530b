"""`govtrust keys ...` with the SM2 hierarchy: a clean refusal of `--key-type SM2`, and the
sm2-* keys in `init`, `list`, `show` and `rotate` when GOVTRUST_SM2_ENABLED is on."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from core.cli import main
from tests.keys.test_keys_cli import ok, runner

__all__ = ["runner"]  # the fixture, shared with test_keys_cli


def test_key_type_sm2_is_a_clean_error(runner: CliRunner) -> None:
    result = runner.invoke(main, ["keys", "init", "--key-type", "SM2"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "GOVTRUST_SM2_ENABLED=true" in result.output
    assert ok(runner, "keys", "list").strip().count("\n") == 0  # header only: nothing made


def test_sm2_keys_listed_shown_and_rotated(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(runner, "keys", "init")
    assert " sm2-" not in ok(runner, "keys", "list")
    monkeypatch.setenv("GOVTRUST_SM2_ENABLED", "true")
    created = ok(runner, "keys", "init")
    for purpose in ("sm2-root", "sm2-seal-ca", "sm2-service-ca", "sm2-seal-maker", "sm2-licence"):
        assert f"({purpose}, SM2, active)" in created
    assert "(sm2-licence, SM2, next)" in created
    assert created.strip().endswith("6 keys created")

    listing = ok(runner, "keys", "list", "--purpose", "sm2-licence").splitlines()
    assert [line.split()[1:5] for line in listing[1:]] == [
        ["sm2-licence", "SM2", "software", "active"],
        ["sm2-licence", "SM2", "software", "next"],
    ]
    kid = listing[1].split()[0]
    shown = ok(runner, "keys", "show", kid, "--pem")
    assert f"kid              {kid}" in shown
    assert "SM2-with-SM3 (1.2.156.10197.1.501)" in shown
    assert "CN=govtrust SM2 Licence signing" in shown
    assert "CN=govtrust SM2 Service CA" in shown
    assert "-----BEGIN CERTIFICATE-----" in shown

    assert "is now active" in ok(runner, "keys", "rotate", "sm2-licence")
    result = runner.invoke(main, ["keys", "rotate", "sm2-root"])
    assert result.exit_code == 1 and "not rotated in place" in result.output
    result = runner.invoke(main, ["keys", "show", "no-such-key"])
    assert result.exit_code == 1 and "no key 'no-such-key'" in result.output
