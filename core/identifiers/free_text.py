"""Free text a person types that goes into the audit trail (a reason, a purpose): it must
hold no ID number, since the trail holds none (:mod:`core.audit.entry` refuses an entry
that does). Checked where the text is typed, so the answer is a 422 that says which field,
not a failure when the entry is written."""

from __future__ import annotations

from core.errors.problem import ProblemError
from core.identifiers.resident_id import holds_resident_id


class PersonalDataInText(ProblemError):
    def __init__(self, field: str) -> None:
        super().__init__(
            422,
            "personal-data-in-text",
            "The text must not contain an ID number",
            f"{field} holds something shaped like a resident ID number",
        )


def without_id_number(text: str, field: str) -> str:
    """``text`` as it is; :class:`PersonalDataInText` naming ``field`` if it holds an ID
    number."""
    if holds_resident_id(text):
        raise PersonalDataInText(field)
    return text
