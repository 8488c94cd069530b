"""Issuing a licence from the console: choose a type, fill in a form made from the type's
JSON Schema (:mod:`console.licence_form`), check it on a confirmation screen, issue.

The holder code (a resident ID number for a person's licence) is POSTed in the form only.
Between the form and the confirmation it is kept with the console session, sealed with the
session's key (:meth:`console.session.SessionStore.save_pending`), under a random id: the
confirmation page shows it masked and carries only that id, and a bad form is shown again
without it. Issuing is :meth:`certs.service.LicenceService.issue` for an authority the
person administers (:mod:`certs.access`), as ``POST /licences`` does; it writes the history
row and the ``licence.issued`` audit entry.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from certs.access import Authority
from certs.lifecycle import InvalidTransitionInput, check_reason, china_date
from certs.router import licence_service
from certs.service import LicenceService
from certs.types import LicenceType
from console.client import PREFIX
from console.deps import FormViewer, LicenceAdminViewer, ServicesDep, Viewer, licence_admin_viewer
from console.licence_form import ParsedFields, form_fields, parse_fields
from console.licence_view import field_text
from console.pages import render
from console.routers.licence_admin import administrator
from console.session import SessionStore
from console.text import check_text
from core.errors.problem import ProblemError
from core.identifiers.errors import InvalidIdentifier
from core.identifiers.resident_id import parse_resident_id
from core.identifiers.uscc import parse_uscc

router = APIRouter(prefix="/admin/licence-types", include_in_schema=False)

TypeCode = Annotated[str, Path(pattern=r"^[0-9A-Z]{18}[0-9]{3}$")]
PENDING_KIND = "issue"
DEFAULT_REASON = "issued"


async def posted_form(request: Request) -> dict[str, str]:
    """The POSTed form's text inputs (the ``field.<name>`` inputs are named by the type),
    none with a control character in it (:func:`console.text.check_text`)."""
    form = await request.form()
    return check_text({key: value for key, value in form.items() if isinstance(value, str)})


PostedForm = Annotated[dict[str, str], Depends(posted_form)]


@dataclass(frozen=True)
class PendingIssue:
    """An issue awaiting confirmation (kept sealed with the console session)."""

    type_code: str
    issuer_uscc: str
    holder_name: str
    holder_code: str
    fields: dict[str, Any]
    valid_from: str
    reason: str


def masked_code(code_type: str, text: str) -> str:
    """A valid holder code as it may be shown: a resident ID number masked, a USCC as is."""
    compact = "".join(text.split())
    if code_type == "111":
        return parse_resident_id(compact).masked()
    return parse_uscc(compact).value


def _authority(viewer: Viewer, uscc: str) -> Authority | None:
    chosen = [a for a in viewer.roles.licence_authorities if a.uscc == uscc]
    if chosen:
        return chosen[0]
    only = viewer.roles.licence_authorities
    return only[0] if len(only) == 1 and not uscc else None


def _form(
    request: Request,
    viewer: Viewer,
    licence_type: LicenceType,
    *,
    status: int = 200,
    shown: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    expired: bool = False,
    today: date | None = None,
) -> Response:
    return render(
        request,
        "admin_issue.html",
        status=status,
        viewer=viewer,
        licence_type=licence_type,
        fields=form_fields(licence_type),
        shown=shown or {},
        errors=errors or {},
        values=values or {"valid_from": "" if today is None else today.isoformat()},
        expired=expired,
    )


@router.get("/{code}/issue")
def issue_form(
    code: TypeCode, request: Request, viewer: LicenceAdminViewer, services: ServicesDep
) -> Response:
    licences = licence_service(services)
    licence_type = licences.get_type(code)
    return _form(request, viewer, licence_type, today=china_date(licences.clock()))


def _checked(
    licences: LicenceService, licence_type: LicenceType, form: dict[str, str], viewer: Viewer
) -> tuple[PendingIssue | None, ParsedFields, dict[str, str]]:
    """The pending issue if the form is complete and valid; the parsed fields; the errors of
    the other inputs (``holder_name``, ``holder_code``, ``valid_from``, ``reason``, ...)."""
    parsed = parse_fields(licence_type, form)
    errors: dict[str, str] = {}
    authority = _authority(viewer, form.get("issuer_uscc", ""))
    if authority is None:
        errors["issuer_uscc"] = "required"
    holder_name = form.get("holder_name", "").strip()
    if not holder_name or len(holder_name) > 200:
        errors["holder_name"] = "invalid"
    holder_code = "".join(form.get("holder_code", "").split()).upper()
    try:
        masked_code(licence_type.holder_code_type, holder_code[:40])
    except InvalidIdentifier:
        errors["holder_code"] = "invalid"
    try:
        valid_from = date.fromisoformat(form.get("valid_from", "").strip())
        valid_until = licence_type.valid_until(valid_from)
        if valid_until is not None and valid_until < china_date(licences.clock()):
            errors["valid_from"] = "expired"
    except (ValueError, OverflowError):
        errors["valid_from"] = "invalid"
    reason = form.get("reason", "").strip()
    try:
        reason = check_reason(reason) if reason else DEFAULT_REASON
    except InvalidTransitionInput:
        errors["reason"] = "invalid"
    if errors or parsed.errors or authority is None:
        return None, parsed, errors
    return (
        PendingIssue(
            type_code=licence_type.code,
            issuer_uscc=authority.uscc,
            holder_name=holder_name,
            holder_code=holder_code,
            fields=parsed.values,
            valid_from=valid_from.isoformat(),
            reason=reason,
        ),
        parsed,
        errors,
    )


def _load(services: ServicesDep, viewer: Viewer, pending_id: str) -> PendingIssue | None:
    data = SessionStore(services.cache).load_pending(viewer.cookie, PENDING_KIND, pending_id)
    if not isinstance(data, dict):
        return None
    try:
        return PendingIssue(**data)
    except TypeError:
        return None


@router.post("/{code}/issue")
def issue_submit(
    code: TypeCode,
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    form: PostedForm,
    step: Annotated[Literal["review", "confirm"], Form()] = "review",
    pending: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    licence_admin_viewer(viewer)
    licences = licence_service(services)
    licence_type = licences.get_type(code)
    caller = administrator(licences, viewer)
    store = SessionStore(services.cache)
    if step == "confirm":
        issue = _load(services, viewer, pending)
        if issue is None or issue.type_code != licence_type.code:
            return _form(request, viewer, licence_type, status=409, expired=True)
        authority = caller.authority(issue.issuer_uscc)  # checked again: rights may change
        if not store.take_pending(viewer.cookie, PENDING_KIND, pending):
            # confirmed twice at once (a double click): the other request issues it
            return _form(request, viewer, licence_type, status=409, expired=True)
        try:
            licence = licences.issue(
                issue.type_code,
                authority.uscc,
                authority.name,
                issue.holder_name,
                issue.holder_code,
                issue.fields,
                date.fromisoformat(issue.valid_from),
                caller.subject,
                reason=issue.reason,
            )
        except ProblemError as error:
            if error.problem.status >= 500:
                raise
            return _form(request, viewer, licence_type, status=422, errors={"form": "invalid"})
        return RedirectResponse(
            f"{PREFIX}/admin/licences/{licence.identifier}?done=issue", status_code=303
        )
    issue, parsed, errors = _checked(licences, licence_type, form, viewer)
    if issue is None:
        values = {k: form.get(k, "") for k in ("issuer_uscc", "holder_name", "valid_from")}
        values["reason"] = form.get("reason", "")
        return _form(
            request,
            viewer,
            licence_type,
            status=422,
            shown=parsed.shown,
            errors={**parsed.errors, **errors},
            values=values,  # never the holder code: it is typed again
        )
    pending_id = secrets.token_hex(16)
    store.save_pending(viewer.cookie, PENDING_KIND, pending_id, asdict(issue))
    authority = caller.authority(issue.issuer_uscc)
    valid_from = date.fromisoformat(issue.valid_from)
    return render(
        request,
        "admin_issue_confirm.html",
        viewer=viewer,
        licence_type=licence_type,
        rows=[
            (f.title, field_text(issue.fields[f.name]))
            for f in form_fields(licence_type)
            if f.name in issue.fields
        ],
        issue=issue,
        issuer_name=authority.name,
        holder_code=masked_code(licence_type.holder_code_type, issue.holder_code),
        valid_from=valid_from,
        valid_until=licence_type.valid_until(valid_from),
        pending=pending_id,
    )
