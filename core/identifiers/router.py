"""Check an identifier typed at a counter or on a form, without storing or echoing it.

The number travels in the POST body (never in a URL) and only its masked form comes back.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from core.identifiers.resident_id import parse_resident_id
from core.identifiers.uscc import parse_uscc

router = APIRouter(prefix="/identifiers", tags=["identifiers"])


class IdentifierIn(BaseModel):
    kind: Literal["resident_id", "uscc"]
    value: str = Field(min_length=1, max_length=64)


class IdentifierOut(BaseModel):
    kind: Literal["resident_id", "uscc"]
    valid: bool
    display: str = Field(description="Masked resident ID number, or the USCC as printed.")
    region_code: str
    birth_date: date | None = None


@router.post(
    "/validate",
    response_model=IdentifierOut,
    summary="Validate a resident ID number (GB 11643) or unified social credit code (GB 32100)",
)
def validate_identifier(body: IdentifierIn) -> IdentifierOut:
    if body.kind == "resident_id":
        resident = parse_resident_id(body.value)
        return IdentifierOut(
            kind="resident_id",
            valid=True,
            display=resident.masked(),
            region_code=resident.region_code,
            birth_date=resident.birth_date,
        )
    code = parse_uscc(body.value)
    return IdentifierOut(kind="uscc", valid=True, display=code.value, region_code=code.region_code)
