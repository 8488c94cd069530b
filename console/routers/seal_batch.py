"""Sealing a batch: several PDFs with one seal, one place and one purpose.

Upload, review the list (and step up, as for one document), confirm; the documents are then
sealed in the background by the service's batch job (:mod:`seal.batch`, state in the shared
cache so any worker can report it), one at a time, each on its own: a document that cannot
be sealed (no anchor text in it, not a PDF) does not stop the others. The job page shows the
progress (``static/progress.js`` polls it; without JavaScript, a link reloads it) and then
each document's result, and offers every sealed PDF with a ``report.json`` as one zip.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, File, Form, Path, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response

from console.approving import (
    BATCH_BYTES,
    at_level,
    claim_batch,
    drafts,
    owned_draft,
    placement_of,
    placement_spec,
    read_pdf,
    registry,
    require_level,
    stamping,
    started_batch,
    usable_seal,
    usable_seals,
)
from console.client import PREFIX
from console.deps import ApproverViewer, FormViewer, ServicesDep, approver_viewer
from console.drafts import Document, Draft
from console.pages import render
from console.text import Line
from core.content_disposition import attachment
from core.errors.problem import ProblemError
from core.services import Services
from seal import batch
from seal.service import StampRequest

router = APIRouter(include_in_schema=False)

DraftId = Annotated[str, Path(min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$")]
JobId = Annotated[str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Level = Literal["B-B", "B-T", "B-LT"]


@router.get("/batch")
def batch_form(request: Request, viewer: ApproverViewer, services: ServicesDep) -> Response:
    return render(
        request, "batch_form.html", viewer=viewer, seals=usable_seals(services, viewer.person_id)
    )


@router.post("/batch")
async def batch_upload(
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    seal_id: Annotated[str, Form(max_length=32)],
    documents: Annotated[list[UploadFile], File()],
    mode: Annotated[Literal["anchor", "position"], Form()] = "anchor",
    anchor: Annotated[Line, Form(max_length=32)] = "",
    page: Annotated[int | None, Form(ge=1, le=10_000)] = None,
    x: Annotated[float | None, Form(ge=0, le=20_000)] = None,
    y: Annotated[float | None, Form(ge=0, le=20_000)] = None,
    size: Annotated[float, Form(ge=30, le=300)] = 120.0,
    level: Annotated[Level, Form()] = "B-T",
    purpose: Annotated[Line, Form(max_length=200)] = "",
) -> Response:
    approver_viewer(viewer)
    seal = usable_seal(services, viewer.person_id, seal_id)
    spec = placement_spec(mode, anchor, page, x, y, size)
    error = None
    if spec is None:
        error = "placement"
    elif not documents or len(documents) > batch.MAX_DOCUMENTS:
        error = "batch-size"
    files: list[Document] = []
    total = 0
    for index, upload in enumerate(documents if error is None else []):
        pdf = await read_pdf(upload)
        total += len(pdf)
        if total > BATCH_BYTES:
            error = "batch-too-large"
            break
        name = (upload.filename or f"document-{index + 1}.pdf").rsplit("/", 1)[-1][-100:]
        files.append(Document(name, pdf))
    if error is not None or spec is None:
        return render(
            request,
            "batch_form.html",
            status=422,
            viewer=viewer,
            seals=usable_seals(services, viewer.person_id),
            error=error,
        )
    draft = Draft(viewer.person_id, seal.id, level, purpose.strip(), spec, tuple(files))
    return RedirectResponse(f"{PREFIX}/batch/{drafts(services).save(draft)}", status_code=303)


@router.get("/batch/{draft_id}")
def batch_review(
    draft_id: DraftId, request: Request, viewer: ApproverViewer, services: ServicesDep
) -> Response:
    draft = owned_draft(services, viewer, draft_id)
    seal = registry(services).get(draft.seal_id)
    return render(
        request,
        "batch_review.html",
        viewer=viewer,
        draft_id=draft_id,
        draft=draft,
        seal=seal,
        files=[(d.name, len(d.pdf), hashlib.sha256(d.pdf).hexdigest()) for d in draft.documents],
        at_level=at_level(viewer, seal),
    )


@router.post("/batch/{draft_id}/confirm")
def batch_confirm(
    draft_id: DraftId, viewer: FormViewer, services: ServicesDep, tasks: BackgroundTasks
) -> Response:
    approver_viewer(viewer)
    store = drafts(services)
    draft = store.load(draft_id, viewer.person_id)
    if draft is None:  # confirmed before: the job that took the draft (only its owner's)
        return _started(services, draft_id)
    seal = usable_seal(services, viewer.person_id, draft.seal_id)
    require_level(viewer, seal, f"/batch/{draft_id}")
    job_id = claim_batch(services, draft_id)
    if job_id is None:  # confirmed twice at once (a double click): the other request's job
        return _started(services, draft_id)
    placement = placement_of(draft.placement)
    requests = [
        (
            d.name,
            StampRequest(seal.id, d.pdf, placement, draft.level, draft.purpose),  # type: ignore[arg-type]
        )
        for d in draft.documents
    ]
    state = batch.start(services.cache, viewer.person_id, len(requests), job_id)
    store.delete(draft_id)  # the job holds the documents now
    tasks.add_task(
        run_in_threadpool,
        batch.run,
        services.cache,
        state,
        stamping(services),
        requests,
        person_id=viewer.person_id,
        acr=viewer.token.acr,
    )
    return RedirectResponse(f"{PREFIX}/jobs/{state.id}", status_code=303)


def _started(services: Services, draft_id: str) -> Response:
    job_id = started_batch(services, draft_id)
    if job_id is None:
        raise ProblemError(404, "not-found", "Not found")
    return RedirectResponse(f"{PREFIX}/jobs/{job_id}", status_code=303)


def _job(services: ServicesDep, viewer: ApproverViewer, job_id: str) -> batch.JobState:
    state = batch.load(services.cache, job_id, viewer.person_id)
    if state is None:
        raise ProblemError(404, "not-found", "Not found")
    return state


@router.get("/jobs/{job_id}")
def job_page(
    job_id: JobId, request: Request, viewer: ApproverViewer, services: ServicesDep
) -> Response:
    state = _job(services, viewer, job_id)
    return render(request, "job.html", viewer=viewer, job=state)


@router.get("/jobs/{job_id}/progress")
def job_progress(job_id: JobId, viewer: ApproverViewer, services: ServicesDep) -> Response:
    state = _job(services, viewer, job_id)
    return JSONResponse(
        {"done": state.done, "total": state.total, "finished": state.finished},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/jobs/{job_id}/result.zip")
def job_zip(job_id: JobId, viewer: ApproverViewer, services: ServicesDep) -> Response:
    _job(services, viewer, job_id)
    data = batch.result(services.cache, job_id)
    if data is None:
        raise ProblemError(404, "not-found", "Not found")
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": attachment(f"sealed-{job_id}.zip"),
            "Cache-Control": "no-store",
        },
    )
