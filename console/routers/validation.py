"""Validating any PDF and reading the report: whose seals are on it, whether the document
changed after each, whether each chains to govtrust's root, when it was sealed (claimed,
and proven by a time-stamp), revocation, the PAdES level.

The same validation as the public API (``POST /signatures/validate``,
:func:`seal.validation.validate.validate_document`, against govtrust's root and its CAs'
current CRLs), shown in the person's language. Open to everyone logged in to the console.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from console.approving import read_pdf
from console.deps import CurrentViewer, FormViewer, ServicesDep
from console.pages import render
from core.errors.problem import ProblemError
from core.services import Services
from keys.revocation import Revocation
from seal.validation.validate import InvalidPdf, validate_document

router = APIRouter(include_in_schema=False)


def validation_report(services: Services, pdf: bytes) -> dict[str, Any]:
    root = services.keys.signer("root").certificate_chain()[0]
    revocation = Revocation(services.keys)
    crls = [revocation.crl(ca.kid) for ca in revocation.certificate_authorities()]
    report = validate_document(
        pdf, trust_roots=[root], validation_time=services.keys.clock(), crls=crls
    )
    body = report.to_json()
    body["document_sha256"] = hashlib.sha256(pdf).hexdigest()
    return body


@router.get("/validate")
def validate_form(request: Request, viewer: CurrentViewer) -> Response:
    return render(request, "validate.html", viewer=viewer)


@router.post("/validate")
async def validate(
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    document: Annotated[UploadFile, File()],
) -> Response:
    try:
        pdf = await read_pdf(document)
        report = await run_in_threadpool(validation_report, services, pdf)
    except (InvalidPdf, ProblemError):
        return render(request, "validate.html", status=422, viewer=viewer, invalid=True)
    return render(
        request,
        "validate.html",
        viewer=viewer,
        report=report,
        name=(document.filename or "")[-100:],
    )
