"""Bulk import of existing licences from CSV (certs/csv_import.py, certs/bulk_import.py), on
both backends: a good file, bad rows of every kind, file-level problems, an idempotent
re-run (with and without legacy licence numbers), all-or-nothing, dry run; each imported
licence with its history event, audit entry and import record; no clear resident ID number
in any report."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from certs.bulk_import import ImportReport, LicenceImporter
from certs.csv_import import InvalidLicenceCsv
from certs.demo_types import BUSINESS_LICENCE, FOOD_BUSINESS_LICENCE, TOUR_GUIDE_CARD
from certs.demo_types import demo_licence_types as demo_types
from certs.errors import LicenceTypeNotFound
from certs.lifecycle import LicenceState
from core.db.base import Base
from core.services import Services
from tests.certs.conftest import (
    ADMIN,
    COMPANY_USCC,
    ISSUER,
    ISSUER_NAME,
    OTHER_ISSUER,
    PERSON_ID,
    audit_entries,
    table_counts,
)
from tests.conftest import FrozenClock

PERSON_2 = "350102198001010011"
BAD_CHECK_DIGIT = "110105194912310021"  # PERSON_ID with a wrong check character
GUIDE_HEADER = (
    "licence_number,holder_name,holder_code_type,holder_code,issued_on,valid_from,valid_until,"
    "field.name,field.sex,field.language,field.level,field.issuing_authority"
)


def guide_row(
    number: str = "",
    name: str = "李四",
    code: str = PERSON_ID,
    issued: str = "2025-03-01",
    valid_from: str = "2025-03-01",
    valid_until: str = "",
    sex: str = "女",
) -> str:
    return (
        f"{number},{name},111,{code},{issued},{valid_from},{valid_until},"
        f"{name},{sex},英语,中级,吉林省文化和旅游厅"
    )


def csv_of(*lines: str, header: str = GUIDE_HEADER) -> bytes:
    return ("\r\n".join([header, *lines]) + "\r\n").encode("utf-8")


@pytest.fixture
def importer(services: Services, clock: FrozenClock) -> LicenceImporter:
    service = LicenceImporter(services.sessions, services.identifiers, services.audit, clock)
    for licence_type in demo_types(seal_id="seal-demo-1"):
        service.register_type(licence_type, ADMIN)
    return service


def run(
    importer: LicenceImporter, data: bytes, type_code: str = TOUR_GUIDE_CARD, **kw: Any
) -> ImportReport:
    report = importer.import_csv(data, type_code, ISSUER, ISSUER_NAME, ADMIN, **kw)
    assert PERSON_ID not in repr(report) and PERSON_2 not in repr(report)
    assert BAD_CHECK_DIGIT not in repr(report)
    return report


def statuses(report: ImportReport) -> list[tuple[int, str]]:
    return [(row.row, row.status) for row in report.rows]


def import_rows(services: Services) -> list[tuple[str, str, int]]:
    with services.sessions() as session:
        query = text("SELECT source_key, identifier, row_number FROM licence_imports ORDER BY id")
        return [(str(a), str(b), int(c)) for a, b, c in session.execute(query)]


def test_migration_matches_the_models(services: Services) -> None:
    with services.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    watched = ("licence_imports", "licence_accesses", "'purpose'")
    assert [d for d in diff if any(name in repr(d) for name in watched)] == []


def test_a_good_file_is_imported_with_history_audit_and_import_records(
    services: Services, importer: LicenceImporter
) -> None:
    data = csv_of(
        guide_row(number="D-2025-001"),
        guide_row(name="王五", code=PERSON_2, valid_until="2027-12-31"),
    )
    report = run(importer, data)
    assert statuses(report) == [(2, "imported"), (3, "imported")]
    assert report.complete and report.counts["imported"] == 2
    first, second = report.rows
    assert first.licence_number == "D-2025-001"
    assert first.holder_code_masked == "110105********002X"
    licence = importer.get(str(first.identifier))
    assert (licence.licence_number, licence.state, licence.version) == (
        "D-2025-001",
        LicenceState.VALID,
        1,
    )
    assert (licence.issued_on, licence.valid_from) == (date(2025, 3, 1), date(2025, 3, 1))
    assert licence.valid_until == date(2028, 2, 29)  # 3 years from the type's rule
    assert licence.fields["sex"] == "女" and licence.holder_code_masked == "110105********002X"
    assert importer.holder_code(licence.identifier) == PERSON_ID  # encrypted, readable
    other = importer.get(str(second.identifier))
    assert other.valid_until == date(2027, 12, 31)
    assert other.licence_number == second.licence_number  # numbered like a new licence
    assert [x.identifier for x in importer.search_by_holder(PERSON_2)] == [other.identifier]
    [event] = importer.history(licence.identifier)
    assert (event.event, event.to_state, event.actor, event.reason) == (
        "issue",
        LicenceState.VALID,
        ADMIN,
        "imported",
    )
    entries = audit_entries(services)
    issued = [e for e in entries if e.event.object_id == licence.identifier]
    assert [e.event.action for e in issued] == ["licence.issued"]
    assert issued[0].event.details["imported_batch"] == report.batch_id
    assert issued[0].event.details["imported_row"] == 2
    [batch] = [e for e in entries if e.event.action == "licence_import.completed"]
    assert batch.event.object_id == report.batch_id
    assert batch.event.details["imported"] == 2
    text_of_trail = json.dumps([e.event.details for e in entries], ensure_ascii=False)
    assert PERSON_ID not in text_of_trail and PERSON_2 not in text_of_trail
    keys = import_rows(services)
    assert [(k.split(":")[0], row) for k, _, row in keys] == [("number", 2), ("row", 3)]
    assert PERSON_2 not in keys[1][0]


def test_bad_rows_are_rejected_with_reasons_and_the_rest_imported(
    services: Services, importer: LicenceImporter
) -> None:
    data = csv_of(
        guide_row(number="G-1"),
        guide_row(number="G-2", code=BAD_CHECK_DIGIT),
        guide_row(number="G-3", sex="未知"),
        guide_row(number="G-4", issued="2025-13-01"),
        guide_row(number="G-1", name="李四"),
        guide_row(number="G-6", valid_from="2020-01-01", valid_until="2021-01-01"),
        guide_row(number="G-7", name=""),
        "G-8,赵六,111",
        guide_row(number="G-9", valid_until="长期"),
        guide_row(number="G-10", issued="2027-01-01"),
    )
    report = run(importer, data)
    by_row = {row.row: row for row in report.rows}
    assert statuses(report) == [
        (2, "imported"),
        *[(n, "rejected") for n in range(3, 12)],
    ]
    assert "not a valid resident ID number" in str(by_row[3].error)
    assert by_row[3].holder_code_masked == "110105********0021"
    assert "field.sex" in str(by_row[4].error) and "未知" not in str(by_row[4].error)
    assert "issued_on is not a real calendar date" in str(by_row[5].error)
    assert by_row[6].error == "duplicate of row 2"
    assert by_row[7].error == "the licence has already expired"
    assert "holder_name" in str(by_row[8].error)
    assert by_row[9].error == "the row has 3 cells, the header 12"
    assert "长期" in str(by_row[10].error)
    assert by_row[11].error == "issued_on is in the future"
    assert report.counts == {
        "imported": 1,
        "already_imported": 0,
        "rejected": 9,
        "valid": 0,
        "not_imported": 0,
    }
    assert not report.complete
    assert table_counts(services)["licences"] == 1


def test_a_validity_past_the_last_date_rejects_the_row_not_the_file(
    importer: LicenceImporter,
) -> None:
    data = csv_of(
        guide_row(number="G-1"), guide_row(number="G-2", valid_from="9999-06-01", valid_until="")
    )
    report = run(importer, data)
    assert statuses(report) == [(2, "imported"), (3, "rejected")]
    assert "the last date there is" in str(report.rows[1].error)


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (GUIDE_HEADER.replace("holder_code,", ""), "missing columns: holder_code"),
        (GUIDE_HEADER + ",remarks", "unknown columns: remarks"),
        (GUIDE_HEADER + ",field.nickname", "unknown columns: field.nickname"),
        (GUIDE_HEADER + ",holder_name", "the column holder_name appears twice"),
    ],
)
def test_a_bad_header_rejects_the_whole_file(
    services: Services, importer: LicenceImporter, header: str, detail: str
) -> None:
    before = table_counts(services)
    with pytest.raises(InvalidLicenceCsv) as raised:
        run(importer, csv_of(guide_row(), header=header))
    assert raised.value.problem.status == 422
    assert detail in str(raised.value.problem.detail)
    assert table_counts(services) == before


@pytest.mark.parametrize(
    ("first_line", "shown"),
    [
        # a file saved without its header row
        (f"李四,{PERSON_ID},2025-03-01,2025-03-02", "unknown columns: 李四, 110105********002X"),
        (f"{PERSON_2},李四,{PERSON_2}", "the column 350102********0011 appears twice"),
        ("张" * 60 + PERSON_ID, "unknown columns: " + "张" * 40 + " "),
        (PERSON_ID + "张" * 60, "unknown columns: 110105********002X" + "张" * 22 + " "),
    ],
)
def test_a_bad_header_never_shows_an_id_number(
    importer: LicenceImporter, first_line: str, shown: str
) -> None:
    """The columns an error names may be a licence row: ID numbers in them are masked, and a
    long column name is cut."""
    with pytest.raises(InvalidLicenceCsv) as raised:
        run(importer, csv_of(guide_row(), header=first_line))
    detail = str(raised.value.problem.detail)
    assert shown in detail
    assert PERSON_ID not in detail and PERSON_2 not in detail
    assert "张" * 41 not in detail


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"", "the file is empty"),
        (GUIDE_HEADER.encode() + b"\r\n", "no licence rows"),
        ("licence_number,holder_name\r\n".encode("gbk") + "张三".encode("gbk"), "not UTF-8"),
        (csv_of('x,"unterminated'), "not valid CSV"),
    ],
)
def test_unreadable_files_are_refused(
    services: Services, importer: LicenceImporter, data: bytes, detail: str
) -> None:
    before = table_counts(services)
    with pytest.raises(InvalidLicenceCsv) as raised:
        run(importer, data)
    assert detail in str(raised.value.problem.detail)
    assert table_counts(services) == before


def test_running_the_same_file_again_creates_nothing(
    services: Services, importer: LicenceImporter
) -> None:
    data = csv_of(guide_row(number="R-1"), guide_row(name="王五", code=PERSON_2))
    first = run(importer, data)
    after_first = table_counts(services)
    again = run(importer, data)
    assert statuses(again) == [(2, "already_imported"), (3, "already_imported")]
    assert [r.identifier for r in again.rows] == [r.identifier for r in first.rows]
    assert again.complete
    assert table_counts(services) == after_first
    # a legacy number already carried by a licence of this type and issuer counts too
    issued = importer.issue(
        TOUR_GUIDE_CARD, ISSUER, ISSUER_NAME, "王五", PERSON_2, _guide("王五"), date.today(), ADMIN
    )
    clash = run(importer, csv_of(guide_row(number=issued.licence_number)))
    [row] = clash.rows
    assert row.status == "rejected" and "form of the numbers" in str(row.error)


def _guide(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "sex": "女",
        "language": "英语",
        "level": "中级",
        "issuing_authority": "吉林省文化和旅游厅",
    }


def test_same_number_for_another_issuer_is_another_licence(
    importer: LicenceImporter,
) -> None:
    data = csv_of(guide_row(number="N-1"))
    run(importer, data)
    other = importer.import_csv(data, TOUR_GUIDE_CARD, OTHER_ISSUER, "另一机关", ADMIN)
    assert statuses(other) == [(2, "imported")]


def test_all_or_nothing_imports_nothing_when_a_row_is_bad(
    services: Services, importer: LicenceImporter
) -> None:
    before = table_counts(services)
    bad = csv_of(guide_row(number="A-1"), guide_row(number="A-2", code=BAD_CHECK_DIGIT))
    report = run(importer, bad, mode="all_or_nothing")
    assert statuses(report) == [(2, "not_imported"), (3, "rejected")]
    assert "other rows" in str(report.rows[0].error)
    assert table_counts(services) == before
    good = csv_of(guide_row(number="A-1"), guide_row(number="A-2", code=PERSON_2))
    assert statuses(run(importer, good, mode="all_or_nothing")) == [
        (2, "imported"),
        (3, "imported"),
    ]


def test_dry_run_checks_and_writes_nothing(services: Services, importer: LicenceImporter) -> None:
    before = table_counts(services)
    report = run(importer, csv_of(guide_row(number="D-1"), guide_row(sex="?")), dry_run=True)
    assert statuses(report) == [(2, "valid"), (3, "rejected")]
    assert table_counts(services) == before


def test_organisation_licences_with_array_and_json_fields(importer: LicenceImporter) -> None:
    header = (
        "licence_number,holder_name,holder_code,issued_on,valid_from,"
        "field.operator,field.business_premises,field.main_business,field.business_items"
    )
    rows = [
        f"JY1,长春示例餐饮有限公司,{COMPANY_USCC},2024-06-01,2024-06-01,长春示例餐饮有限公司,"
        "吉林省长春市朝阳区西安大路2号,餐饮服务经营者,热食类食品制售；冷食类食品制售",
        f"JY2,长春示例餐饮有限公司,{COMPANY_USCC},2024-06-01,2024-06-01,长春示例餐饮有限公司,"
        '吉林省长春市朝阳区西安大路2号,餐饮服务经营者,"[""热食类食品制售""]"',
        f"JY3,长春示例餐饮有限公司,{PERSON_ID},2024-06-01,2024-06-01,长春示例餐饮有限公司,"
        "吉林省长春市朝阳区西安大路2号,餐饮服务经营者,热食类食品制售",
    ]
    report = run(importer, csv_of(*rows, header=header), FOOD_BUSINESS_LICENCE)
    assert statuses(report) == [(2, "imported"), (3, "imported"), (4, "rejected")]
    assert "unified social credit code" in str(report.rows[2].error)
    assert report.rows[2].holder_code_masked == "110105********002X"
    licence = importer.get(str(report.rows[0].identifier))
    assert licence.fields["business_items"] == ["热食类食品制售", "冷食类食品制售"]
    assert importer.get(str(report.rows[1].identifier)).fields["business_items"] == [
        "热食类食品制售"
    ]


def test_a_json_cell_nested_too_deeply_rejects_its_row(importer: LicenceImporter) -> None:
    header = (
        "licence_number,holder_name,holder_code,issued_on,valid_from,"
        "field.operator,field.business_premises,field.main_business,field.business_items"
    )
    row = (
        f"JY1,长春示例餐饮有限公司,{COMPANY_USCC},2024-06-01,2024-06-01,长春示例餐饮有限公司,"
        "吉林省长春市朝阳区西安大路2号,餐饮服务经营者,"
    )
    report = run(importer, csv_of(row + "[" * 3000, header=header), FOOD_BUSINESS_LICENCE)
    assert statuses(report) == [(2, "rejected")]
    assert "field.business_items is not valid JSON" in str(report.rows[0].error)


def test_long_term_type_and_unknown_type(importer: LicenceImporter) -> None:
    header = (
        "holder_name,holder_code,issued_on,valid_from,valid_until,field.name,field.type,"
        "field.legal_representative,field.registered_capital,field.established,field.address,"
        "field.business_scope"
    )
    fields = "长春示例科技有限公司,有限责任公司,张三,伍佰万元整,2020-05-01,吉林省长春市,软件开发"
    rows = [
        f"长春示例科技有限公司,{COMPANY_USCC},2020-05-01,2020-05-01,,{fields}",
        f"长春示例科技有限公司,{COMPANY_USCC},2020-05-02,2020-05-01,长期,{fields}",
        f"长春示例科技有限公司,{COMPANY_USCC},2020-05-03,2020-05-01,2030-01-01,{fields}",
    ]
    report = run(importer, csv_of(*rows, header=header), BUSINESS_LICENCE)
    assert statuses(report) == [(2, "imported"), (3, "imported"), (4, "rejected")]
    assert importer.get(str(report.rows[0].identifier)).valid_until is None
    with pytest.raises(LicenceTypeNotFound):
        run(importer, csv_of(guide_row()), "11100000MB0143028R999")
