"""The self-service API (``/me``): a person's own profile, consents, sessions and agents.

A protected resource (RFC 6750): it needs a person's Bearer access token (RFC 9068, from
the code flow) with the ``account`` scope (:data:`idp.oauth.server.ACCOUNT_SCOPE`), which
only the service's own channel clients are registered with; any other token, a third
party's ``openid`` one included, answers 403 ``insufficient_scope`` (RFC 6750 §3.1). When
the person acts for an organisation the token's ``sub`` is the organisation and ``act.sub``
the person (RFC 8693 §4.1); either way this API is about the person behind the token. A
person only ever sees and changes their own objects: any other id answers 404 exactly like
one that does not exist. Errors are RFC 9457 problem documents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from core.audit.entry import AuditEvent
from core.db.engine import transaction
from core.errors.problem import ProblemError
from idp import second_factor
from idp.admin import agents as agent_admin
from idp.admin import consents as consent_admin
from idp.admin import sessions as session_admin
from idp.admin.agents import ActingOption, Agent
from idp.admin.consents import ConsentInfo
from idp.admin.errors import InvalidRequest, NotFound
from idp.oauth.server import ACCOUNT_SCOPE
from idp.oauth.sessions import LOA_TWO_FACTOR, loa_at_least
from idp.passkeys import service as passkeys
from idp.passkeys.webauthn import WebAuthnError, b64url_decode
from idp.routers.admin import ERRORS, NOT_FOUND, SessionListOut, SessionOut
from idp.routers.bearer import TokenContext, no_store, require_scopes
from idp.routers.interaction_forms import ProviderDep

router = APIRouter(
    prefix="/me", tags=["self-service"], dependencies=[Depends(no_store)], responses=ERRORS
)

Me = Annotated[TokenContext, Depends(require_scopes(ACCOUNT_SCOPE, person=True))]
OpaqueId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _person_id(me: TokenContext) -> str:
    assert me.person_id is not None  # require_scopes(person=True) guarantees it
    return me.person_id


def _actor(me: TokenContext) -> str:
    """The person as the token names them (the actor when acting for an organisation)."""
    return me.act_sub or me.sub


class ProfileOut(BaseModel):
    subject: str = Field(description="The person's subject as this client knows it")
    name: str
    id_number_masked: str
    phone_masked: str | None
    acting_for: str | None = Field(description="The organisation's subject, when acting for one")


@router.get("", summary="The person's profile")
def profile(me: Me, provider: ProviderDep) -> ProfileOut:
    with provider.ctx.sessions() as session:
        person = provider.identities.person_by_id(session, _person_id(me))
    if person is None:
        raise NotFound("person")
    return ProfileOut(
        subject=_actor(me),
        name=person.name,
        id_number_masked=person.id_number_masked,
        phone_masked=person.phone_masked,
        acting_for=me.sub if me.act_sub else None,
    )


class ConsentOut(BaseModel):
    id: str
    client_id: str
    client_name: str
    organisation_id: str | None
    organisation_name: str | None
    scope: str
    granted_at: datetime
    withdrawn_at: datetime | None
    purpose: str | None = Field(default=None, description="The purpose the client stated")

    @classmethod
    def of(cls, info: ConsentInfo) -> ConsentOut:
        return cls(
            id=info.id,
            client_id=info.client_id,
            client_name=info.client_name,
            organisation_id=info.organisation_id,
            organisation_name=info.organisation_name,
            scope=info.scope,
            granted_at=info.granted_at,
            withdrawn_at=info.withdrawn_at,
            purpose=info.purpose,
        )


class ConsentListOut(BaseModel):
    consents: list[ConsentOut]


@router.get("/consents", summary="The consents in force")
def consents(me: Me, provider: ProviderDep) -> ConsentListOut:
    found = consent_admin.consents_of_person(provider, _person_id(me))
    return ConsentListOut(consents=[ConsentOut.of(c) for c in found])


@router.post(
    "/consents/{consent_id}/withdraw",
    summary="Withdraw a consent; the client's grants are revoked at once",
    responses=NOT_FOUND,
)
def withdraw_consent(consent_id: OpaqueId, me: Me, provider: ProviderDep) -> ConsentOut:
    info = consent_admin.withdraw_consent(
        provider, consent_id, person_id=_person_id(me), actor=_actor(me)
    )
    return ConsentOut.of(info)


@router.get("/sessions", summary="The person's login sessions")
def sessions(me: Me, provider: ProviderDep) -> SessionListOut:
    found = session_admin.sessions_of_person(provider, _person_id(me))
    return SessionListOut(sessions=[SessionOut.of(s) for s in found])


@router.post(
    "/sessions/{public_id}/end",
    summary="Log a session out and revoke every grant made in it",
    responses=NOT_FOUND,
)
def end_session(public_id: OpaqueId, me: Me, provider: ProviderDep) -> SessionOut:
    info = session_admin.end_session(provider, public_id, actor=_actor(me), owner=_person_id(me))
    return SessionOut.of(info)


class AgentOut(BaseModel):
    representation_id: str
    organisation_id: str
    subject: str = Field(description="The agent's subject")
    scopes: list[str]
    valid_from: datetime
    valid_until: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, agent: Agent) -> AgentOut:
        held = agent.representation
        return cls(
            representation_id=held.id,
            organisation_id=held.organisation_id,
            subject=agent.subject,
            scopes=list(held.scopes),
            valid_from=held.valid_from,
            valid_until=held.valid_until,
            revoked_at=held.revoked_at,
        )


class OrganisationOptionOut(BaseModel):
    organisation_id: str
    name: str
    uscc: str
    role: str
    scopes: list[str]
    representation_id: str
    valid_until: datetime | None
    agents: list[AgentOut] = Field(description="The agents, for a legal representative")

    @classmethod
    def of(cls, option: ActingOption) -> OrganisationOptionOut:
        return cls(
            organisation_id=option.organisation.id,
            name=option.organisation.name,
            uscc=option.organisation.uscc,
            role=option.representation.role,
            scopes=list(option.representation.scopes),
            representation_id=option.representation.id,
            valid_until=option.representation.valid_until,
            agents=[AgentOut.of(a) for a in option.agents],
        )


class OrganisationListOut(BaseModel):
    organisations: list[OrganisationOptionOut]


class AgentIn(BaseModel):
    """Whom to authorise (their subject), for which scopes (RFC 6749 §3.3), until when."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=64)
    scopes: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=1, max_length=50
    )
    valid_until: AwareDatetime | None = None


@router.get("/organisations", summary="The organisations the person may act for")
def organisations(me: Me, provider: ProviderDep) -> OrganisationListOut:
    options = agent_admin.acting_options(provider, _person_id(me))
    return OrganisationListOut(organisations=[OrganisationOptionOut.of(o) for o in options])


@router.post(
    "/organisations/{organisation_id}/agents",
    status_code=201,
    summary="Authorise an agent (legal representative only)",
    responses={
        **NOT_FOUND,
        409: {"description": "The person is already a valid agent of the organisation"},
    },
)
def grant_agent(
    organisation_id: OpaqueId, body: AgentIn, me: Me, provider: ProviderDep
) -> AgentOut:
    agent = agent_admin.grant_agent(
        provider,
        organisation_id,
        person_id=_person_id(me),
        agent_subject=body.subject,
        scopes=body.scopes,
        valid_until=body.valid_until,
    )
    return AgentOut.of(agent)


@router.post(
    "/agents/{representation_id}/withdraw",
    summary="Withdraw an agent's authority (legal representative only)",
    responses=NOT_FOUND,
)
def withdraw_agent(representation_id: OpaqueId, me: Me, provider: ProviderDep) -> AgentOut:
    agent = agent_admin.withdraw_agent(provider, representation_id, person_id=_person_id(me))
    return AgentOut.of(agent)


class TotpEnrolmentOut(BaseModel):
    secret: str
    otpauth_uri: str
    expires_in: int


class TotpCodeIn(BaseModel):
    code: str = Field(min_length=6, max_length=8, pattern=r"^[0-9]+$")


@router.post("/totp", response_model=TotpEnrolmentOut, summary="Start TOTP enrolment")
def start_totp(me: Me, provider: ProviderDep, response: Response) -> TotpEnrolmentOut:
    """A new authenticator secret (RFC 6238), active once confirmed with a code."""
    no_store(response)
    secret, uri = second_factor.start_totp_enrolment(provider, _person_id(me), me.sub[:8])
    return TotpEnrolmentOut(
        secret=secret, otpauth_uri=uri, expires_in=second_factor.PENDING_TTL_SECONDS
    )


@router.post("/totp/confirm", status_code=204, summary="Confirm TOTP enrolment with a code")
def confirm_totp(body: TotpCodeIn, me: Me, provider: ProviderDep) -> Response:
    if not second_factor.confirm_totp_enrolment(provider, _person_id(me), body.code):
        raise ProblemError(422, "totp-not-confirmed", "The code does not match; start again")
    with transaction(provider.ctx.sessions) as session:
        provider.ctx.audit.record(
            session,
            AuditEvent(
                actor=_actor(me),
                action="account.totp_enrolled",
                object_type="person",
                object_id=_person_id(me),
            ),
        )
    return Response(status_code=204)


class PasskeyOut(BaseModel):
    id: str
    name: str
    aaguid: str = Field(description="The authenticator model (all zeros when not disclosed)")
    algorithm: int = Field(description="COSE algorithm: -7 ES256, -8 EdDSA, -257 RS256")
    transports: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, passkey: passkeys.Passkey) -> PasskeyOut:
        return cls(
            id=passkey.id,
            name=passkey.name,
            aaguid=passkey.aaguid,
            algorithm=passkey.algorithm,
            transports=list(passkey.transports),
            created_at=passkey.created_at,
            last_used_at=passkey.last_used_at,
            revoked_at=passkey.revoked_at,
        )


class PasskeyListOut(BaseModel):
    passkeys: list[PasskeyOut]


Base64Url = Annotated[str, Field(max_length=8192, pattern=r"^[A-Za-z0-9_-]*$")]


class AttestationResponseIn(BaseModel):
    """``AuthenticatorAttestationResponse`` (W3C WebAuthn Level 2 §5.2.1), base64url."""

    clientDataJSON: Base64Url  # WebAuthn's member names
    attestationObject: Base64Url
    transports: list[Annotated[str, Field(max_length=32)]] = Field(
        default_factory=list, max_length=10
    )


class PasskeyIn(BaseModel):
    """The new credential as ``navigator.credentials.create()`` returned it (base64url
    binary members, as ``PublicKeyCredential.toJSON()`` gives them), and a name for it."""

    id: Base64Url = Field(min_length=1)
    rawId: Base64Url | None = None
    type: Literal["public-key"] = "public-key"
    response: AttestationResponseIn
    name: str = Field(default="passkey", min_length=1, max_length=64)


def _two_factors(me: TokenContext) -> None:
    """A passkey reaches level 3: it is bound only from a session with two factors."""
    if not loa_at_least(me.acr or "", LOA_TWO_FACTOR):
        raise ProblemError(
            403,
            "step-up-required",
            "Log in with two factors first",
            "registering a passkey needs a token from a two-factor login",
            acr_values=LOA_TWO_FACTOR,
        )


@router.post("/passkeys/options", summary="Start registering a passkey (WebAuthn)")
def passkey_options(me: Me, provider: ProviderDep) -> dict[str, Any]:
    """``PublicKeyCredentialCreationOptions`` (W3C WebAuthn Level 2 §5.4) with binary
    members in base64url; its challenge is good for one registration within 5 minutes."""
    _two_factors(me)
    with provider.ctx.sessions() as session:
        person = provider.identities.person_by_id(session, _person_id(me))
    if person is None:
        raise NotFound("person")
    return passkeys.registration_options(provider, _person_id(me), person.name)


@router.post(
    "/passkeys",
    status_code=201,
    summary="Register a passkey with its attestation (WebAuthn §7.1)",
    responses={422: {"description": "The attestation was refused"}},
)
def register_passkey(body: PasskeyIn, me: Me, provider: ProviderDep) -> PasskeyOut:
    _two_factors(me)
    try:
        response = passkeys.AttestationResponse(
            credential_id=b64url_decode(body.rawId or body.id),
            client_data_json=b64url_decode(body.response.clientDataJSON),
            attestation_object=b64url_decode(body.response.attestationObject),
            transports=tuple(body.response.transports),
        )
    except WebAuthnError as error:
        raise InvalidRequest("the credential is not valid base64url") from error
    try:
        passkey = passkeys.register(provider, _person_id(me), _actor(me), body.name, response)
    except passkeys.PasskeyRefused as refused:
        raise ProblemError(
            422, "passkey-refused", "The passkey was refused", str(refused), reason=refused.reason
        ) from refused
    return PasskeyOut.of(passkey)


@router.get("/passkeys", summary="The person's passkeys")
def list_passkeys(me: Me, provider: ProviderDep) -> PasskeyListOut:
    found = passkeys.passkeys_of(provider, _person_id(me))
    return PasskeyListOut(passkeys=[PasskeyOut.of(p) for p in found])


@router.post("/passkeys/{passkey_id}/revoke", summary="Revoke a passkey", responses=NOT_FOUND)
def revoke_passkey(passkey_id: OpaqueId, me: Me, provider: ProviderDep) -> PasskeyOut:
    return PasskeyOut.of(passkeys.revoke(provider, _person_id(me), passkey_id, _actor(me)))
