"""Reading and checking a CSV file of existing licences (存量证照导入) before anything is
written; the writing is :mod:`certs.bulk_import`.

The file (RFC 4180, UTF-8 with or without a byte-order mark, comma-separated, a header row)
holds licences of **one** licence type. Its columns:

=====================  ========  ==============================================================
column                 required  meaning (GB/T 36903 metadata unless a ``field.`` column)
=====================  ========  ==============================================================
``licence_number``     no        the legacy licence's number (证照编号), if it has one; empty:
                                 the registry numbers the licence as it numbers new ones
``holder_name``        yes       持证主体
``holder_code_type``   no        ``111`` (resident ID number) or ``001`` (USCC); must be the
                                 type's holder code type when given
``holder_code``        yes       持证主体代码: checked (GB 11643 / GB 32100), then blind-indexed,
                                 encrypted and masked like every other holder code
``issued_on``          yes       颁证日期, ``YYYY-MM-DD``, not in the future
``valid_from``         yes       有效期起始日期, ``YYYY-MM-DD``
``valid_until``        no        有效期截止日期 (the last valid day), ``YYYY-MM-DD``; empty: from
                                 the type's validity rule; ``长期`` only for a long-term type
``field.<name>``       per type  the licence field ``<name>`` of the type's JSON Schema
=====================  ========  ==============================================================

A ``field.`` cell is taken as text when the field's schema type is ``string`` (or unstated);
otherwise it is parsed as JSON (``12``, ``true``, ``["a","b"]``). For an array, a cell that does
not start with ``[`` is also accepted as items separated by ``;`` or ``；``. An empty cell
leaves the field out (so the schema's ``required`` reports it). Columns outside this list, or
``field.`` columns that the type does not define, make the whole file invalid, and so does a
missing required column: a header problem rejects the file before any row is looked at.

Rows are numbered as a spreadsheet numbers them: the header is row 1, the first licence
row 2. Blank lines are skipped. Every problem of a row is reported in words without the
values (a holder code only ever appears masked).

Each row has a *source key* that makes an import repeatable: ``number:<licence number>`` when
the legacy licence has a number, else ``row:<keyed hash>`` of the holder (blind index), name,
dates and fields, so the same row imported twice is recognised either way.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from certs.errors import InvalidLicenceInput
from certs.metadata import LONG_TERM
from certs.models import HolderCodeType
from certs.queries import ProtectedHolderCode
from certs.types import LicenceType, ValidityOutOfRange, field_errors, parse_field_json
from certs.versions import MAX_NAME_LENGTH
from core.errors.problem import ProblemError
from core.identifiers.resident_id import redact_resident_ids

__all__ = [
    "FIELD_PREFIX",
    "MAX_FILE_BYTES",
    "MAX_ROWS",
    "CheckedRow",
    "CsvRow",
    "InvalidLicenceCsv",
    "RowProblem",
    "check_row",
    "masked_holder_code",
    "read_licence_csv",
]

FIELD_PREFIX = "field."
REQUIRED_COLUMNS = ("holder_name", "holder_code", "issued_on", "valid_from")
OPTIONAL_COLUMNS = ("licence_number", "holder_code_type", "valid_until")
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
MAX_NUMBER_LENGTH = 64
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")

RowStatus = Literal["imported", "already_imported", "rejected", "valid", "not_imported"]


class InvalidLicenceCsv(ProblemError):
    """The file as a whole cannot be imported (422): nothing is imported from it."""

    def __init__(self, detail: str) -> None:
        super().__init__(422, "invalid-licence-csv", "The licence file cannot be imported", detail)


@dataclass(frozen=True)
class CsvRow:
    """One licence row as read: its spreadsheet row number and its cells by column."""

    number: int
    cells: dict[str, str]
    problem: str | None = None  # a row of the wrong shape


@dataclass(frozen=True)
class RowProblem:
    """Why a row is rejected (``message`` never holds a value from the row) and the holder
    code masked as far as it could be read."""

    message: str
    holder_code_masked: str | None = None


@dataclass(frozen=True)
class CheckedRow:
    """A row that passed every check, ready to become a licence."""

    number: int
    source_key: str
    licence_number: str | None
    holder_name: str
    holder: ProtectedHolderCode
    fields: dict[str, Any]
    issued_on: date
    valid_from: date
    valid_until: date | None


def _decode(data: bytes) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise InvalidLicenceCsv(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidLicenceCsv("the file is not UTF-8 text (save it as CSV UTF-8)") from None


def _column_shown(column: str) -> str:
    """A column name as an error may show it: a file saved without its header row has a
    licence row there, so anything shaped like an ID number is masked, and a long name cut."""
    return redact_resident_ids(column)[:40] or "(empty)"


def _check_header(header: list[str], licence_type: LicenceType) -> list[str]:
    columns = [cell.strip() for cell in header]
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise InvalidLicenceCsv(f"the column {_column_shown(column)} appears twice")
        seen.add(column)
    defined = set(licence_type.fields_schema.get("properties", {}))
    unknown = [
        column
        for column in columns
        if column not in REQUIRED_COLUMNS
        and column not in OPTIONAL_COLUMNS
        and not (column.startswith(FIELD_PREFIX) and column[len(FIELD_PREFIX) :] in defined)
    ]
    if unknown:
        shown = ", ".join(_column_shown(c) for c in unknown[:5])
        raise InvalidLicenceCsv(f"unknown columns: {shown} (fields are named field.<name>)")
    missing = [column for column in REQUIRED_COLUMNS if column not in seen]
    if missing:
        raise InvalidLicenceCsv(f"missing columns: {', '.join(missing)}")
    return columns


def read_licence_csv(data: bytes, licence_type: LicenceType) -> list[CsvRow]:
    """The licence rows of ``data``; raises :class:`InvalidLicenceCsv` for a file that is not
    UTF-8 CSV, is too large, has a bad header or no licence rows."""
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[CsvRow] = []
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise InvalidLicenceCsv("the file is empty: a header row is required")
        columns = _check_header(header, licence_type)
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= MAX_ROWS:
                raise InvalidLicenceCsv(f"more than {MAX_ROWS} licence rows; split the file")
            if len(cells) != len(columns):
                problem = f"the row has {len(cells)} cells, the header {len(columns)}"
                rows.append(CsvRow(number, {}, problem))
                continue
            rows.append(CsvRow(number, dict(zip(columns, cells, strict=True))))
    except csv.Error as error:
        raise InvalidLicenceCsv(f"not valid CSV near line {reader.line_num}: {error}") from None
    if not rows:
        raise InvalidLicenceCsv("the file has no licence rows")
    return rows


def masked_holder_code(code_type: HolderCodeType, text: str) -> str:
    """A holder code as it may be shown whatever its validity: a would-be resident ID number
    keeps its first 6 and last 4 characters; a USCC (public) is shown, any ID-number-shaped
    text in it masked."""
    compact = "".join(text.split()).upper()[:18]
    if code_type == "001":
        return redact_resident_ids(compact)
    if len(compact) < 10:
        return "*" * len(compact)
    return compact[:6] + "*" * (len(compact) - 10) + compact[-4:]


def _date(cells: dict[str, str], column: str) -> date:
    text = cells.get(column, "").strip()
    if not text:
        raise _RowError(f"{column} is empty")
    if not DATE_TEXT.match(text):
        raise _RowError(f"{column} is not a date (expected YYYY-MM-DD)")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _RowError(f"{column} is not a real calendar date") from None


class _RowError(Exception):
    """A row problem raised inside the checks (message without values)."""


def _schema_types(schema: Any) -> set[str]:
    if not isinstance(schema, dict):
        return set()
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return {str(item) for item in declared}
    return set()


def _field_value(name: str, text: str, schema: Any) -> Any:
    types = _schema_types(schema)
    if not types or "string" in types:
        return text
    stripped = text.strip()
    if "array" in types and not stripped.startswith("["):
        return [item.strip() for item in re.split(r"[;；]", stripped) if item.strip()]
    try:
        return parse_field_json(stripped)
    except ValueError:
        raise _RowError(
            f"{FIELD_PREFIX}{name} is not valid JSON for a {'/'.join(sorted(types))}"
        ) from None


def _fields(cells: dict[str, str], licence_type: LicenceType) -> dict[str, Any]:
    properties = licence_type.fields_schema.get("properties", {})
    fields: dict[str, Any] = {}
    for column, text in cells.items():
        if not column.startswith(FIELD_PREFIX) or text == "":
            continue
        name = column[len(FIELD_PREFIX) :]
        fields[name] = _field_value(name, text, properties.get(name))
    errors = field_errors(licence_type.fields_schema, fields)
    if errors:
        described = "; ".join(
            f"{FIELD_PREFIX}{e.path.lstrip('/').split('/')[0]}: {e.message}"
            if e.path
            else e.message
            for e in errors[:5]
        )
        raise _RowError(f"the fields do not match the licence type ({described})")
    return fields


def _licence_number(cells: dict[str, str], generated_prefix: str) -> str | None:
    number = cells.get("licence_number", "").strip()
    if not number:
        return None
    if len(number) > MAX_NUMBER_LENGTH or CONTROL.search(number):
        raise _RowError(f"licence_number must be 1 to {MAX_NUMBER_LENGTH} printable characters")
    if re.fullmatch(re.escape(generated_prefix) + r"\d{7}", number):
        raise _RowError(
            "licence_number has the form of the numbers this registry gives new licences "
            "of this type and issuer; leave it empty to have one given"
        )
    return number


def _validity(
    cells: dict[str, str], licence_type: LicenceType, valid_from: date, today: date
) -> date | None:
    text = cells.get("valid_until", "").strip()
    if text == LONG_TERM:
        if licence_type.validity_years is not None:
            raise _RowError("valid_until is 长期 but this licence type has a limited validity")
        return None
    if not text:
        try:
            valid_until = licence_type.valid_until(valid_from)
        except ValidityOutOfRange as exc:
            raise _RowError(str(exc)) from exc
    else:
        if licence_type.validity_years is None:
            raise _RowError("this licence type is long-term: leave valid_until empty")
        valid_until = _date(cells, "valid_until")
    if valid_until is not None:
        if valid_until < valid_from:
            raise _RowError("valid_until is before valid_from")
        if valid_until < today:
            raise _RowError("the licence has already expired")
    return valid_until


def check_row(
    row: CsvRow,
    licence_type: LicenceType,
    issuer_uscc: str,
    today: date,
    protect: Callable[[HolderCodeType, str], ProtectedHolderCode],
    row_hash: Callable[[str], str],
) -> CheckedRow | RowProblem:
    """Every check of one row, in order; the first problem found is reported.

    ``protect`` validates and protects a holder code (raising
    :class:`~certs.errors.InvalidLicenceInput`); ``row_hash`` is the keyed hash of a
    row's canonical content (its source key when it has no licence number)."""
    if row.problem is not None:
        return RowProblem(row.problem)
    cells = row.cells
    code_type = licence_type.holder_code_type
    raw_code = cells.get("holder_code", "")
    masked = masked_holder_code(code_type, raw_code) if raw_code.strip() else None
    try:
        given_type = cells.get("holder_code_type", "").strip()
        if given_type and given_type != code_type:
            raise _RowError(f"holder_code_type must be {code_type} for this licence type")
        if not raw_code.strip():
            raise _RowError("holder_code is empty")
        try:
            holder = protect(code_type, raw_code)
        except InvalidLicenceInput:
            what = "resident ID number" if code_type == "111" else "unified social credit code"
            raise _RowError(
                f"holder_code is not a valid {what} (check digit, date or format)"
            ) from None
        masked = holder.masked
        holder_name = cells.get("holder_name", "").strip()
        if not holder_name or len(holder_name) > MAX_NAME_LENGTH:
            raise _RowError(f"holder_name must be 1 to {MAX_NAME_LENGTH} characters")
        number = _licence_number(cells, licence_type.code[-3:] + issuer_uscc[2:8])
        issued_on = _date(cells, "issued_on")
        if issued_on > today:
            raise _RowError("issued_on is in the future")
        valid_from = _date(cells, "valid_from")
        valid_until = _validity(cells, licence_type, valid_from, today)
        fields = _fields(cells, licence_type)
    except _RowError as problem:
        return RowProblem(str(problem), masked)
    if number is not None:
        key = f"number:{number}"
    else:
        canonical = json.dumps(
            [holder.index, holder_name, str(issued_on), str(valid_from), str(valid_until), fields],
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        )
        key = f"row:{row_hash(canonical)}"
    return CheckedRow(
        row.number,
        key,
        number,
        holder_name,
        holder,
        fields,
        issued_on,
        valid_from,
        valid_until,
    )
