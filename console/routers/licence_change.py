"""The steps that issue a new version of a licence: change (变更: the complete new set of
fields, prefilled), reissue (补发) and renew (延续: a new last valid day), each with a
reason, after a confirmation screen that shows what changes (old → new).

What was asked for waits for the confirmation sealed with the console session
(:meth:`console.session.SessionStore.save_pending`) under a random id: the confirmation
carries only that id, so what is confirmed is exactly what was shown. The step is
:class:`certs.service.LicenceService` for a licence of an authority the person administers
(:mod:`certs.access`), as the HTTP API does; it writes the history and the audit entry.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from certs.errors import LicenceNotFound
from certs.lifecycle import InvalidTransitionInput, LicenceState, check_reason, china_date
from certs.router import licence_service
from certs.service import LicenceService
from console.client import PREFIX
from console.deps import FormViewer, LicenceAdminViewer, ServicesDep, Viewer, licence_admin_viewer
from console.licence_form import field_diff, form_fields, form_values, parse_fields
from console.licence_view import LicenceView
from console.pages import render
from console.routers.licence_admin import administered_view, administrator
from console.routers.licence_issue import PostedForm
from console.session import SessionStore
from core.errors.problem import ProblemError

router = APIRouter(prefix="/admin/licences", include_in_schema=False)

Identifier = Annotated[str, Path(min_length=20, max_length=128)]
Step = Literal["change", "reissue", "renew"]
STEPS: tuple[Step, ...] = ("change", "reissue", "renew")
PENDING_KIND = "version"


def step_of(request: Request) -> Step:
    """The step named by the path's last segment (each step has its own fixed path, so that
    ``/{identifier}/suspend`` and the others stay with :mod:`console.routers.licence_admin`)."""
    last = request.url.path.rsplit("/", 1)[-1]
    for step in STEPS:
        if step == last:
            return step
    raise LicenceNotFound()


StepDep = Annotated[Step, Depends(step_of)]


def _form(
    request: Request,
    viewer: Viewer,
    licences: LicenceService,
    shown: LicenceView,
    action: Step,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    field_values: dict[str, str] | None = None,
) -> Response:
    licence_type = licences.get_type(shown.type_code)
    fields = form_fields(licence_type)
    if field_values is None:
        field_values = form_values(fields, licences.get(shown.identifier).fields)
    return render(
        request,
        "admin_version.html",
        status=status,
        viewer=viewer,
        licence=shown,
        action=action,
        fields=fields,
        shown=field_values,
        errors=errors or {},
        values=values or {"holder_name": shown.holder_name},
        not_allowed=action not in shown.version_actions(),
    )


@router.get("/{identifier}/change")
@router.get("/{identifier}/reissue")
@router.get("/{identifier}/renew")
def version_form(
    identifier: Identifier,
    action: StepDep,
    request: Request,
    viewer: LicenceAdminViewer,
    services: ServicesDep,
) -> Response:
    licences = licence_service(services)
    shown = administered_view(licences, viewer, identifier)
    allowed = action in shown.version_actions()
    return _form(request, viewer, licences, shown, action, status=200 if allowed else 409)


def _review(
    licences: LicenceService, shown: LicenceView, action: Step, form: dict[str, str]
) -> tuple[dict[str, Any] | None, dict[str, str], dict[str, str]]:
    """(the pending step, or None; the errors; the field inputs as typed)."""
    errors: dict[str, str] = {}
    try:
        reason = check_reason(form.get("reason", ""))
    except InvalidTransitionInput:
        errors["reason"] = "invalid"
        reason = ""
    pending: dict[str, Any] = {"identifier": shown.identifier, "action": action, "reason": reason}
    typed: dict[str, str] = {}
    if action == "change":
        licence_type = licences.get_type(shown.type_code)
        old = licences.get(shown.identifier).fields
        parsed = parse_fields(licence_type, form, stored=old)
        typed = parsed.shown
        errors.update(parsed.errors)
        holder_name = form.get("holder_name", "").strip()
        if not holder_name or len(holder_name) > 200:
            errors["holder_name"] = "invalid"
        if not errors and parsed.values == old and holder_name == shown.holder_name:
            errors["form"] = "no_change"
        pending.update(fields=parsed.values, holder_name=holder_name)
    elif action == "renew":
        try:
            until = date.fromisoformat(form.get("valid_until", "").strip())
            today = china_date(licences.clock())
            if shown.valid_until is None or until <= max(today, shown.valid_until):
                errors["valid_until"] = "invalid"
            pending["valid_until"] = until.isoformat()
        except ValueError:
            errors["valid_until"] = "invalid"
    return (None if errors else pending), errors, typed


@router.post("/{identifier}/change")
@router.post("/{identifier}/reissue")
@router.post("/{identifier}/renew")
def version_submit(
    identifier: Identifier,
    action: StepDep,
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    form: PostedForm,
    step: Annotated[Literal["review", "confirm"], Form()] = "review",
    pending: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    licence_admin_viewer(viewer)
    licences = licence_service(services)
    shown = administered_view(licences, viewer, identifier)
    if action not in shown.version_actions():
        return _form(request, viewer, licences, shown, action, status=409)
    store = SessionStore(services.cache)
    if step == "confirm":
        return _confirm(request, viewer, licences, store, shown, action, pending)
    asked, errors, typed = _review(licences, shown, action, form)
    if asked is None:
        values = {k: form.get(k, "") for k in ("holder_name", "valid_until", "reason")}
        return _form(
            request,
            viewer,
            licences,
            shown,
            action,
            status=422,
            errors=errors,
            values=values,
            field_values=typed if action == "change" else None,
        )
    pending_id = secrets.token_hex(16)
    store.save_pending(viewer.cookie, PENDING_KIND, pending_id, asked)
    fields = form_fields(licences.get_type(shown.type_code))
    old_fields = licences.get(shown.identifier).fields
    return render(
        request,
        "admin_version_confirm.html",
        viewer=viewer,
        licence=shown,
        action=action,
        asked=asked,
        diff=field_diff(fields, old_fields, asked.get("fields", old_fields)),
        new_valid_until=(
            date.fromisoformat(asked["valid_until"]) if "valid_until" in asked else None
        ),
        today=china_date(licences.clock()),
        superseded=LicenceState.SUPERSEDED,
        pending=pending_id,
    )


def _confirm(
    request: Request,
    viewer: Viewer,
    licences: LicenceService,
    store: SessionStore,
    shown: LicenceView,
    action: Step,
    pending_id: str,
) -> Response:
    asked = store.load_pending(viewer.cookie, PENDING_KIND, pending_id)
    if (
        not isinstance(asked, dict)
        or asked.get("identifier") != shown.identifier
        or asked.get("action") != action
    ):
        return _form(
            request, viewer, licences, shown, action, status=409, errors={"form": "expired"}
        )
    actor = administrator(licences, viewer).subject
    reason = str(asked["reason"])
    try:
        if action == "change":
            new = licences.change(
                shown.identifier,
                dict(asked["fields"]),
                reason,
                actor,
                holder_name=str(asked["holder_name"]),
            )
        elif action == "reissue":
            new = licences.reissue(shown.identifier, reason, actor)
        else:
            until = date.fromisoformat(str(asked["valid_until"]))
            new = licences.renew(shown.identifier, until, actor, reason=reason)
    except ProblemError as error:
        if error.problem.status >= 500:
            raise
        return _form(
            request, viewer, licences, shown, action, status=422, errors={"form": "refused"}
        )
    store.take_pending(viewer.cookie, PENDING_KIND, pending_id)
    return RedirectResponse(
        f"{PREFIX}/admin/licences/{new.identifier}?done={action}", status_code=303
    )
