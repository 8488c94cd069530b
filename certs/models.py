"""What the licence registry hands out: licence versions, their history, physical prints.

A :class:`Licence` is one *version* of an electronic licence with the metadata of
GB/T 36903 (电子证照元数据): identifier (GB/T 36904), licence number, type code, issuing
authority name and code, issue date, valid from/until, holder name, holder code and holder
code type (``111`` resident ID number, ``001`` unified social credit code). A resident ID
number is never part of it: only its masked form (the clear value stays encrypted in storage).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from certs.lifecycle import CHINA, LicenceState, china_date

__all__ = [
    "CHINA",
    "HolderCodeType",
    "Licence",
    "LicenceHistoryEntry",
    "LicencePrint",
    "PrintState",
    "PrintStatus",
    "PrintVerdict",
    "china_date",
]

HolderCodeType = Literal["111", "001"]
"""GB/T 36903 holder code types: ``111`` resident ID number (GB 11643), ``001`` USCC."""
PrintState = Literal["active", "lost", "destroyed"]
PrintVerdict = Literal[
    "valid", "superseded", "print_lost", "print_destroyed", "revoked", "suspended", "expired"
]


@dataclass(frozen=True)
class Licence:
    """One version of a licence (GB/T 36903 metadata plus lifecycle state).

    ``state`` is the stored state; :func:`certs.lifecycle.effective_state` also reports
    ``expired`` once ``valid_until`` (the last valid day, inclusive) has passed.
    ``valid_until`` None means long-term (长期).
    """

    identifier: str
    licence_number: str
    type_code: str
    serial: str
    version: int
    issuer_uscc: str
    issuer_name: str
    holder_name: str
    holder_code_type: HolderCodeType
    holder_code_masked: str
    fields: dict[str, Any]
    issued_on: date
    valid_from: date
    valid_until: date | None
    state: LicenceState
    state_reason: str
    state_changed_at: datetime
    created_at: datetime
    status_list_index: int
    supersedes: str | None = None
    superseded_by: str | None = None

    @property
    def is_long_term(self) -> bool:
        return self.valid_until is None


@dataclass(frozen=True)
class LicenceHistoryEntry:
    """One row of a licence version's append-only history (``licence_events``)."""

    identifier: str
    event: str
    from_state: LicenceState | None
    to_state: LicenceState
    reason: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class LicencePrint:
    """One printing of the paper licence, tied to the version it shows."""

    print_serial: str
    identifier: str
    version: int
    printed_at: datetime
    printed_by: str
    status: PrintState
    reported_at: datetime | None
    status_list_index: int | None = None


@dataclass(frozen=True)
class PrintStatus:
    """What a scanned paper print means now.

    ``verdict`` is ``valid`` only for an active print of the current, valid version;
    otherwise it says why not, and ``message`` says it in words ("superseded by version 3",
    "print reported lost"). ``current_version`` / ``current_identifier`` name the licence's
    version in force (or its last one).
    """

    print_serial: str
    verdict: PrintVerdict
    message: str
    identifier: str
    version: int
    current_identifier: str
    current_version: int

    @property
    def is_valid(self) -> bool:
        return self.verdict == "valid"
