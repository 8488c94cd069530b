"""Seal administration: the seals of the organisations one administers (filter by
organisation and state), a new seal with a preview of its generated image, granting and
withdrawing its use, suspending, resuming and revoking it with a reason after a
confirmation screen, and every use of it (who, when, document hash, purpose), filtered
by date range and person, a page at a time.

Who may do what is :class:`seal.registry.SealRegistry`, as in the HTTP API (a
representation allowing ``seal:admin``); a seal of another organisation is "not found".
Every change lands in the audit trail through the registry; a withdrawal and a state change
carry the reason given here.
"""

from __future__ import annotations

import base64
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from certs.lifecycle import InvalidTransitionInput, check_reason
from console.approving import registry
from console.client import PREFIX
from console.date_filter import DateText, date_range
from console.deps import FormViewer, SealAdminViewer, ServicesDep, Viewer, seal_admin_viewer
from console.pages import CHINA, day_end, render
from console.paging import MAX_PAGE, PAGE_SIZE, Page, paginate
from console.seal_uses import filtered_uses
from console.text import Line, Lines
from core.errors.problem import ProblemError
from core.identifiers.errors import InvalidIdentifier
from core.services import Services
from idp.identities.models import Organisation
from idp.oauth.sessions import LOA_STRONG, LOA_TWO_FACTOR
from seal.images import InvalidSealDesign, SealDesign, render_seal
from seal.models import KIND_TITLES, Seal, SealGrant
from seal.registry import TRANSITIONS, SealGrantExists, SealNotFound
from seal.uses import SealUse

router = APIRouter(prefix="/admin/seals", include_in_schema=False)

SealId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]
GrantId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9a-f]+$")]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Kind = Literal["official", "approval", "contract", "finance", "invoice", "name"]
Action = Literal["suspend", "resume", "revoke"]
TARGET = {"suspend": "suspended", "resume": "active", "revoke": "revoked"}
LEVELS = (LOA_TWO_FACTOR, LOA_STRONG)
Done = Annotated[str | None, Query(max_length=16, pattern=r"^[a-z]+$")]


def _organisations(viewer: Viewer) -> dict[str, Organisation]:
    return {o.id: o for o in viewer.roles.seal_organisations}


def administered_seal(services: Services, viewer: Viewer, seal_id: str) -> Seal:
    seal = registry(services).get(seal_id)
    if seal.organisation_id not in _organisations(viewer):
        raise SealNotFound()
    return seal


def actions_of(seal: Seal) -> list[str]:
    return [a for a, target in TARGET.items() if (seal.status, target) in TRANSITIONS]


@router.get("")
def seal_list(
    request: Request,
    viewer: SealAdminViewer,
    services: ServicesDep,
    organisation: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[Literal["active", "suspended", "revoked"] | None, Query()] = None,
    page: PageNumber = 1,
    done: Done = None,
) -> Response:
    seals = registry(services)
    mine = _organisations(viewer)
    chosen = [organisation] if organisation in mine else list(mine)
    found = [s for o in chosen for s in seals.seals_of(o) if status is None or s.status == status]
    params = {k: v for k, v in (("organisation", organisation), ("status", status)) if v}
    return render(
        request,
        "seal_admin_list.html",
        viewer=viewer,
        page=paginate(found, page),
        params=params,
        organisation=organisation,
        state=status,
        done=done,
    )


def _design(organisation: Organisation, kind: str, name: str, person_name: str) -> SealDesign:
    return SealDesign(
        kind=kind,  # type: ignore[arg-type]  # one of Kind
        organisation=organisation.name,
        title=None if kind == "name" else (name or KIND_TITLES[kind]),
        person_name=person_name or None,
    )


@router.get("/new")
def new_form(request: Request, viewer: SealAdminViewer) -> Response:
    return render(request, "seal_admin_new.html", viewer=viewer, form={}, kinds=KIND_TITLES)


@router.post("/new")
async def new_seal(
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    organisation_id: Annotated[str, Form(max_length=32)],
    kind: Annotated[Kind, Form()],
    name: Annotated[Line, Form(max_length=12)] = "",
    person_name: Annotated[Line, Form(max_length=4)] = "",
    required_acr: Annotated[str, Form(max_length=64)] = LOA_TWO_FACTOR,
    step: Annotated[Literal["preview", "create"], Form()] = "preview",
) -> Response:
    seal_admin_viewer(viewer)
    organisation = _organisations(viewer).get(organisation_id)
    if organisation is None:
        raise SealNotFound()
    level = required_acr if required_acr in LEVELS else LOA_TWO_FACTOR
    form = {
        "organisation_id": organisation_id,
        "kind": kind,
        "name": name.strip(),
        "person_name": person_name.strip(),
        "required_acr": level,
    }
    try:
        design = _design(organisation, kind, form["name"], form["person_name"])
        image = await run_in_threadpool(render_seal, design)
    except InvalidSealDesign:
        return render(
            request,
            "seal_admin_new.html",
            status=422,
            viewer=viewer,
            form=form,
            kinds=KIND_TITLES,
            invalid=True,
        )
    if step == "preview":
        return render(
            request,
            "seal_admin_new.html",
            viewer=viewer,
            form=form,
            kinds=KIND_TITLES,
            organisation=organisation,
            image="data:image/png;base64," + base64.b64encode(image).decode(),
        )
    seal = await run_in_threadpool(
        lambda: registry(services).create(
            organisation_id=organisation.id,
            kind=kind,
            by=viewer.person_id,
            name=form["name"] or None,
            person_name=form["person_name"] or None,
            required_acr=level,
        )
    )
    return RedirectResponse(f"{PREFIX}/admin/seals/{seal.id}?done=created", status_code=303)


def _grants(services: Services, seal: Seal) -> list[tuple[SealGrant, str, str]]:
    """(grant, holder's name, holder's subject), newest first."""
    seals = registry(services)
    shown = []
    with seals.sessions() as session:
        for grant in reversed(seals.store.grants(session, seal.id)):
            person = seals.identities.person_by_id(session, grant.person_id)
            shown.append((grant, person.name if person else "—", person.subject if person else ""))
    return shown


def _seal_page(
    request: Request,
    viewer: Viewer,
    services: Services,
    seal: Seal,
    status: int = 200,
    **context: Any,
) -> Response:
    return render(
        request,
        "seal_admin_seal.html",
        status=status,
        viewer=viewer,
        seal=seal,
        grants=_grants(services, seal),
        actions=actions_of(seal),
        now=services.keys.clock(),
        default_until=(datetime.now(CHINA).date() + timedelta(days=365)).isoformat(),
        **context,
    )


@router.get("/{seal_id}")
def seal_page(
    seal_id: SealId,
    request: Request,
    viewer: SealAdminViewer,
    services: ServicesDep,
    done: Done = None,
) -> Response:
    seal = administered_seal(services, viewer, seal_id)
    return _seal_page(request, viewer, services, seal, done=done)


@router.get("/{seal_id}/image.png")
def seal_image(seal_id: SealId, viewer: SealAdminViewer, services: ServicesDep) -> Response:
    seal = administered_seal(services, viewer, seal_id)
    return Response(
        registry(services).image(seal.id),
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=300"},
    )


@router.post("/{seal_id}/grants")
def grant_use(
    seal_id: SealId,
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    id_number: Annotated[Line, Form(min_length=1, max_length=32)],
    valid_until: Annotated[date, Form()],
) -> Response:
    seal_admin_viewer(viewer)
    seal = administered_seal(services, viewer, seal_id)
    seals = registry(services)
    try:
        with seals.sessions() as session:
            person = seals.identities.person_by_id_number(
                session, services.identifiers, id_number.strip()
            )
    except InvalidIdentifier:
        person = None
    until = day_end(valid_until)
    if person is None or until <= seals.clock():
        error = "grant_person" if person is None else "grant_until"
        return _seal_page(request, viewer, services, seal, 422, grant_error=error)
    try:
        seals.grant(seal.id, person.id, by=viewer.person_id, valid_until=until)
    except SealGrantExists:
        return _seal_page(request, viewer, services, seal, 409, grant_error="grant_exists")
    return RedirectResponse(f"{PREFIX}/admin/seals/{seal.id}?done=granted", status_code=303)


def _reason_or_none(reason: str) -> str | None:
    try:
        return check_reason(reason)
    except InvalidTransitionInput:
        return None


def _held_grant(services: Services, seal: Seal, grant_id: str) -> tuple[SealGrant, str, str]:
    for shown in _grants(services, seal):
        if shown[0].id == grant_id:
            return shown
    raise ProblemError(404, "not-found", "Not found")


@router.get("/{seal_id}/grants/{grant_id}/withdraw")
def withdraw_form(
    seal_id: SealId,
    grant_id: GrantId,
    request: Request,
    viewer: SealAdminViewer,
    services: ServicesDep,
) -> Response:
    seal = administered_seal(services, viewer, seal_id)
    grant = _held_grant(services, seal, grant_id)
    return render(
        request, "seal_admin_reason.html", viewer=viewer, seal=seal, action="withdraw", grant=grant
    )


@router.post("/{seal_id}/grants/{grant_id}/withdraw")
def withdraw_use(
    seal_id: SealId,
    grant_id: GrantId,
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    reason: Annotated[Lines, Form(max_length=400)] = "",
    step: Annotated[Literal["review", "confirm"], Form()] = "review",
) -> Response:
    seal_admin_viewer(viewer)
    seal = administered_seal(services, viewer, seal_id)
    grant = _held_grant(services, seal, grant_id)
    context: dict[str, Any] = {"viewer": viewer, "seal": seal, "action": "withdraw", "grant": grant}
    text = _reason_or_none(reason)
    if text is None:
        return render(request, "seal_admin_reason.html", status=422, invalid=True, **context)
    if step == "review":
        return render(request, "seal_admin_confirm.html", reason=text, **context)
    registry(services).withdraw(grant_id, by=viewer.person_id, reason=text)
    return RedirectResponse(f"{PREFIX}/admin/seals/{seal.id}?done=withdrawn", status_code=303)


@router.get("/{seal_id}/uses")
def seal_uses(
    seal_id: SealId,
    request: Request,
    viewer: SealAdminViewer,
    services: ServicesDep,
    since: DateText = None,
    until: DateText = None,
    person: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]*$")] = None,
    page: PageNumber = 1,
) -> Response:
    seal = administered_seal(services, viewer, seal_id)
    period = date_range(since, until)
    people = {subject: (grant.person_id, name) for grant, name, subject in _grants(services, seal)}
    chosen = people.get(person or "")
    found = (
        []
        if period.empty or (person and chosen is None)
        else filtered_uses(
            registry(services),
            seal.id,
            period,
            chosen[0] if chosen else None,
            PAGE_SIZE + 1,
            (page - 1) * PAGE_SIZE,
        )
    )
    shown: Page[SealUse] = Page(
        found[:PAGE_SIZE], page, page + 1 if len(found) > PAGE_SIZE else page, 0
    )
    params = {**period.params(), **({"person": person} if person else {})}
    return render(
        request,
        "seal_admin_uses.html",
        viewer=viewer,
        seal=seal,
        page=shown,
        params=params,
        people=sorted((name, subject) for subject, (_, name) in people.items()),
    )


@router.get("/{seal_id}/{action}")
def action_form(
    seal_id: SealId,
    action: Action,
    request: Request,
    viewer: SealAdminViewer,
    services: ServicesDep,
) -> Response:
    seal = administered_seal(services, viewer, seal_id)
    allowed = action in actions_of(seal)
    return render(
        request,
        "seal_admin_reason.html",
        status=200 if allowed else 409,
        viewer=viewer,
        seal=seal,
        action=action,
        not_allowed=not allowed,
    )


@router.post("/{seal_id}/{action}")
def action_submit(
    seal_id: SealId,
    action: Action,
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    reason: Annotated[Lines, Form(max_length=400)] = "",
    step: Annotated[Literal["review", "confirm"], Form()] = "review",
) -> Response:
    seal_admin_viewer(viewer)
    seal = administered_seal(services, viewer, seal_id)
    context: dict[str, Any] = {"viewer": viewer, "seal": seal, "action": action}
    if action not in actions_of(seal):
        return render(request, "seal_admin_reason.html", status=409, not_allowed=True, **context)
    text = _reason_or_none(reason)
    if text is None:
        return render(request, "seal_admin_reason.html", status=422, invalid=True, **context)
    if step == "review":
        return render(
            request, "seal_admin_confirm.html", reason=text, target=TARGET[action], **context
        )
    registry(services).set_status(seal.id, TARGET[action], by=viewer.person_id, reason=text)
    return RedirectResponse(f"{PREFIX}/admin/seals/{seal.id}?done={action}", status_code=303)
