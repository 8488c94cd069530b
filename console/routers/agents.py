"""A legal representative's agents (授权经办人): the agents of an organisation the person
represents as its legal representative (names, masked ID numbers, rights, validity),
granting rights to a person named by ID number, and withdrawing an agent with a reason;
each change after a confirmation screen.

Anyone else, and any agent of another organisation, gets "not found" (as in the
self-service API, :mod:`idp.routers.me`). The ID number is only ever POSTed, and each
look-up is audited and limited (:func:`console.agents.look_up_agent`): the confirmation
screen carries only the id of the grant awaiting confirmation, kept with the session and
used up by the confirmation, so that a form sent twice grants once. A person who is
already a valid agent of the organisation is not authorised again (a second authorisation
would outlive the withdrawal of the first). The grant and the withdrawal are audited by
:mod:`idp.admin.agents`; the reason for a withdrawal is recorded beside it
(``console.reason``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from certs.lifecycle import InvalidTransitionInput, check_reason
from console.agents import (
    AGENT_RIGHTS,
    PendingGrant,
    TooManyLookups,
    default_until,
    held_agent,
    holds_agent,
    look_up_agent,
    represented_organisation,
    save_pending_grant,
    take_pending_grant,
)
from console.agents import agents_of as agent_rows
from console.client import PREFIX
from console.deps import FormViewer, HolderViewer, ServicesDep, Viewer, holder_viewer
from console.pages import day_end, render
from console.paging import MAX_PAGE, paginate
from console.platform_data import note_reason
from console.text import Line, Lines
from core.services import Services
from idp.admin import agents as agent_admin
from idp.identities.errors import AgentExists
from idp.identities.models import Organisation

router = APIRouter(prefix="/organisations", include_in_schema=False)

OpaqueId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Done = Annotated[Literal["granted", "withdrawn"] | None, Query()]
Step = Annotated[Literal["review", "confirm"], Form()]


def _agents_page(
    request: Request,
    viewer: Viewer,
    services: Services,
    organisation: Organisation,
    page: int = 1,
    status: int = 200,
    **context: Any,
) -> Response:
    return render(
        request,
        "agents.html",
        status=status,
        viewer=viewer,
        organisation=organisation,
        page=paginate(agent_rows(services, organisation.id), page),
        rights=AGENT_RIGHTS,
        default_until=default_until(services.idp.ctx.clock()),
        **context,
    )


@router.get("/{organisation_id}/agents")
def agents(
    organisation_id: OpaqueId,
    request: Request,
    viewer: HolderViewer,
    services: ServicesDep,
    page: PageNumber = 1,
    done: Done = None,
) -> Response:
    organisation = represented_organisation(services, viewer.person_id, organisation_id)
    return _agents_page(request, viewer, services, organisation, page, done=done)


def _rights(scopes: list[str]) -> list[str]:
    """The rights chosen, in the offered order; none when any is not offered."""
    if any(s not in AGENT_RIGHTS for s in scopes):
        return []
    return [s for s in AGENT_RIGHTS if s in scopes]


@router.post("/{organisation_id}/agents")
def grant(
    organisation_id: OpaqueId,
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    valid_until: Annotated[date | None, Form()] = None,
    scopes: Annotated[list[str] | None, Form()] = None,
    id_number: Annotated[Line, Form(max_length=32)] = "",
    pending: Annotated[str, Form(max_length=64)] = "",
    step: Step = "review",
) -> Response:
    holder_viewer(viewer)
    organisation = represented_organisation(services, viewer.person_id, organisation_id)

    def refused(error: str, status: int = 422) -> Response:
        return _agents_page(
            request, viewer, services, organisation, status=status, grant_error=error
        )

    if step == "confirm":
        chosen = take_pending_grant(services, viewer.cookie, pending, organisation.id)
        if chosen is None:  # expired, or confirmed already (the other request grants it)
            return refused("expired", 409)
        try:
            agent_admin.grant_agent(
                services.idp,
                organisation.id,
                person_id=viewer.person_id,
                agent_subject=chosen.subject,
                scopes=chosen.scopes,
                valid_until=day_end(chosen.last_day),
            )
        except AgentExists:  # granted meanwhile (the service checks under the row's lock)
            return refused("held", 409)
        return RedirectResponse(
            f"{PREFIX}/organisations/{organisation.id}/agents?done=granted", status_code=303
        )
    rights = _rights(scopes or [])
    if not rights:
        return refused("rights")
    if valid_until is None or day_end(valid_until) <= services.idp.ctx.clock():
        return refused("until")
    try:
        person = look_up_agent(
            services, organisation.id, id_number, person_id=viewer.person_id, actor=viewer.actor
        )
    except TooManyLookups:
        return refused("lookups", 429)
    if person is None:
        return refused("person")
    if holds_agent(services, organisation.id, person.subject):
        return refused("held", 409)
    pending_id = save_pending_grant(
        services,
        viewer.cookie,
        PendingGrant(organisation.id, person.subject, rights, valid_until.isoformat()),
    )
    return render(
        request,
        "agent_grant_confirm.html",
        viewer=viewer,
        organisation=organisation,
        person=person,
        scopes=rights,
        valid_until=valid_until.isoformat(),
        pending=pending_id,
    )


def _reason_page(
    request: Request, status: int = 200, invalid: bool = False, **context: Any
) -> Response:
    return render(request, "agent_withdraw.html", status=status, invalid=invalid, **context)


@router.get("/{organisation_id}/agents/{representation_id}/withdraw")
def withdraw_form(
    organisation_id: OpaqueId,
    representation_id: OpaqueId,
    request: Request,
    viewer: HolderViewer,
    services: ServicesDep,
) -> Response:
    organisation = represented_organisation(services, viewer.person_id, organisation_id)
    agent = held_agent(services, organisation.id, representation_id)
    return _reason_page(request, viewer=viewer, organisation=organisation, agent=agent)


@router.post("/{organisation_id}/agents/{representation_id}/withdraw")
def withdraw(
    organisation_id: OpaqueId,
    representation_id: OpaqueId,
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    reason: Annotated[Lines, Form(max_length=400)] = "",
    step: Step = "review",
) -> Response:
    holder_viewer(viewer)
    organisation = represented_organisation(services, viewer.person_id, organisation_id)
    agent = held_agent(services, organisation.id, representation_id)
    context: dict[str, Any] = {"viewer": viewer, "organisation": organisation, "agent": agent}
    try:
        text = check_reason(reason)
    except InvalidTransitionInput:
        return _reason_page(request, 422, invalid=True, **context)
    if step == "review":
        return render(request, "agent_withdraw_confirm.html", reason=text, **context)
    note_reason(
        services, viewer.actor, "agent.revoked", "representation", agent.representation.id, text
    )
    agent_admin.withdraw_agent(services.idp, agent.representation.id, person_id=viewer.person_id)
    return RedirectResponse(
        f"{PREFIX}/organisations/{organisation.id}/agents?done=withdrawn", status_code=303
    )
