"""Licence types: codes, JSON Schema of the fields, validity rules, demo types, metadata."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from certs.demo_types import BUSINESS_LICENCE, FOOD_BUSINESS_LICENCE, TOUR_GUIDE_CARD
from certs.demo_types import demo_licence_types as demo_types
from certs.lifecycle import LicenceState
from certs.metadata import LABELS, licence_metadata
from certs.models import Licence
from certs.service import LicenceService
from certs.types import (
    MAX_FIELD_DEPTH,
    InvalidLicenceFields,
    InvalidLicenceType,
    add_years,
    check_licence_type,
    parse_field_json,
    validate_fields,
)
from core.errors.problem import ProblemError
from core.services import Services
from tests.certs.conftest import ADMIN, BUSINESS_FIELDS, FOOD_FIELDS, GUIDE_FIELDS, audit_entries

TYPES = {t.code: t for t in demo_types("seal-1")}
BUSINESS, FOOD, GUIDE = (
    TYPES[BUSINESS_LICENCE],
    TYPES[FOOD_BUSINESS_LICENCE],
    TYPES[TOUR_GUIDE_CARD],
)


def test_demo_types_are_valid_and_cover_both_holder_kinds() -> None:
    for licence_type in TYPES.values():
        assert check_licence_type(licence_type) is licence_type
        assert licence_type.seal_id == "seal-1"
    assert [BUSINESS.name, FOOD.name, GUIDE.name] == ["营业执照", "食品经营许可证", "导游证"]
    assert (BUSINESS.holder_code_type, FOOD.holder_code_type) == ("001", "001")
    assert GUIDE.holder_code_type == "111"
    assert (BUSINESS.validity_years, FOOD.validity_years) == (None, 5)


@pytest.mark.parametrize(
    ("licence_type", "fields"),
    [(BUSINESS, BUSINESS_FIELDS), (FOOD, FOOD_FIELDS), (GUIDE, GUIDE_FIELDS)],
)
def test_demo_fields_validate(licence_type: object, fields: dict[str, object]) -> None:
    assert validate_fields(licence_type, fields) == fields  # type: ignore[arg-type]


def test_failing_fields_are_reported_by_path_without_their_values() -> None:
    fields = dict(BUSINESS_FIELDS, established="2020-13-45", id_number="11010519491231002X")
    del fields["address"]
    with pytest.raises(InvalidLicenceFields) as info:
        validate_fields(BUSINESS, fields)
    problem = info.value.problem.to_dict()
    assert problem["status"] == 422
    paths = {(e["path"], e["keyword"]) for e in problem["errors"]}
    assert paths == {
        ("/address", "required"),
        ("/established", "format"),
        ("/id_number", "additionalProperties"),
    }
    assert "11010519491231002X" not in str(problem)
    assert "2020-13-45" not in str(problem)


def test_nested_paths_and_enums() -> None:
    fields = dict(FOOD_FIELDS, main_business="其他", business_items=["热食类食品制售", 7])
    with pytest.raises(InvalidLicenceFields) as info:
        validate_fields(FOOD, fields)
    assert [(e.path, e.keyword) for e in info.value.errors] == [
        ("/business_items/1", "type"),
        ("/main_business", "enum"),
    ]
    with pytest.raises(InvalidLicenceFields):
        validate_fields(FOOD, [])


def test_a_field_typed_as_json_may_nest_only_so_deep() -> None:
    """A value nested thousands deep exhausted the parser's recursion (a 500 where the form
    or the import should name the field); one deeper than the limit is refused too."""
    fitting = "[" * MAX_FIELD_DEPTH + "]" * MAX_FIELD_DEPTH
    assert parse_field_json(fitting) == json.loads(fitting)
    assert parse_field_json('{"a": [1, {"b": "c"}]}') == {"a": [1, {"b": "c"}]}
    deeper = '{"a":' * (MAX_FIELD_DEPTH + 1) + "1" + "}" * (MAX_FIELD_DEPTH + 1)
    for text in ("[" * 3000, "[" * 3000 + "]" * 3000, deeper, "{not json"):
        with pytest.raises(ValueError):
            parse_field_json(text)


@pytest.mark.parametrize(
    "change",
    [
        {"code": BUSINESS_LICENCE[:-1]},
        {"code": "91350100M000100Y43001"},
        {"name": " "},
        {"issuing_level": "village"},
        {"validity_years": 0},
        {"holder_kind": "robot"},
        {"layout": ""},
        {"fields_schema": {"type": "array"}},
        {"fields_schema": {"type": "object", "properties": {"a": {"type": "no-such-type"}}}},
        {"fields_schema": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}},
    ],
)
def test_invalid_types_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(InvalidLicenceType) as info:
        check_licence_type(replace(BUSINESS, **change))  # type: ignore[arg-type]
    assert info.value.problem.status == 422


def test_validity_rule() -> None:
    assert BUSINESS.valid_until(date(2026, 12, 1)) is None
    assert FOOD.valid_until(date(2026, 12, 1)) == date(2031, 11, 30)
    assert FOOD.valid_until(date(2024, 2, 29)) == date(2029, 2, 28)
    assert add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)


def test_metadata_after_gb_t_36903() -> None:
    now = datetime(2026, 11, 27, tzinfo=UTC)
    licence = Licence(
        identifier="1.2.156.3005.2.x",
        licence_number="0012200000000001",
        type_code=GUIDE.code,
        serial="0000001",
        version=2,
        issuer_uscc="11220000013544541J",
        issuer_name="吉林省文化和旅游厅",
        holder_name="李四",
        holder_code_type="111",
        holder_code_masked="110105********002X",
        fields=GUIDE_FIELDS,
        issued_on=date(2026, 11, 27),
        valid_from=date(2026, 11, 27),
        valid_until=None,
        state=LicenceState.VALID,
        state_reason="issued",
        state_changed_at=now,
        created_at=now,
        status_list_index=0,
    )
    metadata = licence_metadata(licence, GUIDE)
    assert set(metadata) == set(LABELS)
    assert metadata["version"] == "002"
    assert metadata["valid_until"] == "长期"
    assert metadata["holder_code"] == "110105********002X"
    assert metadata["defining_authority"] == "文化和旅游部"
    assert licence_metadata(licence, GUIDE, holder_code="clear")["holder_code"] == "clear"
    with pytest.raises(ValueError):
        licence_metadata(licence, BUSINESS)


def test_types_are_registered_once(services: Services, licences: LicenceService) -> None:
    assert [t.code for t in licences.list_types()] == sorted(
        [BUSINESS_LICENCE, FOOD_BUSINESS_LICENCE, TOUR_GUIDE_CARD]
    )
    food = licences.get_type(FOOD_BUSINESS_LICENCE)
    assert (food.validity_years, food.seal_id, food.fields_schema["type"]) == (
        5,
        "seal-demo-1",
        "object",
    )
    with pytest.raises(ProblemError) as info:
        licences.register_type(food, ADMIN)
    assert info.value.problem.status == 409
    with pytest.raises(ProblemError) as info:
        licences.get_type("11100000MB0143028R999")
    assert info.value.problem.status == 404
    registered = [e for e in audit_entries(services) if e.event.object_type == "licence_type"]
    assert len(registered) == 3
