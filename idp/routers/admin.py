"""The admin API: clients, identities and login sessions (``/admin``).

Protected resources in the sense of RFC 6750: each operation needs a Bearer access token
(RFC 9068) with its scope, ``admin:clients``, ``admin:identities`` or ``admin:sessions``,
typically a back-end client's token from client credentials (RFC 6749 §4.4). Errors are
RFC 9457 problem documents. Every operation, reads of personal data included, lands in the
audit trail with the token's ``sub`` as actor. ID numbers and phone numbers travel only in
request bodies, never in a URL, and are answered only masked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from idp.admin import clients as client_admin
from idp.admin import persons as person_admin
from idp.admin import sessions as session_admin
from idp.admin.audit import record_event
from idp.admin.persons import OrganisationDetails
from idp.admin.sessions import SessionInfo
from idp.clients.channels import Channel
from idp.clients.models import Client
from idp.identities.models import Person
from idp.routers.bearer import TokenContext, no_store, require_scopes
from idp.routers.interaction_forms import ProviderDep

ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "No valid Bearer token (RFC 6750 §3.1 invalid_token)"},
    403: {"description": "The token lacks the scope (RFC 6750 §3.1 insufficient_scope)"},
}

router = APIRouter(
    prefix="/admin", tags=["admin"], dependencies=[Depends(no_store)], responses=ERRORS
)

ClientsAdmin = Annotated[TokenContext, Depends(require_scopes("admin:clients"))]
IdentitiesAdmin = Annotated[TokenContext, Depends(require_scopes("admin:identities"))]
SessionsAdmin = Annotated[TokenContext, Depends(require_scopes("admin:sessions"))]

OpaqueId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
SCOPE_PATTERN = r"^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$"  # RFC 6749 §3.3
NOT_FOUND: dict[int | str, dict[str, str]] = {404: {"description": "No such object"}}


# -- clients -------------------------------------------------------------------------------


class ClientIn(BaseModel):
    """Client metadata (RFC 7591 §2 names)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    channel: Channel
    redirect_uris: list[Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=list, max_length=20
    )
    scope: str = Field(min_length=1, max_length=1000, pattern=SCOPE_PATTERN)
    token_endpoint_auth_method: (
        Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"] | None
    ) = None
    subject_type: Literal["public", "pairwise"] = "public"
    jwks: dict[str, Any] | None = Field(
        default=None, description="Public keys, for private_key_jwt (RFC 7591 §2, RFC 7523)"
    )
    require_pushed_authorization_requests: bool = Field(
        default=False, description="Authorization requests only through PAR (RFC 9126 §6)"
    )
    exchange_targets: list[Annotated[str, Field(max_length=200)]] | None = Field(
        default=None,
        max_length=50,
        description="Audiences this client may exchange tokens for (RFC 8693); "
        "absent: not restricted",
    )
    backchannel_token_delivery_mode: Literal["poll", "ping"] | None = Field(
        default=None, description="CIBA token delivery mode (CIBA Core §4)"
    )
    backchannel_client_notification_endpoint: str | None = Field(
        default=None, max_length=2000, description="CIBA ping mode callback (CIBA Core §4)"
    )


class ClientPolicyIn(BaseModel):
    """A change of a client's PAR requirement and token-exchange allow-list."""

    model_config = ConfigDict(extra="forbid")

    require_pushed_authorization_requests: bool | None = None
    exchange_targets: list[Annotated[str, Field(max_length=200)]] | None = Field(
        default=None, max_length=50
    )
    unrestricted_exchange: bool = Field(
        default=False, description="Remove the allow-list (any active client as audience)"
    )


class ClientOut(BaseModel):
    client_id: str
    name: str
    channel: Channel
    token_endpoint_auth_method: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    grant_types: list[str]
    scope: str
    subject_type: str
    status: str
    require_pushed_authorization_requests: bool = False
    exchange_targets: list[str] | None = None
    backchannel_token_delivery_mode: str | None = None
    backchannel_client_notification_endpoint: str | None = None

    @classmethod
    def of(cls, client: Client) -> ClientOut:
        return cls(
            client_id=client.client_id,
            name=client.name,
            channel=client.channel,
            token_endpoint_auth_method=client.token_endpoint_auth_method,
            redirect_uris=list(client.redirect_uris),
            post_logout_redirect_uris=list(client.post_logout_redirect_uris),
            grant_types=list(client.grant_types),
            scope=client.scope,
            subject_type=client.subject_type,
            status=client.status,
            require_pushed_authorization_requests=client.require_pushed_authorization_requests,
            exchange_targets=(
                None if client.exchange_targets is None else list(client.exchange_targets)
            ),
            backchannel_token_delivery_mode=client.backchannel_token_delivery_mode,
            backchannel_client_notification_endpoint=client.backchannel_client_notification_endpoint,
        )


class ClientRegistered(ClientOut):
    """The registered client with its secret (RFC 7591 §3.2.1), shown this once only."""

    client_secret: str | None


class ClientPageOut(BaseModel):
    clients: list[ClientOut]
    total: int
    limit: int
    offset: int


class ClientSecretOut(BaseModel):
    client_id: str
    client_secret: str


@router.post("/clients", status_code=201, summary="Register a client (RFC 7591 metadata)")
def register_client(body: ClientIn, admin: ClientsAdmin, provider: ProviderDep) -> ClientRegistered:
    client, secret = client_admin.register_client(
        provider,
        actor=admin.sub,
        name=body.name,
        channel=body.channel,
        redirect_uris=body.redirect_uris,
        scope=body.scope,
        token_endpoint_auth_method=body.token_endpoint_auth_method,
        subject_type=body.subject_type,
        jwks=body.jwks,
        require_pushed_authorization_requests=body.require_pushed_authorization_requests,
        exchange_targets=body.exchange_targets,
        backchannel_token_delivery_mode=body.backchannel_token_delivery_mode,
        backchannel_client_notification_endpoint=body.backchannel_client_notification_endpoint,
    )
    return ClientRegistered(**ClientOut.of(client).model_dump(), client_secret=secret)


@router.get("/clients", summary="List clients, a page at a time")
def list_clients(
    admin: ClientsAdmin,
    provider: ProviderDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ClientPageOut:
    page = client_admin.list_clients(provider, limit, offset)
    record_event(
        provider, admin.sub, "client.listed", "client", "*", {"limit": limit, "offset": offset}
    )
    return ClientPageOut(
        clients=[ClientOut.of(c) for c in page.clients],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/clients/{client_id}", summary="One client", responses=NOT_FOUND)
def get_client(client_id: OpaqueId, admin: ClientsAdmin, provider: ProviderDep) -> ClientOut:
    client = client_admin.get_client(provider, client_id)
    record_event(provider, admin.sub, "client.viewed", "client", client.client_id)
    return ClientOut.of(client)


@router.post(
    "/clients/{client_id}/secret",
    summary="Rotate a client's secret (the old one stops working)",
    responses={**NOT_FOUND, 409: {"description": "The client authenticates without a secret"}},
)
def rotate_secret(
    client_id: OpaqueId, admin: ClientsAdmin, provider: ProviderDep
) -> ClientSecretOut:
    secret = client_admin.rotate_secret(provider, client_id, actor=admin.sub)
    return ClientSecretOut(client_id=client_id, client_secret=secret)


@router.post(
    "/clients/{client_id}/policy",
    summary="Change a client's PAR requirement and token-exchange audiences",
    responses=NOT_FOUND,
)
def set_client_policy(
    client_id: OpaqueId, body: ClientPolicyIn, admin: ClientsAdmin, provider: ProviderDep
) -> ClientOut:
    return ClientOut.of(
        client_admin.set_client_policy(
            provider,
            client_id,
            require_pushed_authorization_requests=body.require_pushed_authorization_requests,
            exchange_targets=body.exchange_targets,
            clear_exchange_targets=body.unrestricted_exchange,
            actor=admin.sub,
        )
    )


@router.post("/clients/{client_id}/disable", summary="Disable a client", responses=NOT_FOUND)
def disable_client(client_id: OpaqueId, admin: ClientsAdmin, provider: ProviderDep) -> ClientOut:
    return ClientOut.of(
        client_admin.set_client_status(provider, client_id, "disabled", actor=admin.sub)
    )


@router.post("/clients/{client_id}/enable", summary="Enable a client again", responses=NOT_FOUND)
def enable_client(client_id: OpaqueId, admin: ClientsAdmin, provider: ProviderDep) -> ClientOut:
    return ClientOut.of(
        client_admin.set_client_status(provider, client_id, "active", actor=admin.sub)
    )


# -- persons and organisations -------------------------------------------------------------


class PersonIn(BaseModel):
    """A person to register: the resident ID number (GB 11643-1999) is sent here, in the
    body, and never answered in clear."""

    model_config = ConfigDict(extra="forbid")

    id_number: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, min_length=1, max_length=40)


class PersonSearchIn(BaseModel):
    """Exactly one of ``id_number`` and ``phone``: in the body, never in a URL."""

    model_config = ConfigDict(extra="forbid")

    id_number: str | None = Field(default=None, min_length=1, max_length=40)
    phone: str | None = Field(default=None, min_length=1, max_length=40)

    @model_validator(mode="after")
    def _exactly_one(self) -> PersonSearchIn:
        if (self.id_number is None) == (self.phone is None):
            raise ValueError("give exactly one of id_number and phone")
        return self


class PersonOut(BaseModel):
    id: str
    subject: str
    name: str
    id_number_masked: str
    phone_masked: str | None
    status: str
    created_at: datetime

    @classmethod
    def of(cls, person: Person) -> PersonOut:
        return cls(
            id=person.id,
            subject=person.subject,
            name=person.name,
            id_number_masked=person.id_number_masked,
            phone_masked=person.phone_masked,
            status=person.status,
            created_at=person.created_at,
        )


class PersonListOut(BaseModel):
    persons: list[PersonOut]


class OrganisationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uscc: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    legal_representative_person_id: str = Field(min_length=1, max_length=32)


class RepresentativeOut(BaseModel):
    id: str
    person_id: str
    subject: str
    role: str
    scopes: list[str]
    valid_from: datetime
    valid_until: datetime | None
    revoked_at: datetime | None
    granted_by: str | None


class OrganisationOut(BaseModel):
    id: str
    uscc: str
    name: str
    status: str
    created_at: datetime
    representatives: list[RepresentativeOut]

    @classmethod
    def of(cls, details: OrganisationDetails) -> OrganisationOut:
        organisation = details.organisation
        return cls(
            id=organisation.id,
            uscc=organisation.uscc,
            name=organisation.name,
            status=organisation.status,
            created_at=organisation.created_at,
            representatives=[
                RepresentativeOut(
                    id=r.representation.id,
                    person_id=r.representation.person_id,
                    subject=r.subject,
                    role=r.representation.role,
                    scopes=list(r.representation.scopes),
                    valid_from=r.representation.valid_from,
                    valid_until=r.representation.valid_until,
                    revoked_at=r.representation.revoked_at,
                    granted_by=r.representation.granted_by,
                )
                for r in details.representatives
            ],
        )


CONFLICT: dict[int | str, dict[str, str]] = {409: {"description": "Already registered"}}


@router.post("/persons", status_code=201, summary="Register a person", responses=CONFLICT)
def register_person(body: PersonIn, admin: IdentitiesAdmin, provider: ProviderDep) -> PersonOut:
    person = person_admin.register_person(
        provider, body.id_number, body.name, body.phone, actor=admin.sub
    )
    return PersonOut.of(person)


@router.post(
    "/persons/search",
    summary="Find a person by ID number or phone (in the body)",
    responses=NOT_FOUND,
)
def search_persons(
    body: PersonSearchIn, admin: IdentitiesAdmin, provider: ProviderDep
) -> PersonListOut:
    persons = person_admin.search_persons(
        provider, id_number=body.id_number, phone=body.phone, actor=admin.sub
    )
    return PersonListOut(persons=[PersonOut.of(p) for p in persons])


@router.get("/persons/{person_id}", summary="One person", responses=NOT_FOUND)
def get_person(person_id: OpaqueId, admin: IdentitiesAdmin, provider: ProviderDep) -> PersonOut:
    return PersonOut.of(person_admin.get_person(provider, person_id, actor=admin.sub))


@router.post(
    "/persons/{person_id}/unlock",
    status_code=204,
    summary="Lift a person's login lockout (NIST SP 800-63B §5.2.2)",
    responses=NOT_FOUND,
)
def unlock_person(person_id: OpaqueId, admin: IdentitiesAdmin, provider: ProviderDep) -> None:
    person_admin.unlock_person(provider, person_id, actor=admin.sub)


@router.post(
    "/organisations",
    status_code=201,
    summary="Register an organisation with its legal representative",
    responses={**NOT_FOUND, **CONFLICT},
)
def register_organisation(
    body: OrganisationIn, admin: IdentitiesAdmin, provider: ProviderDep
) -> OrganisationOut:
    details = person_admin.register_organisation(
        provider, body.uscc, body.name, body.legal_representative_person_id, actor=admin.sub
    )
    return OrganisationOut.of(details)


@router.get(
    "/organisations/{organisation_id}",
    summary="One organisation with its representatives",
    responses=NOT_FOUND,
)
def get_organisation(
    organisation_id: OpaqueId, admin: IdentitiesAdmin, provider: ProviderDep
) -> OrganisationOut:
    return OrganisationOut.of(
        person_admin.get_organisation(provider, organisation_id, actor=admin.sub)
    )


# -- login sessions ------------------------------------------------------------------------


class SessionOut(BaseModel):
    public_id: str
    auth_time: datetime
    acr: str
    amr: list[str]
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    active: bool
    user_agent: str

    @classmethod
    def of(cls, info: SessionInfo) -> SessionOut:
        return cls(
            public_id=info.public_id,
            auth_time=info.auth_time,
            acr=info.acr,
            amr=list(info.amr),
            created_at=info.created_at,
            expires_at=info.expires_at,
            ended_at=info.ended_at,
            active=info.active,
            user_agent=info.user_agent,
        )


class SessionListOut(BaseModel):
    sessions: list[SessionOut]


@router.get(
    "/persons/{person_id}/sessions", summary="A person's login sessions", responses=NOT_FOUND
)
def person_sessions(
    person_id: OpaqueId, admin: SessionsAdmin, provider: ProviderDep
) -> SessionListOut:
    found = session_admin.sessions_of_person(provider, person_id)
    record_event(provider, admin.sub, "session.listed", "person", person_id)
    return SessionListOut(sessions=[SessionOut.of(s) for s in found])


@router.post(
    "/sessions/{public_id}/end",
    summary="End a login session and revoke every grant made in it",
    responses=NOT_FOUND,
)
def end_session(public_id: OpaqueId, admin: SessionsAdmin, provider: ProviderDep) -> SessionOut:
    return SessionOut.of(session_admin.end_session(provider, public_id, actor=admin.sub))
