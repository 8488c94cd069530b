"""Platform administration, part two: keys (their states; rotate one purpose with a
reason), the audit trail (search by action, object and date range, verify the whole
trail, the latest signed checkpoint), and locked accounts (look a person up by ID number
in a POSTed form, see whether their login is locked, unlock it with a reason).

Rotation goes through :meth:`keys.registry.KeyRegistry.rotate`, unlocking through
:func:`idp.admin.persons.unlock_person`; both audit the change, and the reason is recorded
beside it. The ID number looked up is never in a URL: the page that answers the lookup
names the person by their internal id only in its forms.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from certs.lifecycle import InvalidTransitionInput, check_reason
from console.client import PREFIX
from console.date_filter import DateText, date_range
from console.deps import FormViewer, PlatformAdminViewer, ServicesDep, Viewer
from console.deps import platform_admin_viewer as require_platform_admin
from console.pages import render
from console.paging import MAX_PAGE, PAGE_SIZE, Page, paginate
from console.platform_data import (
    AuditRow,
    keys_of,
    locked_until,
    note_reason,
    rotatable,
    search_audit,
)
from console.text import Line, Lines, OptionalLine
from core.errors.problem import ProblemError
from core.identifiers.errors import InvalidIdentifier
from core.services import Services
from idp.admin import persons as person_admin
from idp.identities.models import Person

router = APIRouter(prefix="/platform", include_in_schema=False)

Purpose = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")]
PersonId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Text = Annotated[OptionalLine, Query(max_length=200)]
Step = Annotated[Literal["review", "confirm"], Form()]


# -- keys ---------------------------------------------------------------------------------


@router.get("/keys")
def keys(
    request: Request,
    viewer: PlatformAdminViewer,
    services: ServicesDep,
    page: PageNumber = 1,
    done: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z0-9-]+$")] = None,
) -> Response:
    found = keys_of(services, None)
    purposes = sorted({k.purpose for k in found if rotatable(k.purpose)})
    return render(
        request,
        "platform_keys.html",
        viewer=viewer,
        page=paginate(found, page, 20),
        purposes=purposes,
        done=done,
    )


def _key_reason(
    request: Request, viewer: Viewer, purpose: str, status: int, invalid: bool = False
) -> Response:
    return render(
        request,
        "platform_reason.html",
        status=status,
        viewer=viewer,
        action="rotate-key",
        target=f"{PREFIX}/platform/keys/{purpose}/rotate",
        back=f"{PREFIX}/platform/keys",
        subject=purpose,
        not_allowed=status == 409,
        invalid=invalid,
    )


@router.get("/keys/{purpose}/rotate")
def rotate_form(purpose: Purpose, request: Request, viewer: PlatformAdminViewer) -> Response:
    return _key_reason(request, viewer, purpose, 200 if rotatable(purpose) else 409)


@router.post("/keys/{purpose}/rotate")
async def rotate_key(
    purpose: Purpose,
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    reason: Annotated[Lines, Form(max_length=400)] = "",
    step: Step = "review",
) -> Response:
    require_platform_admin(request, viewer)
    if not rotatable(purpose):
        return _key_reason(request, viewer, purpose, 409)
    try:
        text = check_reason(reason)
    except InvalidTransitionInput:
        return _key_reason(request, viewer, purpose, 422, invalid=True)
    active = [k for k in keys_of(services, purpose) if k.state == "active"]
    if step == "review":
        return render(
            request,
            "platform_confirm.html",
            viewer=viewer,
            action="rotate-key",
            target=f"{PREFIX}/platform/keys/{purpose}/rotate",
            back=f"{PREFIX}/platform/keys",
            subject=purpose,
            before_text=", ".join(k.kid for k in active) or "—",
            after="new_key",
            reason=text,
        )
    # the reason is noted once the rotation is done: a rotation refused (an SM2 purpose
    # with the SM2 hierarchy off, say) leaves no reason for a rotation that never was
    await run_in_threadpool(services.keys.rotate, purpose, viewer.actor)
    note_reason(services, viewer.actor, "key.rotate", "key_purpose", purpose, text)
    return RedirectResponse(f"{PREFIX}/platform/keys?done={purpose}", status_code=303)


# -- audit trail --------------------------------------------------------------------------


@router.get("/audit")
def audit(
    request: Request,
    viewer: PlatformAdminViewer,
    services: ServicesDep,
    action: Text = None,
    object_type: Text = None,
    object_id: Text = None,
    since: DateText = None,
    until: DateText = None,
    page: PageNumber = 1,
) -> Response:
    criteria = {"action": action, "object_type": object_type, "object_id": object_id}
    given = {k: v.strip() for k, v in criteria.items() if v and v.strip()}
    period = date_range(since, until)
    found = search_audit(
        services,
        given.get("action"),
        given.get("object_type"),
        given.get("object_id"),
        PAGE_SIZE + 1,
        (page - 1) * PAGE_SIZE,
        period,
    )
    given.update(period.params())
    shown: Page[AuditRow] = Page(
        found[:PAGE_SIZE], page, page + 1 if len(found) > PAGE_SIZE else page, 0
    )
    with services.sessions() as session:
        checkpoint = services.audit.store.latest_checkpoint(session)
    return render(
        request,
        "platform_audit.html",
        viewer=viewer,
        page=shown,
        criteria=given,
        checkpoint=checkpoint,
    )


@router.post("/audit/verify")
async def verify_audit(request: Request, viewer: FormViewer, services: ServicesDep) -> Response:
    require_platform_admin(request, viewer)

    def run() -> object:
        with services.sessions() as session:
            return services.audit.verify(session)

    result = await run_in_threadpool(run)
    with services.sessions() as session:
        checkpoint = services.audit.store.latest_checkpoint(session)
        size = services.audit.store.size(session)
    return render(
        request,
        "platform_home.html",
        viewer=viewer,
        checkpoint=checkpoint,
        size=size,
        verification=result,
    )


# -- locked accounts ----------------------------------------------------------------------


@router.get("/accounts")
def accounts(request: Request, viewer: PlatformAdminViewer) -> Response:
    return render(request, "platform_accounts.html", viewer=viewer)


def _person_page(
    request: Request, viewer: Viewer, services: Services, person: Person, **extra: bool
) -> Response:
    return render(
        request,
        "platform_accounts.html",
        viewer=viewer,
        person=person,
        locked=locked_until(services, person.id),
        **extra,
    )


@router.post("/accounts/lookup")
def lookup(
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    id_number: Annotated[Line, Form(min_length=1, max_length=32)],
) -> Response:
    require_platform_admin(request, viewer)
    try:
        persons = person_admin.search_persons(
            services.idp, id_number=id_number.strip(), phone=None, actor=viewer.actor
        )
    except (InvalidIdentifier, ProblemError):
        return render(request, "platform_accounts.html", status=404, viewer=viewer, missing=True)
    return _person_page(request, viewer, services, persons[0])


@router.post("/accounts/{person_id}/unlock")
def unlock(
    person_id: PersonId,
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    reason: Annotated[Lines, Form(max_length=400)] = "",
    step: Step = "review",
) -> Response:
    require_platform_admin(request, viewer)
    person = person_admin.get_person(services.idp, person_id, actor=viewer.actor)
    try:
        text = check_reason(reason)
    except InvalidTransitionInput:
        return _person_page(request, viewer, services, person, invalid=True)
    if step == "review":
        return render(
            request,
            "platform_confirm.html",
            viewer=viewer,
            action="unlock",
            target=f"{PREFIX}/platform/accounts/{person.id}/unlock",
            back=f"{PREFIX}/platform/accounts",
            subject=f"{person.name} ({person.id_number_masked})",
            before="locked",
            after="unlocked",
            reason=text,
        )
    note_reason(services, viewer.actor, "person.unlock", "person", person.id, text)
    person_admin.unlock_person(services.idp, person.id, actor=viewer.actor)
    return _person_page(request, viewer, services, person, done=True)
