"""Bulk import of existing licences (存量证照) from a CSV file, with a report per row and
nothing half-imported.

The semantics, in order:

1. The file is read and its header checked (:mod:`certs.csv_import`): a file-level problem
   (not UTF-8, not CSV, a missing or unknown column, no rows) rejects the whole file, 422.
2. Every row is checked before anything is written: holder code (GB 11643 check digit /
   GB 32100), names, dates, validity, fields against the type's JSON Schema. A row that
   repeats an earlier row of the file (same source key) is rejected as a duplicate.
3. Rows already imported (same type, issuing authority and source key), or whose legacy
   licence number a licence of this type and issuer already carries, are reported
   ``already_imported`` with that licence's identifier and are not written again: running
   the same file twice creates nothing new.
4. Mode ``valid_rows`` (the default) writes every valid row; mode ``all_or_nothing`` writes
   them only if no row was rejected (otherwise each valid row is reported ``not_imported``).
   With ``dry_run`` nothing is written and valid rows are reported ``valid``.
5. All rows written by one import are written in **one** transaction: each licence (version
   001, state ``valid``), its ``issue`` history event, its ``licence.issued`` audit entry
   (details name the batch and row) and its ``licence_imports`` row, and one
   ``licence_import.completed`` audit entry for the batch. Any failure rolls all of it back;
   an import racing another import of the same rows fails with 409 and writes nothing
   (running it again is safe).

A resident ID number is handled as everywhere else: validated, blind-indexed, encrypted,
kept masked; the report shows the masked form only, and no log line carries a holder code.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.exc import IntegrityError

from certs.csv_import import (
    CheckedRow,
    RowProblem,
    RowStatus,
    check_row,
    read_licence_csv,
)
from certs.identifiers import licence_identifier
from certs.import_storage import LicenceImportRow, SqlImportStore
from certs.lifecycle import LifecycleEvent, china_date, new_version
from certs.service import LicenceService
from certs.storage import LicenceRow
from certs.versions import check_issuer, check_name, licence_number, serial_text
from core.audit.entry import AuditEvent
from core.db.engine import transaction
from core.errors.problem import ProblemError

ImportMode = Literal["valid_rows", "all_or_nothing"]
IMPORT_MODES: tuple[ImportMode, ...] = ("valid_rows", "all_or_nothing")
ROW_HASH_KIND = "licence-import-row"


@dataclass(frozen=True)
class RowReport:
    """What became of one row: ``error`` in words when not imported; ``identifier`` of the
    new licence (or of the licence it was already imported as)."""

    row: int
    status: RowStatus
    error: str | None = None
    identifier: str | None = None
    licence_number: str | None = None
    holder_code_masked: str | None = None


@dataclass(frozen=True)
class ImportReport:
    batch_id: str
    type_code: str
    issuer_uscc: str
    mode: ImportMode
    dry_run: bool
    rows: tuple[RowReport, ...]

    @property
    def counts(self) -> dict[str, int]:
        tally: Counter[str] = Counter(str(row.status) for row in self.rows)
        statuses = ("imported", "already_imported", "rejected", "valid", "not_imported")
        return {status: tally.get(status, 0) for status in statuses}

    @property
    def complete(self) -> bool:
        """Every row is in the registry now (imported by this or an earlier import)."""
        return all(row.status in ("imported", "already_imported") for row in self.rows)


class ImportConflict(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            409,
            "licence-import-conflict",
            "Another import wrote some of these licences at the same time",
            "nothing was imported; run the import again (rows already imported are "
            "reported, not duplicated)",
        )


class LicenceImporter(LicenceService):
    """The registry, with bulk import of existing licences."""

    def import_csv(
        self,
        data: bytes,
        type_code: str,
        issuer_uscc: str,
        issuer_name: str,
        actor: str,
        *,
        mode: ImportMode = "valid_rows",
        dry_run: bool = False,
        reason: str = "imported",
    ) -> ImportReport:
        """Import the licences of ``data`` (see the module documentation)."""
        if mode not in IMPORT_MODES:
            raise ProblemError(422, "invalid-import-mode", "Unknown import mode")
        issuer = check_issuer(issuer_uscc)
        name = check_name(issuer_name, "issuing authority's name")
        reason = check_name(reason, "reason")
        licence_type = self.get_type(type_code)
        rows = read_licence_csv(data, licence_type)
        today = china_date(self.clock())
        checked: list[CheckedRow | RowProblem] = [
            check_row(
                row,
                licence_type,
                issuer,
                today,
                self._protect,
                lambda text: self.protector.blind_index(ROW_HASH_KIND, text),
            )
            for row in rows
        ]
        reports: dict[int, RowReport] = {}
        first_of: dict[str, int] = {}
        valid: list[CheckedRow] = []
        for row, result in zip(rows, checked, strict=True):
            if isinstance(result, RowProblem):
                reports[row.number] = RowReport(
                    row.number, "rejected", result.message, None, None, result.holder_code_masked
                )
            elif result.source_key in first_of:
                reports[row.number] = _report(
                    result, "rejected", f"duplicate of row {first_of[result.source_key]}"
                )
            else:
                first_of[result.source_key] = row.number
                valid.append(result)
        with self.sessions() as session:
            store = SqlImportStore()
            known = store.imported(session, type_code, issuer, [r.source_key for r in valid])
            numbers = [r.licence_number for r in valid if r.licence_number is not None]
            numbered = store.numbered(session, type_code, issuer, numbers)
        fresh: list[CheckedRow] = []
        for result in valid:
            existing = known.get(result.source_key) or (
                None if result.licence_number is None else numbered.get(result.licence_number)
            )
            if existing is not None:
                reports[result.number] = _report(result, "already_imported", None, existing)
            else:
                fresh.append(result)
        batch_id = secrets.token_hex(16)
        rejected = any(report.status == "rejected" for report in reports.values())
        if dry_run or (mode == "all_or_nothing" and rejected):
            status: RowStatus = "valid" if dry_run else "not_imported"
            note = None if dry_run else "not imported: other rows of the file were rejected"
            for result in fresh:
                reports[result.number] = _report(result, status, note)
        elif fresh:
            for report in self._write_rows(
                fresh, licence_type.code, issuer, name, actor, reason, batch_id, len(rows)
            ):
                reports[report.row] = report
        return ImportReport(
            batch_id,
            licence_type.code,
            issuer,
            mode,
            dry_run,
            tuple(reports[row.number] for row in rows),
        )

    def _write_rows(
        self,
        rows: list[CheckedRow],
        type_code: str,
        issuer: str,
        issuer_name: str,
        actor: str,
        reason: str,
        batch_id: str,
        total: int,
    ) -> list[RowReport]:
        now = self.clock()
        written: list[RowReport] = []
        try:
            with transaction(self.sessions) as session:
                for row in rows:
                    serial = serial_text(
                        self.store.next_value(session, f"serial:{type_code}:{issuer}")
                    )
                    number = row.licence_number or licence_number(type_code, issuer, serial)
                    licence = LicenceRow(
                        identifier=licence_identifier(type_code, issuer, serial, 1),
                        licence_number=number,
                        type_code=type_code,
                        serial=serial,
                        version=1,
                        issuer_uscc=issuer,
                        issuer_name=issuer_name,
                        holder_name=row.holder_name,
                        holder_code_type=row.holder.code_type,
                        holder_code_index=row.holder.index,
                        holder_code_encrypted=row.holder.encrypted,
                        holder_code=row.holder.clear,
                        holder_code_masked=row.holder.masked,
                        fields=row.fields,
                        issued_on=row.issued_on,
                        valid_from=row.valid_from,
                        valid_until=row.valid_until,
                    )
                    step = new_version(LifecycleEvent.ISSUE, reason=reason, actor=actor, at=now)
                    self._add_version(
                        session,
                        licence,
                        step,
                        holder_code_type=row.holder.code_type,
                        imported_batch=batch_id,
                        imported_row=row.number,
                        legacy_number=row.licence_number is not None,
                    )
                    SqlImportStore().add(
                        session,
                        LicenceImportRow(
                            type_code=type_code,
                            issuer_uscc=issuer,
                            source_key=row.source_key,
                            identifier=licence.identifier,
                            batch_id=batch_id,
                            row_number=row.number,
                            imported_by=actor,
                            imported_at=now,
                        ),
                    )
                    session.flush()
                    written.append(_report(row, "imported", None, licence.identifier, number))
                self.audit.record(
                    session,
                    AuditEvent(
                        actor=actor,
                        action="licence_import.completed",
                        object_type="licence_import",
                        object_id=batch_id,
                        details={
                            "type_code": type_code,
                            "issuer_uscc": issuer,
                            "rows": total,
                            "imported": len(written),
                            "identifiers": [r.identifier for r in written],
                        },
                    ),
                )
        except IntegrityError:
            raise ImportConflict() from None
        return written


def _report(
    row: CheckedRow,
    status: RowStatus,
    error: str | None,
    identifier: str | None = None,
    number: str | None = None,
) -> RowReport:
    return RowReport(
        row.number,
        status,
        error,
        identifier,
        number or row.licence_number,
        row.holder.masked,
    )
