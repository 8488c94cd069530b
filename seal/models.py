"""Electronic seals and who may use them (制作审批服务专用电子印章; GB/T 38540 §5 seal data).

A seal belongs to an organisation (by USCC). Its signing key and X.509 certificate come
from the key registry (seal CA: O = organisation, serialNumber = USCC, CN = seal name).
Only people a seal administrator authorised may use it, within the authorisation's period,
logged in at the level of assurance the seal requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

SealKind = Literal["official", "approval", "contract", "finance", "invoice", "name"]
SealStatus = Literal["active", "suspended", "revoked"]

KIND_TITLES: dict[str, str] = {
    "official": "公章",
    "approval": "审批专用章",
    "contract": "合同专用章",
    "finance": "财务专用章",
    "invoice": "发票专用章",
    "name": "法定代表人名章",
}

SEAL_ADMIN_SCOPE = "seal:admin"
SEAL_USE_SCOPE = "seal:use"


@dataclass(frozen=True)
class Seal:
    id: str
    organisation_id: str
    uscc: str
    organisation_name: str
    kind: SealKind
    name: str
    status: SealStatus
    key_kid: str
    valid_from: datetime
    valid_until: datetime
    required_acr: str
    created_at: datetime

    def usable_at(self, moment: datetime) -> bool:
        return self.status == "active" and self.valid_from <= moment < self.valid_until


@dataclass(frozen=True)
class SealGrant:
    """A seal administrator's authorisation of one person to use one seal for a period."""

    id: str
    seal_id: str
    person_id: str
    granted_by: str
    valid_from: datetime
    valid_until: datetime
    revoked_at: datetime | None

    def valid_at(self, moment: datetime) -> bool:
        if self.revoked_at is not None and moment >= self.revoked_at:
            return False
        return self.valid_from <= moment < self.valid_until
