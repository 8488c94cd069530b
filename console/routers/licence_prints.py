"""Paper prints (实体证照) from the console: record a printing of a valid licence (its print
serial is shown and goes into the printed QR), download that print's sealed PDF
(:meth:`certs.documents.LicenceDocuments.sealed_pdf` with the serial, as
``GET /licence-prints/{serial}/document.pdf`` does), and report a print lost, with a reason,
after a confirmation screen. A print of another authority's licence is "not found"
(:func:`certs.access.administered_print`); every step lands in the audit trail.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from certs import access
from certs.errors import PrintNotFound, PrintStateConflict
from certs.lifecycle import InvalidTransitionInput, check_reason
from certs.models import Licence, LicencePrint
from certs.router import licence_service
from certs.service import LicenceService
from certs.wallet_router import licence_documents
from console.client import PREFIX
from console.deps import FormViewer, LicenceAdminViewer, ServicesDep, Viewer, licence_admin_viewer
from console.licence_view import view
from console.pages import render
from console.routers.licence_admin import administered_view, administrator
from console.text import Lines
from core.content_disposition import attachment

router = APIRouter(prefix="/admin", include_in_schema=False)

Identifier = Annotated[str, Path(min_length=20, max_length=128)]
PrintSerial = Annotated[str, Path(pattern=r"^[0-9A-F]{16}$")]


@router.post("/licences/{identifier}/prints")
def record_print(
    identifier: Identifier, request: Request, viewer: FormViewer, services: ServicesDep
) -> Response:
    licence_admin_viewer(viewer)
    licences = licence_service(services)
    shown = administered_view(licences, viewer, identifier)
    try:
        serial = licences.record_print(shown.identifier, administrator(licences, viewer).subject)
    except PrintStateConflict:
        return render(
            request,
            "admin_action.html",
            status=409,
            viewer=viewer,
            licence=shown,
            action="print",
            not_allowed=True,
        )
    return RedirectResponse(
        f"{PREFIX}/admin/licences/{shown.identifier}?done=printed&serial={serial}",
        status_code=303,
    )


def _printed(licences: LicenceService, viewer: Viewer, serial: str) -> tuple[Licence, LicencePrint]:
    licence = access.administered_print(licences, administrator(licences, viewer), serial)
    found = next((p for p in licences.prints(licence.identifier) if p.print_serial == serial), None)
    if found is None:
        raise PrintNotFound()
    return licence, found


@router.get("/licence-prints/{serial}/document.pdf")
async def print_pdf(
    serial: PrintSerial, viewer: LicenceAdminViewer, services: ServicesDep
) -> Response:
    licences = licence_service(services)
    licence, _ = await run_in_threadpool(_printed, licences, viewer, serial)
    documents = licence_documents(services, licences)
    pdf = await run_in_threadpool(documents.sealed_pdf, licence.identifier, serial)
    name = f"licence-{licence.licence_number}-v{licence.version}-print-{serial}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": attachment(name),
            "Cache-Control": "no-store",
        },
    )


def _lost_page(
    request: Request,
    viewer: Viewer,
    licences: LicenceService,
    serial: str,
    *,
    status: int = 200,
    invalid: bool = False,
    reason: str | None = None,
) -> Response:
    licence, printed = _printed(licences, viewer, serial)
    return render(
        request,
        "admin_print_lost.html",
        status=status if printed.status == "active" else 409,
        viewer=viewer,
        licence=view(licences, licence, licences.clock()),
        printed=printed,
        invalid=invalid,
        reason=reason,
        not_allowed=printed.status != "active",
    )


@router.get("/licence-prints/{serial}/lost")
def lost_form(
    serial: PrintSerial, request: Request, viewer: LicenceAdminViewer, services: ServicesDep
) -> Response:
    return _lost_page(request, viewer, licence_service(services), serial)


@router.post("/licence-prints/{serial}/lost")
def report_lost(
    serial: PrintSerial,
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    reason: Annotated[Lines, Form(max_length=400)] = "",
    step: Annotated[Literal["review", "confirm"], Form()] = "review",
) -> Response:
    licence_admin_viewer(viewer)
    licences = licence_service(services)
    try:
        text = check_reason(reason)
    except InvalidTransitionInput:
        return _lost_page(request, viewer, licences, serial, status=422, invalid=True)
    if step == "review":
        return _lost_page(request, viewer, licences, serial, reason=text)
    licence, printed = _printed(licences, viewer, serial)
    if printed.status != "active":
        return _lost_page(request, viewer, licences, serial)
    try:
        licences.report_print_lost(serial, administrator(licences, viewer).subject, text)
    except PrintStateConflict:
        return _lost_page(request, viewer, licences, serial)
    return RedirectResponse(
        f"{PREFIX}/admin/licences/{licence.identifier}?done=lost", status_code=303
    )
