"""A holder's licences: the list, one licence with its history, the sealed PDF from the
wallet, and the dynamic QR (亮证) shown full-screen with a countdown.

The same access rules as the wallet API (:mod:`certs.access`): a person reads the licences
held under their own ID number and those of the organisations they represent with
``licence:read``; anything else is "not found".
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from certs import access
from certs.access import Caller
from certs.models import Licence
from certs.qr_symbol import qr_png
from certs.router import licence_service
from certs.service import LicenceService
from certs.wallet_router import licence_documents
from console.deps import HolderViewer, ServicesDep, Viewer
from console.licence_view import checked_identifier, view
from console.pages import render
from console.paging import MAX_PAGE, paginate
from core.content_disposition import attachment
from core.errors.problem import ProblemError

router = APIRouter(include_in_schema=False)

Identifier = Annotated[str, Path(min_length=20, max_length=128)]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]


def holder(licences: LicenceService, viewer: Viewer) -> Caller:
    found = access.caller_for(licences, viewer.person_id, admin=False, holder=True)
    if found is None:
        raise ProblemError(404, "not-found", "Not found")
    return found


@router.get("/licences")
def my_licences(
    request: Request, viewer: HolderViewer, services: ServicesDep, page: PageNumber = 1
) -> Response:
    licences = licence_service(services)
    found = access.holder_licences(licences, holder(licences, viewer))
    now = licences.clock()
    shown = paginate(found, page)
    return render(
        request,
        "licences.html",
        viewer=viewer,
        page=shown,
        views=[view(licences, licence, now) for licence in shown.items],
    )


@router.get("/licences/{identifier}")
def my_licence(
    identifier: Identifier, request: Request, viewer: HolderViewer, services: ServicesDep
) -> Response:
    licences = licence_service(services)
    caller = holder(licences, viewer)
    licence = access.readable_licence(licences, caller, checked_identifier(identifier))
    history = access.history_of(licences, caller, licence.identifier)
    return render(
        request,
        "licence.html",
        viewer=viewer,
        licence=view(licences, licence, licences.clock()),
        history=history,
    )


@router.get("/licences/{identifier}/document.pdf")
async def my_licence_pdf(
    identifier: Identifier, viewer: HolderViewer, services: ServicesDep
) -> Response:
    licences = licence_service(services)
    licence = await run_in_threadpool(_readable, licences, viewer, identifier)
    documents = licence_documents(services, licences)
    pdf = await run_in_threadpool(documents.sealed_pdf, licence.identifier)
    name = f"licence-{licence.licence_number}-v{licence.version}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": attachment(name),
            "Cache-Control": "no-store",
        },
    )


def _readable(licences: LicenceService, viewer: Viewer, identifier: str) -> Licence:
    caller = holder(licences, viewer)
    return access.readable_licence(licences, caller, checked_identifier(identifier))


@router.get("/licences/{identifier}/qr")
def my_licence_qr(
    identifier: Identifier, request: Request, viewer: HolderViewer, services: ServicesDep
) -> Response:
    licences = licence_service(services)
    licence = _readable(licences, viewer, identifier)
    shown = view(licences, licence, licences.clock())
    if not shown.in_force:
        return render(request, "qr.html", viewer=viewer, licence=shown, image=None, status=409)
    text, expires_at = services.licence_qr.dynamic(licence)
    now = licences.clock()
    return render(
        request,
        "qr.html",
        viewer=viewer,
        licence=shown,
        image="data:image/png;base64," + base64.b64encode(qr_png(text, scale=8)).decode(),
        seconds=max(0, int((expires_at - now).total_seconds())),
        expires_at=expires_at,
    )
