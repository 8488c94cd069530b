"""Throwaway SoftHSM2 tokens for PKCS#11 tests.

SoftHSM2 reads ``SOFTHSM2_CONF`` when the module is initialised (C_Initialize), so a test
that points it at a new token directory must call :func:`reset_module` afterwards; python-
pkcs11 keeps one initialised library per path for the whole process.

Without ``softhsm2-util`` or the module the tests are skipped, unless
``GOVTRUST_TEST_REQUIRE_REAL_BACKENDS=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

MODULE_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
)
SOFTHSM_MODULE: str | None = next((p for p in MODULE_CANDIDATES if Path(p).is_file()), None)
SOFTHSM_UTIL: str | None = shutil.which("softhsm2-util")


@dataclass(frozen=True)
class SoftToken:
    conf: Path  # the value SOFTHSM2_CONF must have while the token is used
    module: str
    label: str
    pin: str
    so_pin: str


def require_softhsm() -> tuple[str, str]:
    """``(softhsm2-util, module path)``, or skip (fail under REQUIRE_REAL_BACKENDS)."""
    if SOFTHSM_UTIL and SOFTHSM_MODULE:
        return SOFTHSM_UTIL, SOFTHSM_MODULE
    missing = "softhsm2-util" if not SOFTHSM_UTIL else f"libsofthsm2.so ({MODULE_CANDIDATES})"
    if os.environ.get("GOVTRUST_TEST_REQUIRE_REAL_BACKENDS") == "1":
        pytest.fail(f"SoftHSM2 is required (GOVTRUST_TEST_REQUIRE_REAL_BACKENDS=1): no {missing}")
    pytest.skip(f"SoftHSM2 not installed: no {missing}")


def init_token(
    directory: Path,
    label: str = "govtrust-test",
    pin: str = "123456",
    so_pin: str = "12345678",
    disabled_mechanisms: Iterable[str] = (),
) -> SoftToken:
    """Write ``directory/softhsm2.conf`` and initialise a fresh token in ``directory/tokens``.

    ``disabled_mechanisms`` (e.g. ``CKM_EDDSA``) are hidden from the slot, to imitate a token
    that lacks them. Set ``SOFTHSM2_CONF`` to the returned ``conf`` before using the token.
    """
    util, module = require_softhsm()
    tokens = directory / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    lines = [
        f"directories.tokendir = {tokens}",
        "objectstore.backend = file",
        "log.level = ERROR",
        "slots.removable = false",
    ]
    disabled = ",".join(disabled_mechanisms)
    if disabled:  # SoftHSM 2.6.1 ignores the first name after "-": lead with an empty one
        lines.append(f"slots.mechanisms = -,{disabled}")
    conf = directory / "softhsm2.conf"
    conf.write_text("\n".join(lines) + "\n")
    command = [util, "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin]
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"softhsm2-util --init-token failed: {done.stderr or done.stdout}")
    return SoftToken(conf=conf, module=module, label=label, pin=pin, so_pin=so_pin)


def reset_module(module: str) -> None:
    """C_Finalize the process's copy of ``module``: the next use re-reads SOFTHSM2_CONF."""
    import pkcs11

    pkcs11.lib(module).finalize()
