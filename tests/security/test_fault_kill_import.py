"""Fault: ``govtrust licence import`` killed with SIGKILL in the middle of its write.

A private installation on a SQLite file; a CSV of a few hundred existing tour-guide cards.
The import runs as a subprocess; the test waits until it holds the database's write lock
(it is writing its one transaction), lets it write for a moment, then kills it with
SIGKILL. Afterwards:

* nothing is half-imported: for every row, the licence, its ``issue`` history event, its
  ``licence.issued`` audit entry and its import record are all there or none is (the import
  writes all rows in one transaction, so: none);
* running the same file again imports every row once; a third run imports nothing new
  (every row ``already_imported``) and no licence number exists twice;
* ``govtrust audit verify`` passes, and a checkpoint signed before the kill is consistent
  with one signed after the re-run (RFC 9162 consistency proof).
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from certs.demo_types import TOUR_GUIDE_CARD
from tests.security.faults import (
    AUTHORITY,
    GOVTRUST,
    Installation,
    assert_consistent,
    audit_ok,
    install,
    resident_id,
    run_govtrust,
    signed_checkpoint,
)

ROWS = 400
HEADER = (
    "licence_number,holder_name,holder_code_type,holder_code,issued_on,valid_from,valid_until,"
    "field.name,field.sex,field.language,field.level,field.issuing_authority"
)


def guide_csv(rows: int) -> bytes:
    lines = [HEADER]
    for number in range(rows):
        name = f"导游{number:04d}"
        lines.append(
            f"LG-2025-{number:06d},{name},111,{resident_id(number)},2025-03-01,2025-03-01,,"
            f"{name},女,英语,中级,福建省文化和旅游厅"
        )
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def holds_write_lock(database: Path) -> bool:
    """True while another connection has a write transaction open on ``database``."""
    probe = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise
        return True
    finally:
        probe.close()


def counts(installation: Installation) -> dict[str, int]:
    services = installation.services()
    try:
        with services.sessions() as session:
            result = {
                table: int(session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
                for table in ("licences", "licence_events", "licence_imports")
            }
            result["issued_entries"] = int(
                session.execute(
                    text("SELECT count(*) FROM audit_entries WHERE action = 'licence.issued'")
                ).scalar_one()
            )
            result["distinct_numbers"] = int(
                session.execute(
                    text("SELECT count(DISTINCT licence_number) FROM licences")
                ).scalar_one()
            )
        return result
    finally:
        services.close()


def import_args(installation: Installation, csv_file: Path) -> list[str]:
    return [
        "licence",
        "import",
        str(csv_file),
        "--type",
        TOUR_GUIDE_CARD,
        "--issuer",
        AUTHORITY,
        "--by",
        installation.admin_subject,
    ]


@pytest.mark.slow
def test_import_killed_mid_write_leaves_nothing_half_done(tmp_path: Path) -> None:
    installation = install(tmp_path)
    csv_file = tmp_path / "guides.csv"
    csv_file.write_bytes(guide_csv(ROWS))
    before = signed_checkpoint(installation)
    database = tmp_path / "govtrust.db"

    process = subprocess.Popen(  # the command a clerk would run
        [*GOVTRUST, *import_args(installation, csv_file)],
        env=installation.env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not holds_write_lock(database):
        assert process.poll() is None, "the import finished before it could be killed"
        assert time.monotonic() < deadline, "the import never started writing"
        time.sleep(0.005)
    time.sleep(0.3)  # well into its rows
    assert process.poll() is None, "the import finished before it could be killed"
    assert holds_write_lock(database), "the import is no longer writing"
    process.send_signal(signal.SIGKILL)
    output, _ = process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL
    assert b"imported" not in output  # it never reported a row

    # all or nothing: every table agrees, and (one transaction) nothing is there
    assert counts(installation) == {
        "licences": 0,
        "licence_events": 0,
        "licence_imports": 0,
        "issued_entries": 0,
        "distinct_numbers": 0,
    }
    audit_ok(installation)

    # the same file again: every row once
    rerun = run_govtrust(import_args(installation, csv_file), installation.env, tmp_path, 120)
    assert rerun.returncode == 0, rerun.stdout[-500:] + rerun.stderr[-2000:]
    assert f"{ROWS} imported" in rerun.stdout
    # and again: nothing new
    third = run_govtrust(import_args(installation, csv_file), installation.env, tmp_path, 120)
    assert third.returncode == 0, third.stderr[-2000:]
    assert f"{ROWS} already_imported" in third.stdout and " imported," not in third.stdout
    assert counts(installation) == {
        "licences": ROWS,
        "licence_events": ROWS,
        "licence_imports": ROWS,
        "issued_entries": ROWS,
        "distinct_numbers": ROWS,
    }
    for clear in (resident_id(0), resident_id(ROWS - 1)):
        assert clear not in rerun.stdout + rerun.stderr + third.stdout + third.stderr

    audit_ok(installation)
    after = signed_checkpoint(installation)
    services = installation.services()
    try:
        first, second = assert_consistent(services, before, after)
    finally:
        services.close()
    assert second == first + ROWS + 1  # each licence's entry and the batch's
