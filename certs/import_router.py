"""Bulk import of existing licences over HTTP: ``POST /licence-imports`` with the CSV file as
the request body (``Content-Type: text/csv``; columns in :mod:`certs.csv_import`, semantics
in :mod:`certs.bulk_import`).

Guarded like the other administrator operations (:mod:`certs.access`): a person's token with
``licence:admin`` and a representation of the issuing authority allowing it. The answer is
the per-row report; a holder code in it is masked. A file that cannot be read at all is a
422 problem, and nothing of it is imported.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from certs import access
from certs.bulk_import import ImportMode, ImportReport, LicenceImporter, RowReport
from certs.csv_import import MAX_FILE_BYTES, RowStatus
from certs.router import ERRORS, AdminToken
from core.deps import ServicesDep
from core.errors.problem import ProblemError
from idp.routers.bearer import no_store

router = APIRouter(tags=["licences"], dependencies=[Depends(no_store)])
CSV_TYPES = ("text/csv", "application/csv")


def licence_importer(services: ServicesDep) -> LicenceImporter:
    return LicenceImporter(
        services.sessions, services.identifiers, services.audit, services.keys.clock
    )


Importer = Annotated[LicenceImporter, Depends(licence_importer)]


async def csv_body(request: Request) -> bytes:
    """The request body, if it is ``text/csv`` (415 otherwise) and not too large (413)."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() not in CSV_TYPES:
        raise ProblemError(415, "unsupported-media-type", "Send the file as text/csv")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FILE_BYTES:
        raise ProblemError(413, "licence-csv-too-large", "The file is too large")
    data = await request.body()
    if len(data) > MAX_FILE_BYTES:
        raise ProblemError(413, "licence-csv-too-large", "The file is too large")
    return data


CSV_REQUEST_BODY = {
    "required": True,
    "description": "The CSV file: UTF-8, a header row, one licence per row (certs/csv_import.py)",
    "content": {"text/csv": {"schema": {"type": "string"}}},
}


class RowReportOut(BaseModel):
    row: int = Field(description="Spreadsheet row number: the header is row 1")
    status: RowStatus
    error: str | None = Field(description="Why the row was not imported, in words")
    identifier: str | None = Field(description="The licence's identifier (GB/T 36904)")
    licence_number: str | None
    holder_code_masked: str | None

    @classmethod
    def of(cls, row: RowReport) -> RowReportOut:
        return cls(
            row=row.row,
            status=row.status,
            error=row.error,
            identifier=row.identifier,
            licence_number=row.licence_number,
            holder_code_masked=row.holder_code_masked,
        )


class ImportReportOut(BaseModel):
    batch_id: str
    type_code: str
    issuer_uscc: str
    mode: ImportMode
    dry_run: bool
    complete: bool = Field(description="Every row is in the registry now")
    counts: dict[str, int]
    rows: list[RowReportOut]

    @classmethod
    def of(cls, report: ImportReport) -> ImportReportOut:
        return cls(
            batch_id=report.batch_id,
            type_code=report.type_code,
            issuer_uscc=report.issuer_uscc,
            mode=report.mode,
            dry_run=report.dry_run,
            complete=report.complete,
            counts=report.counts,
            rows=[RowReportOut.of(row) for row in report.rows],
        )


@router.post(
    "/licence-imports",
    summary="Import existing licences of one type from CSV (licence administrator)",
    responses={
        **ERRORS,
        404: {"description": "No such licence type"},
        409: {"description": "Another import wrote some of these rows at the same time"},
        413: {"description": "The file is too large"},
        415: {"description": "The body is not text/csv"},
        422: {"description": "The file cannot be read (nothing imported)"},
    },
    openapi_extra={"requestBody": CSV_REQUEST_BODY},
)
def import_licences(
    token: AdminToken,
    importer: Importer,
    data: Annotated[bytes, Depends(csv_body)],
    type_code: Annotated[str, Query(pattern=r"^[0-9A-Z]{18}[0-9]{3}$")],
    issuer_uscc: Annotated[
        str | None,
        Query(max_length=18, description="May be left out by an administrator of only one"),
    ] = None,
    mode: ImportMode = "valid_rows",
    dry_run: bool = False,
    reason: Annotated[str, Query(min_length=1, max_length=200)] = "imported",
) -> ImportReportOut:
    assert token.person_id is not None  # AdminToken requires a person's token
    caller = access.caller_for(importer, token.person_id, admin=True, holder=False)
    if caller is None:
        raise ProblemError(401, "person-not-found", "The person behind the token is gone")
    authority = caller.authority(issuer_uscc)
    report = importer.import_csv(
        data,
        type_code,
        authority.uscc,
        authority.name,
        caller.subject,
        mode=mode,
        dry_run=dry_run,
        reason=reason,
    )
    return ImportReportOut.of(report)
