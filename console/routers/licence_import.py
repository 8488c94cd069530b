"""Importing existing licences (存量证照) from a CSV file: upload the file for a type, read the
trial report (nothing written: :meth:`certs.bulk_import.LicenceImporter.import_csv` with
``dry_run``), then import in the mode chosen (every valid row, or all or nothing) and read
the report for each row, a page at a time.

The column convention is :mod:`certs.csv_import`'s. The file waits for the confirmation,
and each report for its pages, sealed with the console session
(:meth:`console.session.SessionStore.save_pending`) under a random id: the pages' URLs
name that id only. Reports show holder codes masked, as the importer gives them.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from certs.bulk_import import ImportMode, ImportReport, LicenceImporter
from certs.csv_import import MAX_FILE_BYTES, InvalidLicenceCsv
from certs.import_router import licence_importer
from certs.types import LicenceType
from console.client import PREFIX
from console.deps import FormViewer, LicenceAdminViewer, ServicesDep, Viewer, licence_admin_viewer
from console.pages import render
from console.paging import MAX_PAGE, paginate
from console.routers.licence_admin import administrator
from console.routers.licence_issue import _authority
from console.session import SessionStore
from core.errors.problem import ProblemError

router = APIRouter(prefix="/admin/licence-types", include_in_schema=False)

TypeCode = Annotated[str, Path(pattern=r"^[0-9A-Z]{18}[0-9]{3}$")]
ReportId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]
FILE_KIND = "import-file"
REPORT_KIND = "import-report"


def _form(
    request: Request,
    viewer: Viewer,
    licence_type: LicenceType,
    *,
    status: int = 200,
    error: str | None = None,
    detail: str = "",
    mode: str = "valid_rows",
) -> Response:
    return render(
        request,
        "admin_import.html",
        status=status,
        viewer=viewer,
        licence_type=licence_type,
        error=error,
        detail=detail,
        mode=mode,
    )


@router.get("/{code}/import")
def import_form(
    code: TypeCode, request: Request, viewer: LicenceAdminViewer, services: ServicesDep
) -> Response:
    return _form(request, viewer, licence_importer(services).get_type(code))


def _run(
    importer: LicenceImporter,
    viewer: Viewer,
    data: bytes,
    type_code: str,
    uscc: str,
    mode: ImportMode,
    dry_run: bool,
) -> ImportReport:
    caller = administrator(importer, viewer)
    authority = caller.authority(uscc)  # 403 for an authority not (or no longer) theirs
    return importer.import_csv(
        data,
        type_code,
        authority.uscc,
        authority.name,
        caller.subject,
        mode=mode,
        dry_run=dry_run,
    )


def _keep_report(store: SessionStore, viewer: Viewer, report: ImportReport, file_id: str) -> str:
    report_id = secrets.token_hex(16)
    kept: dict[str, Any] = {
        "type_code": report.type_code,
        "mode": report.mode,
        "dry_run": report.dry_run,
        "file": file_id,
        "counts": report.counts,
        "rows": [asdict(row) for row in report.rows],
    }
    store.save_pending(viewer.cookie, REPORT_KIND, report_id, kept)
    return report_id


@router.post("/{code}/import")
async def import_upload(
    code: TypeCode,
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    file: Annotated[UploadFile | None, File()] = None,
    mode: Annotated[ImportMode, Form()] = "valid_rows",
    issuer_uscc: Annotated[str, Form(max_length=18)] = "",
) -> Response:
    licence_admin_viewer(viewer)
    importer = licence_importer(services)
    licence_type = await run_in_threadpool(importer.get_type, code)
    data = b"" if file is None else await file.read(MAX_FILE_BYTES + 1)
    if not data or len(data) > MAX_FILE_BYTES:
        return _form(request, viewer, licence_type, status=422, error="missing", mode=mode)
    authority = _authority(viewer, issuer_uscc)
    if authority is None:
        return _form(request, viewer, licence_type, status=422, error="missing", mode=mode)
    try:
        report = await run_in_threadpool(
            _run, importer, viewer, data, code, authority.uscc, mode, True
        )
    except InvalidLicenceCsv as problem:
        detail = str(problem.problem.detail or "")
        return _form(request, viewer, licence_type, status=422, error="invalid", detail=detail)
    store = SessionStore(services.cache)
    file_id = secrets.token_hex(16)
    kept = {"type_code": code, "issuer": authority.uscc, "mode": mode}
    store.save_pending(
        viewer.cookie, FILE_KIND, file_id, {**kept, "csv": base64.b64encode(data).decode()}
    )
    report_id = _keep_report(store, viewer, report, file_id)
    return RedirectResponse(f"{PREFIX}/admin/licence-types/{code}/import/{report_id}", 303)


@router.post("/{code}/import/confirm")
async def import_confirm(
    code: TypeCode,
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    file_id: Annotated[str, Form(alias="file", max_length=64)] = "",
    mode: Annotated[ImportMode | None, Form()] = None,
) -> Response:
    licence_admin_viewer(viewer)
    importer = licence_importer(services)
    licence_type = await run_in_threadpool(importer.get_type, code)
    store = SessionStore(services.cache)
    kept = store.load_pending(viewer.cookie, FILE_KIND, file_id)
    if not isinstance(kept, dict) or kept.get("type_code") != code:
        return _form(request, viewer, licence_type, status=409, error="expired")
    chosen: ImportMode = mode or kept["mode"]
    data = base64.b64decode(kept["csv"])
    try:
        report = await run_in_threadpool(
            _run, importer, viewer, data, code, str(kept["issuer"]), chosen, False
        )
    except ProblemError as problem:
        if problem.problem.status >= 500 or problem.problem.status == 403:
            raise
        return _form(request, viewer, licence_type, status=422, error="invalid")
    store.take_pending(viewer.cookie, FILE_KIND, file_id)
    report_id = _keep_report(store, viewer, report, "")
    return RedirectResponse(f"{PREFIX}/admin/licence-types/{code}/import/{report_id}", 303)


@router.get("/{code}/import/{report_id}")
def import_report(
    code: TypeCode,
    report_id: ReportId,
    request: Request,
    viewer: LicenceAdminViewer,
    services: ServicesDep,
    status: Annotated[
        Literal["imported", "already_imported", "rejected", "valid", "not_imported"] | None,
        Query(),
    ] = None,
    page: PageNumber = 1,
) -> Response:
    licence_type = licence_importer(services).get_type(code)
    store = SessionStore(services.cache)
    kept = store.load_pending(viewer.cookie, REPORT_KIND, report_id)
    if not isinstance(kept, dict) or kept.get("type_code") != code:
        return _form(request, viewer, licence_type, status=404, error="expired")
    rows = [row for row in kept["rows"] if status is None or row["status"] == status]
    file_id = str(kept.get("file") or "")
    pending = bool(file_id) and store.load_pending(viewer.cookie, FILE_KIND, file_id) is not None
    return render(
        request,
        "admin_import_report.html",
        viewer=viewer,
        licence_type=licence_type,
        report=kept,
        page=paginate(rows, page),
        params={"status": status} if status else {},
        status_filter=status,
        file_id=file_id if pending else "",
    )
