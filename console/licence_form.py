"""A licence type's fields as an HTML form, from the type's JSON Schema (Draft 2020-12).

The console knows four kinds of field: a string (a text box, or a text area when it may be
long), a string with ``enum`` (a choice), a string with ``format: date`` (a date picker) and
an array of strings (one item per line). Anything else is shown as a JSON text box and read
as JSON. What the form sends back is checked against the schema by
:func:`certs.types.field_errors`, whose messages name the rule, never the value; the errors
are shown beside the field they concern.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from certs.types import FieldError, LicenceType, field_errors, parse_field_json
from console.licence_view import field_text
from core.identifiers.resident_id import redact_resident_ids

FieldKind = Literal["text", "long_text", "choice", "date", "lines", "json"]
FIELD_PREFIX = "field."
LONG_TEXT = 300
MAX_VALUE_LENGTH = 8000


@dataclass(frozen=True)
class FormField:
    name: str
    title: str
    kind: FieldKind
    required: bool
    options: tuple[str, ...] = ()
    max_length: int | None = None

    @property
    def input_name(self) -> str:
        return FIELD_PREFIX + self.name

    @property
    def input_id(self) -> str:
        return "f-" + "".join(c if c.isalnum() else "-" for c in self.name)


def _kind(schema: Mapping[str, Any]) -> FieldKind:
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items", {})
        return "lines" if isinstance(items, dict) and items.get("type") == "string" else "json"
    if kind not in (None, "string"):
        return "json"
    if "enum" in schema:
        return "choice"
    if schema.get("format") == "date":
        return "date"
    longest = schema.get("maxLength")
    return "long_text" if isinstance(longest, int) and longest > LONG_TEXT else "text"


def form_fields(licence_type: LicenceType) -> list[FormField]:
    """The type's fields in the order of its schema."""
    schema = licence_type.fields_schema
    required = set(schema.get("required", []))
    found = []
    for name, spec in schema.get("properties", {}).items():
        spec = spec if isinstance(spec, dict) else {}
        longest = spec.get("maxLength")
        found.append(
            FormField(
                name=str(name),
                title=str(spec.get("title", name)),
                kind=_kind(spec),
                required=name in required,
                options=tuple(str(o) for o in spec.get("enum", [])),
                max_length=longest if isinstance(longest, int) else None,
            )
        )
    return found


def _as_typed(field: FormField, value: Any) -> str:
    """A field value as it would be typed into the form."""
    if field.kind == "lines" and isinstance(value, list):
        return "\n".join(str(item) for item in value)
    if field.kind == "json":
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def form_values(fields: list[FormField], values: Mapping[str, Any]) -> dict[str, str]:
    """Licence field values as the form shows them (prefilling a change), anything shaped
    like an ID number masked, as on every other screen: sent back unchanged, such a value
    keeps what is stored (:func:`parse_fields` with ``stored``)."""
    return {
        field.name: redact_resident_ids(_as_typed(field, values[field.name]))
        for field in fields
        if field.name in values
    }


@dataclass(frozen=True)
class ParsedFields:
    values: dict[str, Any]
    """The licence fields, ready for :func:`certs.types.validate_fields`."""
    shown: dict[str, str]
    """What the person typed, to show the form again."""
    errors: dict[str, str]
    """Field name -> the rule it fails (empty: the fields match the schema)."""


def parse_fields(
    licence_type: LicenceType, form: Mapping[str, str], stored: Mapping[str, Any] | None = None
) -> ParsedFields:
    """Read the ``field.<name>`` inputs of ``form`` and check them against the schema.

    An empty input leaves the field out (so ``required`` reports it); inputs that are not
    fields of the type are ignored. ``stored`` (a change): an input sent back as the form
    showed it masked (:func:`form_values`) keeps the stored value."""
    values: dict[str, Any] = {}
    shown: dict[str, str] = {}
    errors: dict[str, str] = {}
    fields = form_fields(licence_type)
    masked = (
        {}
        if stored is None
        else {
            name: text
            for name, text in form_values(fields, stored).items()
            if text != _as_typed(_named(fields, name), stored[name])
        }
    )
    for field in fields:
        text = str(form.get(field.input_name, ""))[:MAX_VALUE_LENGTH]
        shown[field.name] = text
        if stored is not None and field.name in masked and text == masked[field.name]:
            values[field.name] = stored[field.name]  # left as shown: kept as stored
            continue
        if not text.strip():
            continue
        if field.kind == "lines":
            values[field.name] = [line.strip() for line in text.splitlines() if line.strip()]
        elif field.kind == "json":
            try:
                values[field.name] = parse_field_json(text)
            except ValueError:
                errors[field.name] = "json"
        else:
            values[field.name] = text.strip()
    for error in field_errors(licence_type.fields_schema, values):
        name = _field_of(error)
        errors.setdefault(name, error.keyword)
    return ParsedFields(values, shown, errors)


def _named(fields: list[FormField], name: str) -> FormField:
    return next(field for field in fields if field.name == name)


def _field_of(error: FieldError) -> str:
    """``/business_items/0`` -> ``business_items`` (JSON Pointer, RFC 6901)."""
    first = error.path.lstrip("/").split("/", 1)[0]
    return first.replace("~1", "/").replace("~0", "~") or "/"


def field_diff(
    fields: list[FormField], old: Mapping[str, Any], new: Mapping[str, Any]
) -> list[tuple[str, str, str, bool]]:
    """(title, old, new, changed) for every field of the type, in the schema's order."""
    rows = []
    for field in fields:
        before = field_text(old[field.name]) if field.name in old else ""
        after = field_text(new[field.name]) if field.name in new else ""
        rows.append((field.title, before, after, before != after))
    return rows
