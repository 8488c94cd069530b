"""Platform administration, part one: the overview and the clients of every channel
(register one, rotate its secret, disable or enable it).

Only the people ``GOVTRUST_PLATFORM_ADMINS`` names, logged in at two factors
(:mod:`console.platform`). A client's secret is shown once, on the page that answers the
registration or the rotation (never stored in clear, never in a URL, ``no-store``). Every
change goes through :mod:`idp.admin.clients` (audited with the administrator as actor);
disabling, enabling and rotating ask for a reason and a confirmation first, and the reason
is recorded beside the change (:func:`console.platform_data.note_reason`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from certs.lifecycle import InvalidTransitionInput, check_reason
from console.client import CLIENT_ID, PREFIX
from console.deps import FormViewer, PlatformAdminViewer, ServicesDep, Viewer
from console.deps import platform_admin_viewer as require_platform_admin
from console.pages import render
from console.paging import MAX_PAGE, PAGE_SIZE, Page
from console.platform_data import clients_page, note_reason
from console.text import Line, Lines
from idp.admin import clients as client_admin
from idp.admin.errors import Conflict, InvalidRequest
from idp.clients.channels import Channel
from idp.clients.models import Client

router = APIRouter(prefix="/platform", include_in_schema=False)

ClientId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]
ClientAction = Literal["rotate-secret", "disable", "enable"]
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
Done = Annotated[str | None, Query(max_length=16, pattern=r"^[a-z-]+$")]


@router.get("")
def overview(request: Request, viewer: PlatformAdminViewer, services: ServicesDep) -> Response:
    with services.sessions() as session:
        checkpoint = services.audit.store.latest_checkpoint(session)
        size = services.audit.store.size(session)
    return render(
        request,
        "platform_home.html",
        viewer=viewer,
        checkpoint=checkpoint,
        size=size,
        verification=None,
    )


@router.get("/clients")
def clients(
    request: Request,
    viewer: PlatformAdminViewer,
    services: ServicesDep,
    channel: Annotated[Channel | None, Query()] = None,
    page: PageNumber = 1,
    done: Done = None,
) -> Response:
    found, total = clients_page(
        services, channel.value if channel else None, PAGE_SIZE, (page - 1) * PAGE_SIZE
    )
    shown: Page[Client] = Page(found, page, max(1, -(-total // PAGE_SIZE)), total)
    return render(
        request,
        "platform_clients.html",
        viewer=viewer,
        page=shown,
        channel=channel.value if channel else "",
        channels=[c.value for c in Channel],
        params={"channel": channel.value} if channel else {},
        done=done,
    )


@router.get("/clients/new")
def new_client_form(request: Request, viewer: PlatformAdminViewer) -> Response:
    return render(
        request,
        "platform_client_new.html",
        viewer=viewer,
        channels=[c.value for c in Channel],
        methods=AUTH_METHODS,
        form={},
    )


@router.post("/clients/new")
def register_client(
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    name: Annotated[Line, Form(min_length=1, max_length=200)],
    channel: Annotated[Channel, Form()],
    scope: Annotated[Line, Form(min_length=1, max_length=1000)],
    redirect_uris: Annotated[Lines, Form(max_length=20_000)] = "",
    token_endpoint_auth_method: Annotated[str, Form(max_length=32)] = AUTH_METHODS[0],
) -> Response:
    require_platform_admin(request, viewer)
    method = token_endpoint_auth_method if token_endpoint_auth_method in AUTH_METHODS else None
    uris = [line.strip() for line in redirect_uris.splitlines() if line.strip()][:20]
    form = {"name": name, "channel": channel.value, "scope": scope, "redirect_uris": redirect_uris}
    try:
        client, secret = client_admin.register_client(
            services.idp,
            actor=viewer.actor,
            name=name.strip(),
            channel=channel,
            redirect_uris=uris,
            scope=" ".join(scope.split()),
            token_endpoint_auth_method=method,
            subject_type="public",
        )
    except InvalidRequest as invalid:
        return render(
            request,
            "platform_client_new.html",
            status=422,
            viewer=viewer,
            channels=[c.value for c in Channel],
            methods=AUTH_METHODS,
            form=form,
            error=invalid.problem.detail or invalid.problem.title,
        )
    return render(request, "platform_secret.html", viewer=viewer, client=client, secret=secret)


@router.get("/clients/{client_id}")
def client_page(
    client_id: ClientId,
    request: Request,
    viewer: PlatformAdminViewer,
    services: ServicesDep,
    done: Done = None,
) -> Response:
    client = client_admin.get_client(services.idp, client_id)
    return render(request, "platform_client.html", viewer=viewer, client=client, done=done)


def _allowed(client: Client, action: str) -> bool:
    if client.client_id == CLIENT_ID:
        return False  # the console's own registration follows the deployment
    if action == "rotate-secret":
        return client.secret_hash is not None
    return (client.status == "active") == (action == "disable")


@router.get("/clients/{client_id}/{action}")
def client_action_form(
    client_id: ClientId,
    action: ClientAction,
    request: Request,
    viewer: PlatformAdminViewer,
    services: ServicesDep,
) -> Response:
    client = client_admin.get_client(services.idp, client_id)
    return _reason_page(request, viewer, client, action, 200 if _allowed(client, action) else 409)


def _reason_page(
    request: Request, viewer: Viewer, client: Client, action: str, status: int, **extra: Any
) -> Response:
    return render(
        request,
        "platform_reason.html",
        status=status,
        viewer=viewer,
        action=action,
        target=f"{PREFIX}/platform/clients/{client.client_id}/{action}",
        back=f"{PREFIX}/platform/clients/{client.client_id}",
        subject=f"{client.name} ({client.client_id})",
        not_allowed=status == 409,
        **extra,
    )


@router.post("/clients/{client_id}/{action}")
def client_action(
    client_id: ClientId,
    action: ClientAction,
    request: Request,
    viewer: FormViewer,
    services: ServicesDep,
    reason: Annotated[Lines, Form(max_length=400)] = "",
    step: Annotated[Literal["review", "confirm"], Form()] = "review",
) -> Response:
    require_platform_admin(request, viewer)
    client = client_admin.get_client(services.idp, client_id)
    if not _allowed(client, action):
        return _reason_page(request, viewer, client, action, 409)
    try:
        text = check_reason(reason)
    except InvalidTransitionInput:
        return _reason_page(request, viewer, client, action, 422, invalid=True)
    if step == "review":
        after = {"rotate-secret": "new_secret", "disable": "disabled", "enable": "active"}[action]
        return render(
            request,
            "platform_confirm.html",
            viewer=viewer,
            action=action,
            target=f"{PREFIX}/platform/clients/{client.client_id}/{action}",
            back=f"{PREFIX}/platform/clients/{client.client_id}",
            subject=f"{client.name} ({client.client_id})",
            before=f"status.{client.status}" if action != "rotate-secret" else "old_secret",
            after=f"status.{after}" if action != "rotate-secret" else after,
            reason=text,
        )
    note_reason(services, viewer.actor, f"client.{action}", "client", client.client_id, text)
    if action == "rotate-secret":
        try:
            secret = client_admin.rotate_secret(services.idp, client.client_id, actor=viewer.actor)
        except Conflict:
            return _reason_page(request, viewer, client, action, 409)
        return render(request, "platform_secret.html", viewer=viewer, client=client, secret=secret)
    status = "disabled" if action == "disable" else "active"
    client_admin.set_client_status(services.idp, client.client_id, status, actor=viewer.actor)
    return RedirectResponse(
        f"{PREFIX}/platform/clients/{client.client_id}?done={action}", status_code=303
    )
