"""Text typed into the console's forms and filters holds no control characters.

A NUL (``\\x00``) cannot be stored in PostgreSQL text, nor compared with it: typed into a
search or a name it made the page a 500 there (SQLite takes it). Nobody types a control
character; one that arrives is refused before anything reads it, with a page that says so
(422: the console's handler of validation errors, in :mod:`console.app`, knows the
:data:`CONTROL_CHARACTERS` error).

Use :data:`Line` for a one-line input (``<input>``, a query parameter), :data:`Lines` for a
``<textarea>`` (tab and line breaks allowed), and :func:`check_text` for text read from the
form otherwise (:func:`console.routers.licence_issue.posted_form`).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

CONTROL_CHARACTERS = "control_characters"
"""The validation error's type."""
_IN_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1 (Unicode category Cc)
_IN_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # but tab, LF and CR


def _refused() -> PydanticCustomError:
    return PydanticCustomError(CONTROL_CHARACTERS, "The text holds control characters")


def _line(value: str | None) -> str | None:
    if value is not None and _IN_LINE.search(value):
        raise _refused()
    return value


def _lines(value: str | None) -> str | None:
    if value is not None and _IN_LINES.search(value):
        raise _refused()
    return value


Line = Annotated[str, AfterValidator(_line)]
"""One line of text (an ``<input>``): with ``Form(...)`` or ``Query(...)`` beside it."""
OptionalLine = Annotated[str | None, AfterValidator(_line)]
Lines = Annotated[str, AfterValidator(_lines)]
"""Text of several lines (a ``<textarea>``)."""


def check_text(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` as they are, when no text in them holds a control character other than a
    tab or a line break; else the same validation error as :data:`Lines` gives."""
    for name, value in values.items():
        if isinstance(value, str) and _IN_LINES.search(value):
            raise RequestValidationError(
                [
                    {
                        "type": CONTROL_CHARACTERS,
                        "loc": ("body", name),
                        "msg": "The text holds control characters",
                    }
                ]
            )
    return values
