"""Consented sharing of licences over HTTP (授权用证; logic in :mod:`certs.sharing`).

* ``GET /shared-licences?type=<type code>``: a third party's access token (from the holder's
  consent to ``licence:read:<type code>`` with a stated purpose) reads the holder's current
  licences of that type. The holder is the token's: nothing in the URL names them.
* ``POST /shared-licences/query``: a department system's own token (client credentials)
  with ``licence:query:<type code>`` reads by holder code, sent in the body with the legal
  basis of the query.
* ``GET /me/licence-accesses``: the holder reads who read their licences, when, and why.
  Consents are listed and withdrawn at ``/me/consents`` (withdrawal revokes the grant and
  its tokens at once). Both need the holder's own ``account`` scope: the third party's
  token above holds ``openid``, never ``account``, and gets 403 there (RFC 6750 §3.1).

Every read is recorded (access log and audit trail) before the answer is sent. Errors are
RFC 9457 problems; a token without the scope gets 403 with the RFC 6750 challenge.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.exceptions import HTTPException
from pydantic import BaseModel, Field

from certs import access
from certs.router import ERRORS, HolderToken, LicenceOut, Licences
from certs.sharing import AccessRecord, Basis, LicenceSharing, SharedRead, query_scope, read_scope
from certs.types import LicenceType
from idp.oauth.purpose import MAX_PURPOSE_LENGTH
from idp.routers.bearer import BearerError, TokenContext, no_store, require_scopes

router = APIRouter(tags=["licence sharing"], dependencies=[Depends(no_store)])

TYPE_CODE_PATTERN = r"^[0-9A-Z]{18}[0-9]{3}$"
PersonBearer = Annotated[TokenContext, Depends(require_scopes(person=True))]
AnyBearer = Annotated[TokenContext, Depends(require_scopes())]


def _require(token: TokenContext, scope: str) -> None:
    """403 ``insufficient_scope`` (RFC 6750 §3.1) unless the token holds ``scope``."""
    if scope not in token.scopes:
        error = BearerError(403, "insufficient_scope", f"this needs the scope {scope}", scope)
        raise HTTPException(
            403,
            detail=error.description,
            headers={"WWW-Authenticate": error.challenge(), "Cache-Control": "no-store"},
        )


class SharedLicencesOut(BaseModel):
    access_id: str = Field(description="The record of this read in the holder's access log")
    accessed_at: datetime
    basis: Basis = Field(description="consent (the holder's) or legal_duty (a department's)")
    purpose: str = Field(description="The purpose consented to, or the legal basis stated")
    type_code: str
    licences: list[LicenceOut] = Field(description="The holder's current licences of the type")

    @classmethod
    def of(cls, licences: Licences, read: SharedRead) -> SharedLicencesOut:
        now = licences.clock()
        types: dict[str, LicenceType] = {}
        out = []
        for licence in read.licences:
            if licence.type_code not in types:
                types[licence.type_code] = licences.get_type(licence.type_code)
            out.append(LicenceOut.of(licence, types[licence.type_code], now))
        return cls(
            access_id=read.access_id,
            accessed_at=read.at,
            basis=read.basis,
            purpose=read.purpose,
            type_code=read.type_code,
            licences=out,
        )


@router.get(
    "/shared-licences",
    summary="The holder's current licences of one type, read with the holder's consent",
    responses={**ERRORS, 404: {"description": "No such licence type"}},
)
def shared_licences(
    type_code: Annotated[
        str, Query(alias="type", pattern=TYPE_CODE_PATTERN, description="Licence type code")
    ],
    token: PersonBearer,
    licences: Licences,
) -> SharedLicencesOut:
    _require(token, read_scope(type_code))
    assert token.grant_id is not None  # a person's token comes from a grant
    read = LicenceSharing(licences).read_with_consent(token.client_id, token.grant_id, type_code)
    return SharedLicencesOut.of(licences, read)


class DutyQueryIn(BaseModel):
    type_code: str = Field(pattern=TYPE_CODE_PATTERN)
    holder_code: str = Field(
        min_length=1, max_length=40, description="Resident ID number or USCC; never in a URL"
    )
    legal_basis: str = Field(
        min_length=1,
        max_length=MAX_PURPOSE_LENGTH,
        description="The legal duty the query serves (recorded, shown to the holder)",
    )


@router.post(
    "/shared-licences/query",
    summary="A department system reads a holder's licences of one type for its legal duty",
    responses={**ERRORS, 404: {"description": "No such licence type"}},
)
def query_licences(body: DutyQueryIn, token: AnyBearer, licences: Licences) -> SharedLicencesOut:
    _require(token, query_scope(body.type_code))
    if token.person_id is not None:
        error = BearerError(403, "insufficient_scope", "this needs a client's own token")
        raise HTTPException(
            403,
            detail=error.description,
            headers={"WWW-Authenticate": error.challenge(), "Cache-Control": "no-store"},
        )
    read = LicenceSharing(licences).query_for_duty(
        token.client_id, body.type_code, body.holder_code, body.legal_basis
    )
    return SharedLicencesOut.of(licences, read)


class AccessOut(BaseModel):
    id: str
    at: datetime
    basis: Basis
    client_id: str
    client_name: str
    type_code: str
    purpose: str
    licences: list[str] = Field(description="Identifiers of the versions handed out")

    @classmethod
    def of(cls, record: AccessRecord) -> AccessOut:
        return cls(
            id=record.id,
            at=record.at,
            basis=record.basis,
            client_id=record.client_id,
            client_name=record.client_name,
            type_code=record.type_code,
            purpose=record.purpose,
            licences=list(record.licences),
        )


class AccessListOut(BaseModel):
    accesses: list[AccessOut]


@router.get(
    "/me/licence-accesses",
    summary="Who read the caller's licences (their own and their organisations'), and why",
    responses=ERRORS,
)
def my_licence_accesses(token: HolderToken, licences: Licences) -> AccessListOut:
    assert token.person_id is not None  # HolderToken is a person's token
    caller = access.caller_for(licences, token.person_id, admin=False, holder=True)
    indexes = frozenset() if caller is None else caller.holder_indexes
    records = LicenceSharing(licences).accesses_for(indexes)
    return AccessListOut(accesses=[AccessOut.of(record) for record in records])
