"""HTTP: the holder's wallet (download the sealed PDF or OFD, preview it, show a dynamic QR —
亮证) and the issuing authority's copies (the electronic licence as sealed PDF and OFD, each
paper print as a sealed PDF). The OFD (GB/T 33190) carries a GB/T 38540 SM2 seal and answers
409 ``sm2-hierarchy-off`` where the SM2 hierarchy is not enabled. Holders use a first-party
``account`` token; administrators ``licence:admin``. A licence the caller may not see answers
404, as everywhere in :mod:`certs.router`."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel

from certs import access
from certs.documents import LicenceDocuments
from certs.errors import LicenceNotInForce
from certs.lifecycle import LicenceState, effective_state
from certs.models import Licence
from certs.qr_symbol import qr_png
from certs.router import (
    ERRORS,
    NOT_FOUND,
    AdminToken,
    HolderToken,
    Identifier,
    Licences,
    PrintSerial,
    admin_caller,
    holder_caller,
)
from core.content_disposition import attachment
from core.deps import ServicesDep
from idp.routers.bearer import no_store
from seal.registry import SealRegistry
from seal.service import StampingService

router = APIRouter(tags=["licence wallet"], dependencies=[Depends(no_store)])
PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "The sealed PDF"}
}
PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "A picture of the page"}
}
OFD_MEDIA_TYPE = "application/ofd"
OFD: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {OFD_MEDIA_TYPE: {}},
        "description": "The OFD file (GB/T 33190), sealed with a GB/T 38540 electronic seal",
    },
    409: {
        "content": {"application/problem+json": {}},
        "description": "The SM2 hierarchy is off here (sm2-hierarchy-off), or the licence "
        "type names no seal",
    },
}


def licence_documents(services: ServicesDep, licences: Licences) -> LicenceDocuments:
    seals = SealRegistry(services.sessions, services.keys, services.audit, services.keys.clock)
    return LicenceDocuments(
        licences,
        seals,
        StampingService(seals, services.keys),
        services.licence_qr,
        services.settings.data_dir / "fonts",
    )


Documents = Annotated[LicenceDocuments, Depends(licence_documents)]


def _download(data: bytes, licence: Licence, kind: str, suffix: str = "") -> Response:
    """A sealed document as an attachment named after the licence; never cached."""
    name = f"licence-{licence.licence_number}-v{licence.version}{suffix}.{kind}"
    return Response(
        data,
        media_type=OFD_MEDIA_TYPE if kind == "ofd" else "application/pdf",
        headers={
            "Content-Disposition": attachment(name),
            "Cache-Control": "no-store",
        },
    )


def _pdf(pdf: bytes, licence: Licence, suffix: str = "") -> Response:
    return _download(pdf, licence, "pdf", suffix)


def _ofd(data: bytes, licence: Licence) -> Response:
    return _download(data, licence, "ofd")


@router.get(
    "/me/licences/{identifier}/document.pdf",
    response_class=Response,
    summary="My licence as a sealed PDF (holder)",
    responses={**ERRORS, **NOT_FOUND, **PDF},
)
async def my_licence_pdf(
    identifier: Identifier, token: HolderToken, licences: Licences, documents: Documents
) -> Response:
    licence = access.readable_licence(licences, holder_caller(licences, token), identifier)
    return _pdf(await run_in_threadpool(documents.sealed_pdf, licence.identifier), licence)


@router.get(
    "/me/licences/{identifier}/document.ofd",
    response_class=Response,
    summary="My licence as a sealed OFD file (holder)",
    responses={**ERRORS, **NOT_FOUND, **OFD},
)
async def my_licence_ofd(
    identifier: Identifier, token: HolderToken, licences: Licences, documents: Documents
) -> Response:
    licence = access.readable_licence(licences, holder_caller(licences, token), identifier)
    return _ofd(await run_in_threadpool(documents.sealed_ofd, licence.identifier), licence)


@router.get(
    "/me/licences/{identifier}/preview.png",
    response_class=Response,
    summary="A picture of my licence (holder)",
    responses={**ERRORS, **NOT_FOUND, **PNG},
)
async def my_licence_preview(
    identifier: Identifier, token: HolderToken, licences: Licences, documents: Documents
) -> Response:
    licence = access.readable_licence(licences, holder_caller(licences, token), identifier)
    png = await run_in_threadpool(documents.preview_png, licence.identifier)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


class DynamicQrOut(BaseModel):
    """A QR to show on the phone (亮证): it verifies until ``expires_at`` only."""

    qr: str
    expires_at: datetime
    image: str
    """The QR as a ``data:image/png;base64`` URL, for a page to show as it is."""


@router.post(
    "/me/licences/{identifier}/dynamic-qr",
    summary="Show my licence: a QR valid for a few minutes (holder)",
    responses={**ERRORS, **NOT_FOUND, 409: {"description": "The licence is not in force"}},
)
def my_dynamic_qr(
    identifier: Identifier, token: HolderToken, licences: Licences, services: ServicesDep
) -> DynamicQrOut:
    licence = access.readable_licence(licences, holder_caller(licences, token), identifier)
    state = effective_state(licence, licences.clock())
    if state is not LicenceState.VALID:
        raise LicenceNotInForce(state.value)
    text, expires_at = services.licence_qr.dynamic(licence)
    image = "data:image/png;base64," + base64.b64encode(qr_png(text, scale=6)).decode()
    return DynamicQrOut(qr=text, expires_at=expires_at, image=image)


@router.get(
    "/licences/{identifier}/document.pdf",
    response_class=Response,
    summary="The electronic licence as a sealed PDF (administrator of the issuer)",
    responses={**ERRORS, **NOT_FOUND, **PDF},
)
async def licence_pdf(
    identifier: Identifier, token: AdminToken, licences: Licences, documents: Documents
) -> Response:
    licence = access.administered_licence(licences, admin_caller(licences, token), identifier)
    return _pdf(await run_in_threadpool(documents.sealed_pdf, licence.identifier), licence)


@router.get(
    "/licences/{identifier}/document.ofd",
    response_class=Response,
    summary="The electronic licence as a sealed OFD file (administrator of the issuer)",
    responses={**ERRORS, **NOT_FOUND, **OFD},
)
async def licence_ofd(
    identifier: Identifier, token: AdminToken, licences: Licences, documents: Documents
) -> Response:
    licence = access.administered_licence(licences, admin_caller(licences, token), identifier)
    return _ofd(await run_in_threadpool(documents.sealed_ofd, licence.identifier), licence)


@router.get(
    "/licence-prints/{serial}/document.pdf",
    response_class=Response,
    summary="One paper print as a sealed PDF to print, its QR naming the print (administrator)",
    responses={**ERRORS, **NOT_FOUND, **PDF},
)
async def print_pdf(
    serial: PrintSerial, token: AdminToken, licences: Licences, documents: Documents
) -> Response:
    licence = access.administered_print(licences, admin_caller(licences, token), serial)
    pdf = await run_in_threadpool(documents.sealed_pdf, licence.identifier, serial)
    return _pdf(pdf, licence, f"-print-{serial}")
