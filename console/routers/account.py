"""A person's own account: profile (ID number masked), login sessions and devices (end
any), consents (withdraw any), and the organisations they act for.

The same domain functions as the self-service API (``/me``, :mod:`idp.routers.me`), with the
same rule: a person sees and changes only their own objects, and any other id is "not found".
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from console.client import PREFIX
from console.deps import FormViewer, HolderViewer, ServicesDep, holder_viewer
from console.pages import render
from console.paging import MAX_PAGE, paginate
from idp.admin import agents as agent_admin
from idp.admin import consents as consent_admin
from idp.admin import sessions as session_admin
from idp.admin.errors import NotFound

router = APIRouter(include_in_schema=False)

OpaqueId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Done = Annotated[str | None, Query(max_length=32)]


@router.get("/profile")
def profile(request: Request, viewer: HolderViewer, services: ServicesDep) -> Response:
    with services.sessions() as session:
        person = services.idp.identities.person_by_id(session, viewer.person_id)
    if person is None:
        raise NotFound("person")
    return render(request, "profile.html", viewer=viewer, person=person)


@router.get("/sessions")
def sessions(
    request: Request,
    viewer: HolderViewer,
    services: ServicesDep,
    page: PageNumber = 1,
    done: Done = None,
) -> Response:
    found = session_admin.sessions_of_person(services.idp, viewer.person_id)
    found.sort(key=lambda s: (not s.active, -s.created_at.timestamp()))
    return render(
        request,
        "sessions.html",
        viewer=viewer,
        page=paginate(found, page),
        current=viewer.session.login_session_id,
        done=done == "ended",
    )


@router.post("/sessions/{public_id}/end")
def end_session(public_id: OpaqueId, viewer: FormViewer, services: ServicesDep) -> Response:
    holder_viewer(viewer)
    session_admin.end_session(services.idp, public_id, actor=viewer.actor, owner=viewer.person_id)
    return RedirectResponse(f"{PREFIX}/sessions?done=ended", status_code=303)


@router.get("/consents")
def consents(
    request: Request,
    viewer: HolderViewer,
    services: ServicesDep,
    page: PageNumber = 1,
    done: Done = None,
) -> Response:
    found = consent_admin.consents_of_person(services.idp, viewer.person_id)
    return render(
        request,
        "consents.html",
        viewer=viewer,
        page=paginate(found, page),
        done=done == "withdrawn",
    )


@router.post("/consents/{consent_id}/withdraw")
def withdraw_consent(consent_id: OpaqueId, viewer: FormViewer, services: ServicesDep) -> Response:
    holder_viewer(viewer)
    consent_admin.withdraw_consent(
        services.idp, consent_id, person_id=viewer.person_id, actor=viewer.actor
    )
    return RedirectResponse(f"{PREFIX}/consents?done=withdrawn", status_code=303)


@router.get("/organisations")
def organisations(
    request: Request, viewer: HolderViewer, services: ServicesDep, page: PageNumber = 1
) -> Response:
    options = agent_admin.acting_options(services.idp, viewer.person_id)
    return render(request, "organisations.html", viewer=viewer, page=paginate(options, page))
