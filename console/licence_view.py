"""A licence as the console shows it: type name, field titles, state now, masked codes.

Nothing shaped like a resident ID number is shown in clear: the holder code is the registry's
masked one, and every field value is passed through
:func:`core.identifiers.resident_id.redact_resident_ids`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from certs.errors import LicenceNotFound
from certs.identifiers import InvalidLicenceIdentifier, parse_licence_identifier
from certs.lifecycle import TRANSITIONS, LicenceState, LifecycleEvent, effective_state
from certs.models import Licence
from certs.service import LicenceService
from core.identifiers.resident_id import redact_resident_ids

STATE_ACTIONS = (LifecycleEvent.SUSPEND, LifecycleEvent.RESUME, LifecycleEvent.REVOKE)
"""The state changes the console offers a licence administrator."""
VERSION_ACTIONS = (LifecycleEvent.CHANGE, LifecycleEvent.REISSUE, LifecycleEvent.RENEW)
"""The steps that issue a new version (:mod:`console.routers.licence_change`)."""


@dataclass(frozen=True)
class LicenceView:
    identifier: str
    licence_number: str
    type_name: str
    version: int
    state: LicenceState
    state_reason: str
    issuer_name: str
    holder_name: str
    holder_code: str
    issued_on: date
    valid_from: date
    valid_until: date | None
    fields: list[tuple[str, str]]
    """(title, value) in the order of the type's schema."""
    type_code: str = ""
    holder_code_type: str = ""

    @property
    def in_force(self) -> bool:
        return self.state is LicenceState.VALID

    def actions(self) -> list[str]:
        """The state changes allowed from the state now."""
        return [event.value for event in STATE_ACTIONS if self.state in TRANSITIONS[event]]

    def version_actions(self) -> list[str]:
        """The new-version steps allowed from the state now (renew: not a long-term one)."""
        return [
            event.value
            for event in VERSION_ACTIONS
            if self.state in TRANSITIONS[event]
            and not (event is LifecycleEvent.RENEW and self.valid_until is None)
        ]

    def target(self, action: str) -> LicenceState | None:
        """The state ``action`` leads to from the state now (None: not allowed)."""
        event = LifecycleEvent(action)
        return TRANSITIONS[event].get(self.state) if event in STATE_ACTIONS else None


def field_text(value: Any) -> str:
    """A field value as shown: list items joined, ID-number-shaped text masked."""
    if isinstance(value, list):
        return "；".join(field_text(item) for item in value)
    return redact_resident_ids(str(value))


def checked_identifier(text: str) -> str:
    """A well-formed identifier; any other text is "not found", like a stranger's licence."""
    try:
        parse_licence_identifier(text)
    except InvalidLicenceIdentifier:
        raise LicenceNotFound() from None
    return text


def view(licences: LicenceService, licence: Licence, now: datetime) -> LicenceView:
    licence_type = licences.get_type(licence.type_code)
    properties: dict[str, Any] = licence_type.fields_schema.get("properties", {})
    ordered = [key for key in properties if key in licence.fields]
    ordered += [key for key in licence.fields if key not in properties]
    fields = [
        (str(properties.get(key, {}).get("title", key)), field_text(licence.fields[key]))
        for key in ordered
    ]
    return LicenceView(
        identifier=licence.identifier,
        licence_number=licence.licence_number,
        type_name=licence_type.name,
        version=licence.version,
        state=effective_state(licence, now),
        state_reason=licence.state_reason,
        issuer_name=licence.issuer_name,
        holder_name=licence.holder_name,
        holder_code=licence.holder_code_masked,
        issued_on=licence.issued_on,
        valid_from=licence.valid_from,
        valid_until=licence.valid_until,
        fields=fields,
        type_code=licence.type_code,
        holder_code_type=licence.holder_code_type,
    )
