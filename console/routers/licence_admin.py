"""Licence administration: search the licences of one's issuing authorities by number or
holder code, view one with its history, and suspend, resume or revoke it with a reason,
after a confirmation screen that shows what changes.

The holder code searched for travels in a POSTed form only; the results (identifiers) are
kept with the console session and shown page by page at a URL naming only a random search
id (post/redirect/get). Who may do what is :mod:`certs.access`, as in the HTTP API: the
licences of another authority are "not found". Every search and every change lands in the
audit trail (the change through :class:`certs.service.LicenceService`).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from certs import access
from certs.access import Caller
from certs.errors import LicenceNotFound
from certs.lifecycle import InvalidTransitionInput, LicenceState, check_reason, effective_state
from certs.router import licence_service
from certs.service import LicenceService
from console.client import PREFIX
from console.deps import FormViewer, LicenceAdminViewer, ServicesDep, Viewer, licence_admin_viewer
from console.licence_view import LicenceView, checked_identifier, view
from console.pages import render
from console.paging import MAX_PAGE, paginate
from console.session import SessionStore
from console.text import Line, Lines
from core.audit.entry import AuditEvent
from core.db.engine import transaction
from core.errors.problem import ProblemError

router = APIRouter(prefix="/admin", include_in_schema=False)

Identifier = Annotated[str, Path(min_length=20, max_length=128)]
Action = Literal["suspend", "resume", "revoke"]
Done = Literal[
    "suspend", "resume", "revoke", "issue", "change", "reissue", "renew", "printed", "lost"
]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]
SearchId = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9]+$")]


def administrator(licences: LicenceService, viewer: Viewer) -> Caller:
    found = access.caller_for(licences, viewer.person_id, admin=True, holder=False)
    if found is None or not found.authorities:
        raise access.NotLicenceAdministrator()
    return found


def administered_view(licences: LicenceService, viewer: Viewer, identifier: str) -> LicenceView:
    caller = administrator(licences, viewer)
    licence = access.administered_licence(licences, caller, checked_identifier(identifier))
    return view(licences, licence, licences.clock())


def _filtered(
    licences: LicenceService, found: list[str], state: LicenceState | None, type_code: str | None
) -> list[str]:
    """The identifiers of ``found`` in ``state`` (now) and of ``type_code``."""
    now = licences.clock()
    kept = []
    for identifier in found:
        try:
            licence = licences.get(identifier)
        except LicenceNotFound:
            continue
        if state is not None and effective_state(licence, now) is not state:
            continue
        if type_code is not None and licence.type_code != type_code:
            continue
        kept.append(identifier)
    return kept


@router.get("/licences")
def search_page(
    request: Request,
    viewer: LicenceAdminViewer,
    services: ServicesDep,
    search: SearchId = None,
    page: PageNumber = 1,
    state: Annotated[LicenceState | None, Query()] = None,
    type_code: Annotated[str | None, Query(alias="type", max_length=21)] = None,
) -> Response:
    context: dict[str, Any] = {"viewer": viewer, "search": search, "state": state}
    context["type_code"] = type_code
    if search is not None:
        found = SessionStore(services.cache).load_search(viewer.cookie, search)
        if found is None:
            context["expired"] = True
        else:
            licences = licence_service(services)
            caller = administrator(licences, viewer)
            now = licences.clock()
            if state is not None or type_code:
                found = _filtered(licences, found, state, type_code or None)
            context["types"] = licences.list_types()
            context["params"] = {
                k: v for k, v in (("search", search), ("state", state), ("type", type_code)) if v
            }
            shown = paginate(found, page)
            views = []
            for identifier in shown.items:
                try:  # checked again: rights may have changed since the search
                    licence = access.administered_licence(licences, caller, identifier)
                except LicenceNotFound:
                    continue
                views.append(view(licences, licence, now))
            context.update(page=shown, views=views)
    return render(request, "admin_search.html", **context)


@router.post("/licences/search")
def search(
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    by: Annotated[Literal["number", "holder"], Form()],
    value: Annotated[Line, Form(min_length=1, max_length=64)],
) -> Response:
    licence_admin_viewer(viewer)
    licences = licence_service(services)
    caller = administrator(licences, viewer)
    try:
        if by == "holder":
            found = access.search_by_holder(licences, caller, value.strip())
        else:
            found = access.search_by_number(licences, caller, value.strip())
    except ProblemError:
        return render(request, "admin_search.html", status=422, viewer=viewer, invalid=True, by=by)
    with transaction(licences.sessions) as session:
        licences.audit.record(
            session,
            AuditEvent(
                actor=caller.subject,
                action="licence.searched",
                object_type="licence_search",
                object_id=caller.authorities[0].organisation_id,
                details={
                    "criterion": "holder_code" if by == "holder" else "licence_number",
                    "found": [licence.identifier for licence in found],
                    "via": "console",
                },
            ),
        )
    search_id = secrets.token_hex(8)
    SessionStore(services.cache).save_search(
        viewer.cookie, search_id, [licence.identifier for licence in found]
    )
    return RedirectResponse(f"{PREFIX}/admin/licences?search={search_id}", status_code=303)


@router.get("/licences/{identifier}")
def licence_page(
    identifier: Identifier,
    request: Request,
    viewer: LicenceAdminViewer,
    services: ServicesDep,
    done: Annotated[Done | None, Query()] = None,
    serial: Annotated[str | None, Query(pattern=r"^[0-9A-F]{16}$")] = None,
) -> Response:
    licences = licence_service(services)
    caller = administrator(licences, viewer)
    licence = access.administered_licence(licences, caller, checked_identifier(identifier))
    return render(
        request,
        "admin_licence.html",
        viewer=viewer,
        licence=view(licences, licence, licences.clock()),
        history=access.history_of(licences, caller, licence.identifier),
        prints=licences.prints(licence.identifier),
        done=done,
        serial=serial,
    )


@router.get("/licences/{identifier}/{action}")
def action_form(
    identifier: Identifier,
    action: Action,
    request: Request,
    viewer: LicenceAdminViewer,
    services: ServicesDep,
) -> Response:
    shown = administered_view(licence_service(services), viewer, identifier)
    if shown.target(action) is None:
        return render(
            request,
            "admin_action.html",
            status=409,
            viewer=viewer,
            licence=shown,
            action=action,
            not_allowed=True,
        )
    return render(request, "admin_action.html", viewer=viewer, licence=shown, action=action)


@router.post("/licences/{identifier}/{action}")
def action_submit(
    identifier: Identifier,
    action: Action,
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    reason: Annotated[Lines, Form(max_length=400)] = "",
    step: Annotated[Literal["review", "confirm"], Form()] = "review",
) -> Response:
    licence_admin_viewer(viewer)
    licences = licence_service(services)
    shown = administered_view(licences, viewer, identifier)
    target = shown.target(action)
    if target is None:
        return render(
            request,
            "admin_action.html",
            status=409,
            viewer=viewer,
            licence=shown,
            action=action,
            not_allowed=True,
        )
    try:
        text = check_reason(reason)
    except InvalidTransitionInput:
        return render(
            request,
            "admin_action.html",
            status=422,
            viewer=viewer,
            licence=shown,
            action=action,
            invalid=True,
        )
    if step == "review":
        return render(
            request,
            "admin_confirm.html",
            viewer=viewer,
            licence=shown,
            action=action,
            target=target,
            reason=text,
        )
    caller = administrator(licences, viewer)
    steps = {"suspend": licences.suspend, "resume": licences.resume, "revoke": licences.revoke}
    steps[action](shown.identifier, text, caller.subject)
    return RedirectResponse(
        f"{PREFIX}/admin/licences/{shown.identifier}?done={action}", status_code=303
    )
