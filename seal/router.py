"""Seals over HTTP: manage them (seal administrators), stamp with them (approvers), and
validate any signed PDF (anyone).

Managing needs a person's token with ``seal:admin``, stamping ``seal:use``; the registry
then checks that the administrator represents the seal's organisation (with the
``seal:admin`` power), and for stamping the seal's and its organisation's status, the
person's status, their grant and their level of assurance. Documents are sent
as ``multipart/form-data`` and are not kept.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Query, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import AwareDatetime, BaseModel, Field
from starlette.concurrency import run_in_threadpool

from core.content_disposition import attachment
from core.deps import ServicesDep
from core.errors.problem import ProblemError
from idp.routers.bearer import TokenContext, require_scopes
from keys.revocation import Revocation
from seal import batch
from seal.models import SEAL_ADMIN_SCOPE, SEAL_USE_SCOPE, Seal, SealKind
from seal.registry import SealRegistry
from seal.service import MAX_DOCUMENT_BYTES, StampingService, StampRequest
from seal.stamping.placement import AtAnchor, AtPosition, CrossPage
from seal.uses import uses_of
from seal.validation.validate import InvalidPdf, validate_document

router = APIRouter(tags=["seals"])

Admin = Annotated[TokenContext, Depends(require_scopes(SEAL_ADMIN_SCOPE, person=True))]
Approver = Annotated[TokenContext, Depends(require_scopes(SEAL_USE_SCOPE, person=True))]


def registry(services: ServicesDep) -> SealRegistry:
    return SealRegistry(services.sessions, services.keys, services.audit, services.keys.clock)


Registry = Annotated[SealRegistry, Depends(registry)]


class SealOut(BaseModel):
    id: str
    organisation_id: str
    uscc: str
    organisation_name: str
    kind: str
    name: str
    status: str
    valid_from: datetime
    valid_until: datetime
    required_acr: str
    certificate_kid: str

    @classmethod
    def of(cls, seal: Seal) -> SealOut:
        return cls(
            id=seal.id,
            organisation_id=seal.organisation_id,
            uscc=seal.uscc,
            organisation_name=seal.organisation_name,
            kind=seal.kind,
            name=seal.name,
            status=seal.status,
            valid_from=seal.valid_from,
            valid_until=seal.valid_until,
            required_acr=seal.required_acr,
            certificate_kid=seal.key_kid,
        )


class SealIn(BaseModel):
    organisation_id: str = Field(max_length=32)
    kind: SealKind
    name: str | None = Field(default=None, max_length=12)
    person_name: str | None = Field(default=None, max_length=4)
    image_png_base64: str | None = Field(default=None, max_length=3_000_000)


class GrantIn(BaseModel):
    person_subject: str = Field(max_length=64, description="The approver's opaque subject")
    valid_until: AwareDatetime  # with its offset: a time without one names no moment


class GrantOut(BaseModel):
    id: str
    seal_id: str
    person_id: str
    valid_from: datetime
    valid_until: datetime
    revoked_at: datetime | None


class StatusIn(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


def _person(token: TokenContext) -> str:
    assert token.person_id is not None  # require_scopes(person=True)
    return token.person_id


@router.post(
    "/seals", response_model=SealOut, status_code=201, summary="Make a seal (seal administrator)"
)
def create_seal(body: SealIn, token: Admin, seals: Registry) -> SealOut:
    image = None
    if body.image_png_base64 is not None:
        try:
            image = base64.b64decode(body.image_png_base64, validate=True)
        except ValueError as exc:
            raise ProblemError(422, "invalid-image", "image_png_base64 is not base64") from exc
    seal = seals.create(
        organisation_id=body.organisation_id,
        kind=body.kind,
        by=_person(token),
        name=body.name,
        person_name=body.person_name,
        image_png=image,
    )
    return SealOut.of(seal)


@router.get("/organisations/{organisation_id}/seals", response_model=list[SealOut])
def list_seals(organisation_id: str, token: Admin, seals: Registry) -> list[SealOut]:
    with seals.sessions() as session:
        if not seals.is_administrator(session, organisation_id, _person(token)):
            raise ProblemError(404, "organisation-not-found", "No such organisation")
    return [SealOut.of(seal) for seal in seals.seals_of(organisation_id)]


@router.get(
    "/seals/{seal_id}/image",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def seal_image(seal_id: str, token: Approver, seals: Registry) -> Response:
    del token
    return Response(
        seals.image(seal_id),
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=300"},
    )


@router.post("/seals/{seal_id}/grants", response_model=GrantOut, status_code=201)
def grant_use(seal_id: str, body: GrantIn, token: Admin, seals: Registry) -> GrantOut:
    with seals.sessions() as session:
        person = seals.identities.person_by_subject(session, body.person_subject)
    if person is None:
        raise ProblemError(404, "person-not-found", "No such person")
    grant = seals.grant(seal_id, person.id, by=_person(token), valid_until=body.valid_until)
    return GrantOut(**grant.__dict__)


@router.post("/seal-grants/{grant_id}/withdraw", response_model=GrantOut)
def withdraw_use(grant_id: str, token: Admin, seals: Registry) -> GrantOut:
    return GrantOut(**seals.withdraw(grant_id, by=_person(token)).__dict__)


def _set_status(
    seal_id: str, status: str, body: StatusIn, token: TokenContext, seals: SealRegistry
) -> SealOut:
    return SealOut.of(seals.set_status(seal_id, status, by=_person(token), reason=body.reason))


@router.post("/seals/{seal_id}/suspend", response_model=SealOut)
def suspend(seal_id: str, body: StatusIn, token: Admin, seals: Registry) -> SealOut:
    return _set_status(seal_id, "suspended", body, token, seals)


@router.post("/seals/{seal_id}/resume", response_model=SealOut)
def resume(seal_id: str, body: StatusIn, token: Admin, seals: Registry) -> SealOut:
    return _set_status(seal_id, "active", body, token, seals)


@router.post(
    "/seals/{seal_id}/revoke", response_model=SealOut, summary="Revoke a seal and its certificate"
)
def revoke(seal_id: str, body: StatusIn, token: Admin, seals: Registry) -> SealOut:
    return _set_status(seal_id, "revoked", body, token, seals)


async def _read_pdf(document: UploadFile) -> bytes:
    data = await document.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ProblemError(413, "document-too-large", "The document is too large")
    return data


def _placement(
    page: int | None,
    x: float | None,
    y: float | None,
    anchor: str | None,
    cross_page: bool,
    size: float,
) -> AtPosition | AtAnchor | CrossPage:
    if cross_page:
        return CrossPage(size=size)
    if anchor:
        return AtAnchor(text=anchor, size=size)
    if page is None or x is None or y is None:
        raise ProblemError(
            422, "placement-required", "Give page, x and y, or an anchor text, or cross_page"
        )
    return AtPosition(page=page, x=x, y=y, size=size)


@router.post(
    "/seals/{seal_id}/stamp",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
    summary="Stamp a PDF with a seal (PAdES, visible seal)",
)
async def stamp(
    seal_id: str,
    token: Approver,
    services: ServicesDep,
    document: Annotated[UploadFile, File()],
    level: Annotated[Literal["B-B", "B-T", "B-LT"], Form()] = "B-T",
    purpose: Annotated[str, Form(max_length=200)] = "",
    page: Annotated[int | None, Form(ge=0)] = None,
    x: Annotated[float | None, Form()] = None,
    y: Annotated[float | None, Form()] = None,
    anchor: Annotated[str | None, Form(max_length=32)] = None,
    cross_page: Annotated[bool, Form()] = False,
    size: Annotated[float, Form(gt=20, le=300)] = 120.0,
) -> Response:
    pdf = await _read_pdf(document)
    request = StampRequest(
        seal_id, pdf, _placement(page, x, y, anchor, cross_page, size), level, purpose
    )
    service = StampingService(registry(services), services.keys)
    stamped = await run_in_threadpool(
        service.stamp, request, person_id=_person(token), acr=token.acr
    )
    return Response(
        stamped.pdf,
        media_type="application/pdf",
        headers={
            "X-Document-SHA256": stamped.document_sha256,
            "X-Sealed-SHA256": stamped.sealed_sha256,
            "X-Audit-Index": str(stamped.audit_index),
            "Cache-Control": "no-store",
        },
    )


class SealUseOut(BaseModel):
    audit_index: int
    at: datetime
    person_subject: str | None
    document_sha256: str | None
    sealed_sha256: str | None
    level: str | None
    purpose: str


@router.get(
    "/seals/{seal_id}/uses",
    response_model=list[SealUseOut],
    summary="Every use of a seal: who, when, which document, what for",
)
def seal_uses(
    seal_id: str,
    token: Admin,
    services: ServicesDep,
    seals: Registry,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[SealUseOut]:
    seal = seals.get(seal_id)
    with seals.sessions() as session:
        if not seals.is_administrator(session, seal.organisation_id, _person(token)):
            raise ProblemError(404, "seal-not-found", "No such seal")
    return [
        SealUseOut(**use.__dict__) for use in uses_of(seals, services.audit, seal_id, limit, offset)
    ]


class JobOut(BaseModel):
    id: str
    total: int
    done: int
    finished: bool
    items: list[dict[str, object]]


@router.post(
    "/seals/{seal_id}/stamp-batch",
    response_model=JobOut,
    status_code=202,
    summary="Stamp many PDFs; follow the job for progress and the zip of results",
)
async def stamp_batch(
    seal_id: str,
    token: Approver,
    services: ServicesDep,
    tasks: BackgroundTasks,
    documents: Annotated[list[UploadFile], File()],
    level: Annotated[Literal["B-B", "B-T", "B-LT"], Form()] = "B-T",
    purpose: Annotated[str, Form(max_length=200)] = "",
    anchor: Annotated[str | None, Form(max_length=32)] = None,
    page: Annotated[int | None, Form(ge=0)] = None,
    x: Annotated[float | None, Form()] = None,
    y: Annotated[float | None, Form()] = None,
    size: Annotated[float, Form(gt=20, le=300)] = 120.0,
) -> JobOut:
    if not documents or len(documents) > batch.MAX_DOCUMENTS:
        raise ProblemError(422, "batch-size", f"Send 1 to {batch.MAX_DOCUMENTS} documents")
    placement = _placement(page, x, y, anchor, False, size)
    requests = [
        (
            (document.filename or f"document-{index}.pdf")[-100:],
            StampRequest(seal_id, await _read_pdf(document), placement, level, purpose),
        )
        for index, document in enumerate(documents)
    ]
    person = _person(token)
    state = batch.start(services.cache, person, len(requests))
    service = StampingService(registry(services), services.keys)
    tasks.add_task(
        run_in_threadpool,
        batch.run,
        services.cache,
        state,
        service,
        requests,
        person_id=person,
        acr=token.acr,
    )
    return JobOut(**state.__dict__)


@router.get("/seal-jobs/{job_id}", response_model=JobOut)
def job_progress(job_id: str, token: Approver, services: ServicesDep) -> JobOut:
    state = batch.load(services.cache, job_id, _person(token))
    if state is None:
        raise ProblemError(404, "job-not-found", "No such job")
    return JobOut(**state.__dict__)


@router.get(
    "/seal-jobs/{job_id}/result.zip",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
)
def job_result(job_id: str, token: Approver, services: ServicesDep) -> Response:
    state = batch.load(services.cache, job_id, _person(token))
    data = batch.result(services.cache, job_id) if state is not None else None
    if state is None or data is None:
        raise ProblemError(404, "job-not-found", "No such job, or not finished")
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": attachment(f"sealed-{job_id}.zip"),
            "Cache-Control": "no-store",
        },
    )


PAGE = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
LABELS = {
    "TOTAL-PASSED": "有效 valid",
    "INDETERMINATE": "无法确定 indeterminate",
    "TOTAL-FAILED": "无效 not valid",
}


def _page(
    report: dict[str, object] | None = None, error: str | None = None, status: int = 200
) -> HTMLResponse:
    html = PAGE.get_template("validation.html").render(report=report, error=error, labels=LABELS)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/signatures/validate", response_class=HTMLResponse, include_in_schema=False)
def validation_page() -> HTMLResponse:
    return _page()


@router.post("/signatures/validate/page", response_class=HTMLResponse, include_in_schema=False)
async def validation_report_page(
    services: ServicesDep, document: Annotated[UploadFile, File()]
) -> HTMLResponse:
    """The same report as ``POST /signatures/validate``, as a page for people."""
    try:
        report = await validate(services, document)
    except ProblemError as problem:
        return _page(error=problem.problem.title, status=problem.problem.status)
    return _page(report=json.loads(bytes(report.body)))


@router.post("/signatures/validate", summary="Validate the signatures of a PDF (anyone)")
async def validate(services: ServicesDep, document: Annotated[UploadFile, File()]) -> JSONResponse:
    pdf = await _read_pdf(document)
    root = services.keys.signer("root").certificate_chain()[0]
    revocation = Revocation(services.keys)
    crls = [revocation.crl(ca.kid) for ca in revocation.certificate_authorities()]
    try:
        report = await run_in_threadpool(
            validate_document,
            pdf,
            trust_roots=[root],
            validation_time=services.keys.clock(),
            crls=crls,
        )
    except InvalidPdf as exc:
        raise ProblemError(
            422, "invalid-pdf", "The file is not a readable PDF", str(exc)[:200]
        ) from exc
    body = report.to_json()
    body["document_sha256"] = hashlib.sha256(pdf).hexdigest()
    return JSONResponse(body)
