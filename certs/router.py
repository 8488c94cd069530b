"""Electronic licences over HTTP: types (public), the administrators' API of an issuing
authority, the holder's own licences, and what a scanned paper print means (public).

Who may do what is :mod:`certs.access`: an administrator needs a person's token with
``licence:admin`` and a representation of the issuing authority allowing it; a holder a
person's token with ``account`` (a third party's ``openid`` token reads nothing as holder:
it reads what was consented to at ``/shared-licences``). A licence the caller may not see
answers 404 exactly like one that does not exist. Responses never carry a clear resident ID
number: the holder code is masked (type ``111``) and anything shaped like an ID number in the
fields is masked too. Holder codes are sent in request bodies only, never in a URL. Errors
are RFC 9457 problems.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from certs import access
from certs.access import Caller
from certs.identifiers import parse_licence_identifier
from certs.lifecycle import china_date, effective_state
from certs.metadata import licence_metadata, mask_name
from certs.models import Licence, LicenceHistoryEntry, PrintVerdict
from certs.service import LicenceService
from certs.types import LicenceType
from core.audit.entry import AuditEvent
from core.db.engine import transaction
from core.deps import ServicesDep
from core.errors.problem import ProblemError
from core.identifiers.resident_id import redact_resident_ids
from idp.routers.bearer import TokenContext, no_store, require_scopes

ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "No valid Bearer token (RFC 6750 §3.1 invalid_token)"},
    403: {"description": "The token lacks the scope (RFC 6750 §3.1 insufficient_scope)"},
}
NOT_FOUND: dict[int | str, dict[str, str]] = {
    404: {"description": "No such licence, or not one the caller may see"}
}

router = APIRouter(tags=["licences"], dependencies=[Depends(no_store)])

AdminToken = Annotated[
    TokenContext, Depends(require_scopes(access.LICENCE_ADMIN_SCOPE, person=True))
]
PersonToken = Annotated[TokenContext, Depends(require_scopes(person=True))]
HolderToken = Annotated[
    TokenContext, Depends(require_scopes(access.HOLDER_TOKEN_SCOPE, person=True))
]
Identifier = Annotated[
    str,
    Path(
        min_length=20,
        max_length=128,
        description="A licence version's identifier (GB/T 36904)",
        examples=["1.2.156.3005.2.11100000MB0143028R001.11350100MB00000012.0000001.001.P"],
    ),
]
TypeCode = Annotated[
    str, Path(pattern=r"^[0-9A-Z]{18}[0-9]{3}$", description="A licence type code (21 chars)")
]
PrintSerial = Annotated[
    str, Path(pattern=r"^[0-9A-F]{16}$", description="The print serial on the paper licence")
]
Reason = Annotated[str, Field(min_length=1, max_length=200)]


def licence_service(services: ServicesDep) -> LicenceService:
    return LicenceService(
        services.sessions, services.identifiers, services.audit, services.keys.clock
    )


Licences = Annotated[LicenceService, Depends(licence_service)]


def _person(token: TokenContext) -> str:
    assert token.person_id is not None  # require_scopes(person=True)
    return token.person_id


def _caller(licences: LicenceService, token: TokenContext, *, admin: bool, holder: bool) -> Caller:
    found = access.caller_for(
        licences,
        _person(token),
        admin=admin and access.LICENCE_ADMIN_SCOPE in token.scopes,
        holder=holder and access.HOLDER_TOKEN_SCOPE in token.scopes,
    )
    if found is None:  # the token check found the person active a moment ago
        raise ProblemError(401, "person-not-found", "The person behind the token is gone")
    return found


def _admin(licences: LicenceService, token: TokenContext) -> Caller:
    return _caller(licences, token, admin=True, holder=False)


def holder_caller(licences: LicenceService, token: TokenContext) -> Caller:
    """The person behind a holder (``account``) token, as a reader of their licences."""
    return _caller(licences, token, admin=False, holder=True)


def admin_caller(licences: LicenceService, token: TokenContext) -> Caller:
    """The person behind a ``licence:admin`` token, as an administrator."""
    return _admin(licences, token)


def _reader(licences: LicenceService, token: TokenContext) -> Caller:
    return _caller(licences, token, admin=True, holder=True)


def _identifier(text: str) -> str:
    """A well-formed identifier (422 otherwise, before anything is looked up)."""
    parse_licence_identifier(text)
    return text


# -- representations -----------------------------------------------------------------------


def _redacted(value: Any) -> Any:
    """``value`` with every substring shaped like a resident ID number masked."""
    if isinstance(value, str):
        return redact_resident_ids(value)
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    return value


class LicenceTypeOut(BaseModel):
    code: str = Field(description="GB/T 36904 type code: defining authority's USCC + 3 digits")
    name: str
    defining_authority_name: str
    defining_authority_uscc: str
    issuing_level: str
    holder_kind: str
    holder_code_type: str = Field(description="111 resident ID number, 001 USCC")
    validity_years: int | None = Field(description="None: long-term (长期)")
    layout: str
    fields_schema: dict[str, Any] = Field(description="JSON Schema (Draft 2020-12) of fields")

    @classmethod
    def of(cls, licence_type: LicenceType) -> LicenceTypeOut:
        return cls(
            code=licence_type.code,
            name=licence_type.name,
            defining_authority_name=licence_type.defining_authority_name,
            defining_authority_uscc=licence_type.defining_authority_uscc,
            issuing_level=licence_type.issuing_level,
            holder_kind=licence_type.holder_kind,
            holder_code_type=licence_type.holder_code_type,
            validity_years=licence_type.validity_years,
            layout=licence_type.layout,
            fields_schema=licence_type.fields_schema,
        )


class LicenceOut(BaseModel):
    """One version of a licence; ``metadata`` is GB/T 36903 (电子证照元数据)."""

    identifier: str
    licence_number: str
    type_code: str
    type_name: str
    version: int
    state: str = Field(description="valid, suspended, revoked, superseded or expired")
    state_reason: str
    state_changed_at: datetime
    issuer_uscc: str
    issuer_name: str
    holder_name: str
    holder_code: str = Field(description="Masked for a resident ID number (111)")
    holder_code_type: str
    fields: dict[str, Any]
    issued_on: date
    valid_from: date
    valid_until: date | None = Field(description="The last valid day; None: long-term")
    supersedes: str | None
    superseded_by: str | None
    metadata: dict[str, str]

    @classmethod
    def of(cls, licence: Licence, licence_type: LicenceType, now: datetime) -> LicenceOut:
        return cls(
            identifier=licence.identifier,
            licence_number=licence.licence_number,
            type_code=licence.type_code,
            type_name=licence_type.name,
            version=licence.version,
            state=effective_state(licence, now).value,
            state_reason=licence.state_reason,
            state_changed_at=licence.state_changed_at,
            issuer_uscc=licence.issuer_uscc,
            issuer_name=licence.issuer_name,
            holder_name=licence.holder_name,
            holder_code=licence.holder_code_masked,
            holder_code_type=licence.holder_code_type,
            fields=_redacted(licence.fields),
            issued_on=licence.issued_on,
            valid_from=licence.valid_from,
            valid_until=licence.valid_until,
            supersedes=licence.supersedes,
            superseded_by=licence.superseded_by,
            metadata=_redacted(licence_metadata(licence, licence_type)),
        )


def _out(licences: LicenceService, licence: Licence) -> LicenceOut:
    return LicenceOut.of(licence, licences.get_type(licence.type_code), licences.clock())


def _outs(licences: LicenceService, found: list[Licence]) -> list[LicenceOut]:
    types: dict[str, LicenceType] = {}
    now = licences.clock()
    result = []
    for licence in found:
        if licence.type_code not in types:
            types[licence.type_code] = licences.get_type(licence.type_code)
        result.append(LicenceOut.of(licence, types[licence.type_code], now))
    return result


class HistoryEntryOut(BaseModel):
    identifier: str
    event: str
    from_state: str | None
    to_state: str
    reason: str
    actor: str | None = Field(description="Shown to administrators of the issuer only")
    at: datetime

    @classmethod
    def of(cls, entry: LicenceHistoryEntry) -> HistoryEntryOut:
        return cls(
            identifier=entry.identifier,
            event=entry.event,
            from_state=None if entry.from_state is None else entry.from_state.value,
            to_state=entry.to_state.value,
            reason=entry.reason,
            actor=entry.actor or None,
            at=entry.at,
        )


# -- licence types (public) ------------------------------------------------------------------


@router.get("/licence-types", summary="Licence types (public)")
def list_types(licences: Licences) -> list[LicenceTypeOut]:
    return [LicenceTypeOut.of(t) for t in licences.list_types()]


@router.get(
    "/licence-types/{code}",
    summary="One licence type with the JSON Schema of its fields (public)",
    responses={404: {"description": "No such licence type"}},
)
def get_type(code: TypeCode, licences: Licences) -> LicenceTypeOut:
    return LicenceTypeOut.of(licences.get_type(code))


# -- administrators ------------------------------------------------------------------------


class HolderIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    code: str = Field(
        min_length=1, max_length=40, description="Resident ID number (111) or USCC (001)"
    )
    code_type: Literal["111", "001"]


class IssueIn(BaseModel):
    type_code: str = Field(pattern=r"^[0-9A-Z]{18}[0-9]{3}$")
    issuer_uscc: str | None = Field(
        default=None,
        max_length=18,
        description="The issuing authority; may be left out by an administrator of only one",
    )
    holder: HolderIn
    fields: dict[str, Any]
    valid_from: date | None = Field(default=None, description="Default: today (China)")
    reason: Reason = "issued"


class ReasonIn(BaseModel):
    reason: Reason


class ChangeIn(BaseModel):
    reason: Reason
    fields: dict[str, Any] = Field(description="The complete new set of fields")
    holder_name: str | None = Field(default=None, min_length=1, max_length=200)


class RenewIn(BaseModel):
    valid_until: date = Field(description="The new last valid day")
    reason: Reason = "renewed"


@router.post(
    "/licences",
    status_code=201,
    summary="Issue a licence (licence administrator of the issuing authority)",
    responses={**ERRORS, 404: {"description": "No such licence type"}},
)
def issue(body: IssueIn, token: AdminToken, licences: Licences) -> LicenceOut:
    caller = _admin(licences, token)
    authority = caller.authority(body.issuer_uscc)
    licence_type = licences.get_type(body.type_code)
    if body.holder.code_type != licence_type.holder_code_type:
        raise ProblemError(
            422,
            "holder-code-type-mismatch",
            "The holder code type does not fit the licence type",
            f"this licence type is held under code type {licence_type.holder_code_type}",
        )
    licence = licences.issue(
        body.type_code,
        authority.uscc,
        authority.name,
        body.holder.name,
        body.holder.code,
        body.fields,
        body.valid_from or china_date(licences.clock()),
        caller.subject,
        reason=body.reason,
    )
    return LicenceOut.of(licence, licence_type, licences.clock())


class SearchIn(BaseModel):
    licence_number: str | None = Field(default=None, min_length=1, max_length=64)
    holder_code: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        description="Resident ID number or USCC; in the body, never in a URL",
    )
    type_code: str | None = Field(default=None, pattern=r"^[0-9A-Z]{18}[0-9]{3}$")


@router.post(
    "/licences/search",
    summary="Find licences of the caller's issuing authorities by number or holder code",
    responses=ERRORS,
)
def search(body: SearchIn, token: AdminToken, licences: Licences) -> list[LicenceOut]:
    if (body.licence_number is None) == (body.holder_code is None):
        raise ProblemError(
            422, "search-criterion", "Give exactly one of licence_number and holder_code"
        )
    caller = _admin(licences, token)
    if body.holder_code is not None:
        criterion = "holder_code"
        found = access.search_by_holder(licences, caller, body.holder_code, body.type_code)
    else:
        criterion = "licence_number"
        assert body.licence_number is not None
        found = access.search_by_number(licences, caller, body.licence_number, body.type_code)
    with transaction(licences.sessions) as session:
        licences.audit.record(
            session,
            AuditEvent(
                actor=caller.subject,
                action="licence.searched",
                object_type="licence_search",
                object_id=caller.authorities[0].organisation_id,
                details={"criterion": criterion, "found": [x.identifier for x in found]},
            ),
        )
    return _outs(licences, found)


@router.post(
    "/licences/{identifier}/change",
    summary="Change a licence: a new version supersedes this one (变更)",
    responses={**ERRORS, **NOT_FOUND},
)
def change(
    identifier: Identifier, body: ChangeIn, token: AdminToken, licences: Licences
) -> LicenceOut:
    caller = _admin(licences, token)
    access.administered_licence(licences, caller, _identifier(identifier))
    changed = licences.change(
        identifier, body.fields, body.reason, caller.subject, holder_name=body.holder_name
    )
    return _out(licences, changed)


def _step(
    identifier: str, token: TokenContext, licences: LicenceService, event: str, reason: str
) -> LicenceOut:
    caller = _admin(licences, token)
    access.administered_licence(licences, caller, _identifier(identifier))
    steps = {
        "suspend": licences.suspend,
        "resume": licences.resume,
        "revoke": licences.revoke,
        "reissue": licences.reissue,
    }
    return _out(licences, steps[event](identifier, reason, caller.subject))


@router.post(
    "/licences/{identifier}/suspend",
    summary="Suspend a licence (暂扣)",
    responses={**ERRORS, **NOT_FOUND},
)
def suspend(
    identifier: Identifier, body: ReasonIn, token: AdminToken, licences: Licences
) -> LicenceOut:
    return _step(identifier, token, licences, "suspend", body.reason)


@router.post(
    "/licences/{identifier}/resume",
    summary="Resume a suspended licence",
    responses={**ERRORS, **NOT_FOUND},
)
def resume(
    identifier: Identifier, body: ReasonIn, token: AdminToken, licences: Licences
) -> LicenceOut:
    return _step(identifier, token, licences, "resume", body.reason)


@router.post(
    "/licences/{identifier}/revoke",
    summary="Revoke a licence (注销, final)",
    responses={**ERRORS, **NOT_FOUND},
)
def revoke(
    identifier: Identifier, body: ReasonIn, token: AdminToken, licences: Licences
) -> LicenceOut:
    return _step(identifier, token, licences, "revoke", body.reason)


@router.post(
    "/licences/{identifier}/reissue",
    summary="Reissue after loss (补发): a new version supersedes this one",
    responses={**ERRORS, **NOT_FOUND},
)
def reissue(
    identifier: Identifier, body: ReasonIn, token: AdminToken, licences: Licences
) -> LicenceOut:
    return _step(identifier, token, licences, "reissue", body.reason)


@router.post(
    "/licences/{identifier}/renew",
    summary="Renew a licence (延续): a new version valid until the day given",
    responses={**ERRORS, **NOT_FOUND},
)
def renew(
    identifier: Identifier, body: RenewIn, token: AdminToken, licences: Licences
) -> LicenceOut:
    caller = _admin(licences, token)
    access.administered_licence(licences, caller, _identifier(identifier))
    renewed = licences.renew(identifier, body.valid_until, caller.subject, reason=body.reason)
    return _out(licences, renewed)


# -- reading (administrator of the issuer, or holder) -------------------------------------------


@router.get(
    "/licences/{identifier}",
    summary="One licence version (administrator of the issuer, or holder)",
    responses={**ERRORS, **NOT_FOUND},
)
def get_licence(identifier: Identifier, token: PersonToken, licences: Licences) -> LicenceOut:
    caller = _reader(licences, token)
    return _out(licences, access.readable_licence(licences, caller, _identifier(identifier)))


@router.get(
    "/licences/{identifier}/versions",
    summary="Every version of the licence, oldest first",
    responses={**ERRORS, **NOT_FOUND},
)
def versions(identifier: Identifier, token: PersonToken, licences: Licences) -> list[LicenceOut]:
    caller = _reader(licences, token)
    access.readable_licence(licences, caller, _identifier(identifier))
    return _outs(licences, licences.versions(identifier))


@router.get(
    "/licences/{identifier}/history",
    summary="Every state transition of every version of the licence",
    responses={**ERRORS, **NOT_FOUND},
)
def history(
    identifier: Identifier, token: PersonToken, licences: Licences
) -> list[HistoryEntryOut]:
    caller = _reader(licences, token)
    entries = access.history_of(licences, caller, _identifier(identifier))
    return [HistoryEntryOut.of(entry) for entry in entries]


@router.get(
    "/me/licences",
    summary="The caller's current licences: their own and their organisations' (licence:read)",
    responses=ERRORS,
)
def my_licences(token: HolderToken, licences: Licences) -> list[LicenceOut]:
    return _outs(licences, access.holder_licences(licences, holder_caller(licences, token)))


# -- paper prints ------------------------------------------------------------------------------


class PrintOut(BaseModel):
    print_serial: str
    identifier: str
    version: int
    printed_at: datetime
    status_path: str = Field(description="Where a scanner of the printed QR checks it")


@router.post(
    "/licences/{identifier}/prints",
    status_code=201,
    summary="Record one printing of the paper licence (its serial goes into the QR)",
    responses={**ERRORS, **NOT_FOUND, 409: {"description": "The version cannot be printed"}},
)
def record_print(identifier: Identifier, token: AdminToken, licences: Licences) -> PrintOut:
    caller = _admin(licences, token)
    licence = access.administered_licence(licences, caller, _identifier(identifier))
    serial = licences.record_print(identifier, caller.subject)
    return PrintOut(
        print_serial=serial,
        identifier=identifier,
        version=licence.version,
        printed_at=licences.clock(),
        status_path=f"/licence-prints/{serial}/status",
    )


class PrintReportOut(BaseModel):
    print_serial: str
    identifier: str
    version: int
    status: str
    reported_at: datetime | None


@router.post(
    "/licence-prints/{serial}/lost",
    summary="Report a paper print lost: it never verifies as valid again",
    responses={**ERRORS, 404: {"description": "No such print, or not one the caller may see"}},
)
def report_lost(serial: PrintSerial, token: AdminToken, licences: Licences) -> PrintReportOut:
    caller = _admin(licences, token)
    access.administered_print(licences, caller, serial)
    reported = licences.report_print_lost(serial, caller.subject)
    return PrintReportOut(
        print_serial=reported.print_serial,
        identifier=reported.identifier,
        version=reported.version,
        status=reported.status,
        reported_at=reported.reported_at,
    )


class PrintStatusOut(BaseModel):
    """What a scanned paper licence means now, with the minimum of data."""

    print_serial: str
    verdict: PrintVerdict
    valid: bool
    message: str = Field(description='e.g. "valid", "superseded by version 3"')
    version: int = Field(description="The version the paper shows")
    current_version: int
    licence_type: str
    issuer_name: str
    holder_name: str = Field(description="Masked")
    checked_at: datetime


@router.get(
    "/licence-prints/{serial}/status",
    summary="What a scanned paper print means now (public)",
    responses={404: {"description": "No such print"}},
)
def print_status(serial: PrintSerial, licences: Licences) -> PrintStatusOut:
    status = licences.print_status(serial)
    printed = licences.get(status.identifier)
    return PrintStatusOut(
        print_serial=status.print_serial,
        verdict=status.verdict,
        valid=status.is_valid,
        message=status.message,
        version=status.version,
        current_version=status.current_version,
        licence_type=licences.get_type(printed.type_code).name,
        issuer_name=printed.issuer_name,
        holder_name=mask_name(printed.holder_name),
        checked_at=licences.clock(),
    )
