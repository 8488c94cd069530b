"""An approver's pages: the seals they may use, and sealing one document.

Sealing one document goes: upload it with the seal, the place (an anchor text such as
"（盖章）", or page and x/y in points) and the level; look at the preview (the page with the
seal drawn, :mod:`console.seal_preview`), move the seal if need be (a new place, or a click
on the preview); confirm. When the console session is below the level the seal requires
(two factors, by default), confirming sends the person through the provider's step-up
(``acr_values``) and back to the preview, to confirm again. The sealed PDF is then offered
for download. The use is recorded by :class:`seal.service.StampingService` (who, when, the
document's SHA-256 before and after, the purpose); the console keeps the document only as
a short-lived, encrypted draft (:mod:`console.drafts`).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from console.approving import (
    at_level,
    drafts,
    held_draft,
    held_grants,
    owned_draft,
    placement_of,
    placement_spec,
    read_pdf,
    registry,
    require_level,
    stamping,
    usable_seal,
    usable_seals,
)
from console.client import PREFIX
from console.deps import ApproverViewer, FormViewer, ServicesDep, Viewer, approver_viewer
from console.drafts import Document, Draft
from console.pages import render
from console.paging import MAX_PAGE, paginate
from console.seal_preview import locate_seal, preview_png
from console.text import Line
from core.content_disposition import attachment
from core.errors.problem import ProblemError
from core.services import Services
from seal.service import StampRequest

router = APIRouter(include_in_schema=False)

PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]
DraftId = Annotated[str, Path(min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$")]
SealId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]
Level = Literal["B-B", "B-T", "B-LT"]
Mode = Literal["anchor", "position"]
Size = Annotated[float, Form(ge=30, le=300)]


@router.get("/seals/mine")
def my_seals(
    request: Request, viewer: ApproverViewer, services: ServicesDep, page: PageNumber = 1
) -> Response:
    return render(
        request,
        "seals_mine.html",
        viewer=viewer,
        page=paginate(held_grants(services, viewer.person_id), page),
        now=services.keys.clock(),
    )


@router.get("/seals/mine/{seal_id}/image.png")
def my_seal_image(seal_id: SealId, viewer: ApproverViewer, services: ServicesDep) -> Response:
    if all(h.seal.id != seal_id for h in held_grants(services, viewer.person_id)):
        raise ProblemError(404, "not-found", "Not found")
    return Response(
        registry(services).image(seal_id),
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=300"},
    )


def _form(
    request: Request,
    viewer: Viewer,
    services: Services,
    template: str,
    status: int = 200,
    **context: object,
) -> Response:
    return render(
        request,
        template,
        status=status,
        viewer=viewer,
        seals=usable_seals(services, viewer.person_id),
        **context,
    )


@router.get("/stamp")
def stamp_form(
    request: Request,
    viewer: ApproverViewer,
    services: ServicesDep,
    seal: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    return _form(request, viewer, services, "stamp_form.html", chosen=seal)


@router.post("/stamp")
async def stamp_upload(
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    seal_id: Annotated[str, Form(max_length=32)],
    document: Annotated[UploadFile, File()],
    mode: Annotated[Mode, Form()] = "anchor",
    anchor: Annotated[Line, Form(max_length=32)] = "",
    page: Annotated[int | None, Form(ge=1, le=10_000)] = None,
    x: Annotated[float | None, Form(ge=0, le=20_000)] = None,
    y: Annotated[float | None, Form(ge=0, le=20_000)] = None,
    size: Size = 120.0,
    level: Annotated[Level, Form()] = "B-T",
    purpose: Annotated[Line, Form(max_length=200)] = "",
) -> Response:
    approver_viewer(viewer)
    seal = usable_seal(services, viewer.person_id, seal_id)
    pdf = await read_pdf(document)
    spec = placement_spec(mode, anchor, page, x, y, size)
    if spec is None:
        return _form(
            request, viewer, services, "stamp_form.html", 422, chosen=seal.id, error="placement"
        )
    try:
        await run_in_threadpool(locate_seal, pdf, placement_of(spec))
    except ProblemError as problem:
        return _form(
            request,
            viewer,
            services,
            "stamp_form.html",
            422,
            chosen=seal.id,
            error=problem.problem.type.rsplit("/", 1)[-1],
        )
    name = (document.filename or "document.pdf").rsplit("/", 1)[-1][-100:]
    draft = Draft(
        owner=viewer.person_id,
        seal_id=seal.id,
        level=level,
        purpose=purpose.strip(),
        placement=spec,
        documents=(Document(name, pdf),),
    )
    draft_id = drafts(services).save(draft)
    return RedirectResponse(f"{PREFIX}/stamp/{draft_id}", status_code=303)


def _preview_page(
    request: Request,
    viewer: Viewer,
    services: Services,
    draft_id: str,
    draft: Draft,
    status: int = 200,
    error: str | None = None,
) -> Response:
    seal = registry(services).get(draft.seal_id)
    document = draft.documents[0]
    located = locate_seal(document.pdf, placement_of(draft.placement))
    return render(
        request,
        "stamp_preview.html",
        status=status,
        viewer=viewer,
        draft_id=draft_id,
        draft=draft,
        seal=seal,
        document=document,
        sha256=hashlib.sha256(document.pdf).hexdigest(),
        located=located,
        at_level=at_level(viewer, seal),
        error=error,
    )


@router.get("/stamp/{draft_id}")
def stamp_preview(
    draft_id: DraftId, request: Request, viewer: ApproverViewer, services: ServicesDep
) -> Response:
    draft = owned_draft(services, viewer, draft_id)
    if draft.sealed is not None:
        return RedirectResponse(f"{PREFIX}/stamp/{draft_id}/done", status_code=303)
    return _preview_page(request, viewer, services, draft_id, draft)


@router.get("/stamp/{draft_id}/preview.png")
async def stamp_preview_image(
    draft_id: DraftId, viewer: ApproverViewer, services: ServicesDep
) -> Response:
    draft = owned_draft(services, viewer, draft_id)
    pdf = draft.documents[0].pdf
    located = await run_in_threadpool(locate_seal, pdf, placement_of(draft.placement))
    image = await run_in_threadpool(
        preview_png, pdf, located, registry(services).image(draft.seal_id)
    )
    return Response(image, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/stamp/{draft_id}/placement")
def stamp_move(
    draft_id: DraftId,
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    mode: Annotated[Mode, Form()] = "position",
    anchor: Annotated[Line, Form(max_length=32)] = "",
    page: Annotated[int | None, Form(ge=1, le=10_000)] = None,
    x: Annotated[float | None, Form(ge=0, le=20_000)] = None,
    y: Annotated[float | None, Form(ge=0, le=20_000)] = None,
    size: Size = 120.0,
) -> Response:
    approver_viewer(viewer)
    draft = owned_draft(services, viewer, draft_id)
    if draft.sealed is not None:
        return _done_page(request, viewer, services, draft_id, draft, 409, "sealed")
    spec = placement_spec(mode, anchor, page, x, y, size)
    try:
        if spec is None:
            raise ProblemError(422, "placement-required", "Give an anchor text or page, x and y")
        locate_seal(draft.documents[0].pdf, placement_of(spec))
    except ProblemError as problem:
        return _preview_page(
            request,
            viewer,
            services,
            draft_id,
            draft,
            422,
            error=problem.problem.type.rsplit("/", 1)[-1],
        )
    # held as a confirmation holds it: a seal moved while the draft is being sealed would
    # save the unsealed draft over the sealed one
    with held_draft(services, draft_id) as held:
        if not held:
            return _preview_page(request, viewer, services, draft_id, draft, 409, "stamping")
        draft = owned_draft(services, viewer, draft_id)  # as the claim found it
        if draft.sealed is not None:  # sealed meanwhile
            return _done_page(request, viewer, services, draft_id, draft, 409, "sealed")
        drafts(services).save(replace(draft, placement=spec), draft_id)
    return RedirectResponse(f"{PREFIX}/stamp/{draft_id}", status_code=303)


@router.post("/stamp/{draft_id}/confirm")
async def stamp_confirm(
    draft_id: DraftId, request: Request, viewer: FormViewer, services: ServicesDep
) -> Response:
    approver_viewer(viewer)
    draft = owned_draft(services, viewer, draft_id)
    if draft.sealed is not None:
        return RedirectResponse(f"{PREFIX}/stamp/{draft_id}/done", status_code=303)
    seal = usable_seal(services, viewer.person_id, draft.seal_id)
    require_level(viewer, seal, f"/stamp/{draft_id}")
    # one stamping per draft at a time: a confirmation sent twice at once (a double
    # click) stamps once, and the other request shows where the first one stands
    with held_draft(services, draft_id) as held:
        if not held:
            return RedirectResponse(f"{PREFIX}/stamp/{draft_id}/done", status_code=303)
        draft = owned_draft(services, viewer, draft_id)  # as the claim found it
        if draft.sealed is not None:  # the other request stamped it meanwhile
            return RedirectResponse(f"{PREFIX}/stamp/{draft_id}/done", status_code=303)
        return await _stamp(request, viewer, services, draft_id, draft, seal.id)


async def _stamp(
    request: Request,
    viewer: Viewer,
    services: Services,
    draft_id: str,
    draft: Draft,
    seal_id: str,
) -> Response:
    document = draft.documents[0]
    stamp_request = StampRequest(
        seal_id,
        document.pdf,
        placement_of(draft.placement),
        draft.level,  # type: ignore[arg-type]  # one of Level, checked on upload
        draft.purpose,
    )
    try:
        stamped = await run_in_threadpool(
            stamping(services).stamp,
            stamp_request,
            person_id=viewer.person_id,
            acr=viewer.token.acr,
        )
    except ProblemError as problem:
        return _preview_page(
            request,
            viewer,
            services,
            draft_id,
            draft,
            problem.problem.status,
            error=problem.problem.type.rsplit("/", 1)[-1],
        )
    result = {
        "document_sha256": stamped.document_sha256,
        "sealed_sha256": stamped.sealed_sha256,
        "audit_index": stamped.audit_index,
        "level": stamped.level,
    }
    drafts(services).save(draft.with_result(stamped.pdf, result), draft_id)
    return RedirectResponse(f"{PREFIX}/stamp/{draft_id}/done", status_code=303)


def _done_page(
    request: Request,
    viewer: Viewer,
    services: Services,
    draft_id: str,
    draft: Draft,
    status: int = 200,
    error: str | None = None,
) -> Response:
    return render(
        request,
        "stamp_done.html",
        status=status,
        viewer=viewer,
        draft_id=draft_id,
        draft=draft,
        seal=registry(services).get(draft.seal_id),
        error=error,
    )


@router.get("/stamp/{draft_id}/done")
def stamp_done(
    draft_id: DraftId, request: Request, viewer: ApproverViewer, services: ServicesDep
) -> Response:
    draft = owned_draft(services, viewer, draft_id)
    if draft.sealed is None:
        return RedirectResponse(f"{PREFIX}/stamp/{draft_id}", status_code=303)
    return _done_page(request, viewer, services, draft_id, draft)


@router.get("/stamp/{draft_id}/sealed.pdf")
def stamp_download(draft_id: DraftId, viewer: ApproverViewer, services: ServicesDep) -> Response:
    draft = owned_draft(services, viewer, draft_id)
    if draft.sealed is None:
        raise ProblemError(404, "not-found", "Not found")
    stem = draft.documents[0].name.rsplit(".", 1)[0]
    return Response(
        draft.sealed,
        media_type="application/pdf",
        headers={
            "Content-Disposition": attachment(f"sealed-{stem or 'document'}.pdf"),
            "Cache-Control": "no-store",
        },
    )
