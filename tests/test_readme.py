"""CI runs exactly the test command the README gives."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(python3 -m venv .*?)\n```", text)


def test_readme_gives_the_two_commands() -> None:
    run, test = readme_commands()[:2]
    assert "govtrust serve --demo" in run
    assert "pytest" in test


def test_ci_runs_the_readme_test_command() -> None:
    test = readme_commands()[1]
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test in ci_lines
