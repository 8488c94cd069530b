"""Licence types: what a kind of licence holds, who defines and issues it, how long it lasts.

A type's code is 21 characters (GB/T 36904): the unified social credit code of the ministry
that defines it followed by 3 digits. Its fields are described by a JSON Schema (Draft 2020-12)
against which every issued or changed licence is validated; the licence metadata itself
(holder, issuer, dates: GB/T 36903) is not part of those fields.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]

from certs.identifiers import InvalidLicenceIdentifier, check_type_code
from certs.models import HolderCodeType
from core.errors.problem import ProblemError

HolderKind = Literal["person", "organisation"]
IssuingLevel = Literal["national", "provincial", "municipal", "county"]
HOLDER_CODE_TYPES: dict[HolderKind, HolderCodeType] = {"person": "111", "organisation": "001"}
"""GB/T 36903 holder code type per holder kind: resident ID number or USCC."""
ISSUING_LEVELS = ("national", "provincial", "municipal", "county")
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
MAX_VALIDITY_YEARS = 100
MAX_FIELD_DEPTH = 32
"""How deeply a field's value typed as JSON may nest (arrays and objects)."""


class InvalidLicenceType(ProblemError):
    def __init__(self, detail: str) -> None:
        super().__init__(422, "invalid-licence-type", "The licence type is not valid", detail)


@dataclass(frozen=True)
class FieldError:
    """One reason the fields fail the type's schema; ``path`` is a JSON Pointer (RFC 6901)."""

    path: str
    keyword: str
    message: str


class InvalidLicenceFields(ProblemError):
    """The licence fields do not match the type's JSON Schema (422, with every failing path)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(
            422,
            "invalid-licence-fields",
            "The licence fields do not match the licence type",
            ", ".join(error.path or "/" for error in errors),
            errors=[{"path": e.path, "keyword": e.keyword, "message": e.message} for e in errors],
        )
        self.errors = errors


@dataclass(frozen=True)
class LicenceType:
    """A kind of licence. ``validity_years`` None means long-term (长期); ``seal_id`` names the
    seal (``seal.registry``) that signs its licences; ``layout`` names its rendering layout."""

    code: str
    name: str
    defining_authority_name: str
    defining_authority_uscc: str
    issuing_level: IssuingLevel
    fields_schema: dict[str, Any]
    validity_years: int | None
    holder_kind: HolderKind
    seal_id: str | None
    layout: str

    @property
    def holder_code_type(self) -> HolderCodeType:
        return HOLDER_CODE_TYPES[self.holder_kind]

    def valid_until(self, valid_from: date) -> date | None:
        """The last valid day for a licence valid from ``valid_from``: the day before the same
        date ``validity_years`` later (5 years from 2026-12-01 ends 2031-11-30); None when
        long-term."""
        if self.validity_years is None:
            return None
        try:
            return add_years(valid_from, self.validity_years) - timedelta(days=1)
        except (ValueError, OverflowError) as exc:  # past 9999-12-31
            raise ValidityOutOfRange(
                f"valid from {valid_from}, the licence would end after the last date there is"
            ) from exc


class ValidityOutOfRange(ValueError):
    """A validity that would end past the calendar's last date (9999-12-31)."""


def add_years(day: date, years: int) -> date:
    """``day`` moved ``years`` calendar years; 29 February becomes 1 March in a common year."""
    year = day.year + years
    if day.month == 2 and day.day == 29 and not calendar.isleap(year):
        return date(year, 3, 1)
    return day.replace(year=year)


def check_licence_type(licence_type: LicenceType) -> LicenceType:
    """Validate a type: its code (21 characters, starting with the defining authority's USCC),
    names, level, validity, holder kind, layout and a JSON Schema (Draft 2020-12) for an
    object. Raises :class:`InvalidLicenceType`."""
    try:
        check_type_code(licence_type.code)
    except InvalidLicenceIdentifier:
        raise InvalidLicenceType("the type code is not a USCC plus 3 digits") from None
    if licence_type.code[:18] != licence_type.defining_authority_uscc:
        raise InvalidLicenceType("the type code must start with the defining authority's USCC")
    if not licence_type.name.strip() or not licence_type.defining_authority_name.strip():
        raise InvalidLicenceType("the type and its defining authority need names")
    if licence_type.issuing_level not in ISSUING_LEVELS:
        raise InvalidLicenceType("unknown issuing level")
    years = licence_type.validity_years
    if years is not None and not 1 <= years <= MAX_VALIDITY_YEARS:
        raise InvalidLicenceType(f"validity is 1 to {MAX_VALIDITY_YEARS} years, or long-term")
    if licence_type.holder_kind not in HOLDER_CODE_TYPES:
        raise InvalidLicenceType("the holder kind is 'person' or 'organisation'")
    if not licence_type.layout.strip():
        raise InvalidLicenceType("a layout is required")
    schema = licence_type.fields_schema
    if schema.get("$schema", SCHEMA_DIALECT) != SCHEMA_DIALECT or schema.get("type") != "object":
        raise InvalidLicenceType("the fields schema must be a Draft 2020-12 schema of an object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        raise InvalidLicenceType("the fields schema is not a valid JSON Schema") from None
    return licence_type


def _pointer(parts: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def field_errors(schema: dict[str, Any], fields: Any) -> list[FieldError]:
    """Every way ``fields`` fails ``schema`` (Draft 2020-12, formats checked), by path.

    Messages name the rule, not the value, so personal data in a field is not echoed."""
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors: list[FieldError] = []
    for error in validator.iter_errors(fields):
        path = _pointer(error.absolute_path)
        keyword = str(error.validator)
        if keyword == "required":
            missing = [name for name in error.validator_value if name not in error.instance]
            errors.extend(FieldError(f"{path}/{name}", keyword, "is required") for name in missing)
            continue
        if keyword == "additionalProperties":
            allowed = set(error.schema.get("properties", {}))
            extra = sorted(name for name in error.instance if name not in allowed)
            errors.extend(FieldError(f"{path}/{name}", keyword, "is not allowed") for name in extra)
            continue
        rule = error.validator_value
        shown = rule if isinstance(rule, str | int | float | bool) else None
        message = f"fails {keyword}" + ("" if shown is None else f" {shown!r}")
        errors.append(FieldError(path, keyword, message))
    return sorted(errors, key=lambda e: (e.path, e.keyword))


def _nesting(value: Any) -> int:
    """How deeply ``value`` nests arrays and objects (walked without recursion)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return deepest


def parse_field_json(text: str) -> Any:
    """A field's value typed as JSON text (a form's input, a CSV cell); :class:`ValueError`
    for text that is not JSON or nests deeper than :data:`MAX_FIELD_DEPTH`: the parser and
    every check after it recurse, and a value nested thousands deep would exhaust them."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("the value nests too deeply") from None
    if _nesting(value) > MAX_FIELD_DEPTH:
        raise ValueError("the value nests too deeply")
    return value


def validate_fields(licence_type: LicenceType, fields: Any) -> dict[str, Any]:
    """Return ``fields`` if they match the type's schema; else raise
    :class:`InvalidLicenceFields` listing every failing path."""
    errors = field_errors(licence_type.fields_schema, fields)
    if errors:
        raise InvalidLicenceFields(errors)
    return dict(fields)
