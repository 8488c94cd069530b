"""Licence administration, the steps that make licences: types, issue from a form made from
the type's JSON Schema (holder code never in a URL, masked on the confirmation), change /
reissue / renew with a reason and a confirmation showing old → new, paper prints, and a
CSV import with a trial first. Nothing changes before the confirmation; bad input gets the
form again; another authority's administrator or a citizen gets 403/404."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from certs.access import Caller
from certs.demo_types import FOOD_BUSINESS_LICENCE, TOUR_GUIDE_CARD, demo_licence_types
from certs.service import LicenceService
from core.audit.entry import parse_entry
from tests.console.conftest import (
    Demo,
    assert_control_characters_refused,
    csrf_of,
    import_licence,
    log_in,
)

ISSUE = f"/console/admin/licence-types/{TOUR_GUIDE_CARD}/issue"
FOOD_ISSUE = f"/console/admin/licence-types/{FOOD_BUSINESS_LICENCE}/issue"
PENDING = re.compile(r'name="pending" value="([0-9a-f]{32})"')


def _licences(demo: Demo) -> LicenceService:
    s = demo.services
    return LicenceService(s.sessions, s.identifiers, s.audit, s.keys.clock)


def _actions(demo: Demo) -> list[str]:
    with demo.services.sessions() as session:
        return [
            parse_entry(e.entry).event.action for e in demo.services.audit.store.entries(session)
        ]


def _guide_form(code: str, **extra: str) -> dict[str, str]:
    return {
        "step": "review",
        "holder_name": "林晓",
        "holder_code": code,
        "valid_from": "2026-01-05",
        "field.name": "林晓",
        "field.sex": "女",
        "field.language": "英语",
        "field.level": "中级",
        "field.issuing_authority": "福州市文化和旅游局",
        **extra,
    }


def test_licence_types_and_one_types_fields(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "admin")
    types = browser.get("/console/admin/licence-types")
    assert types.status_code == 200 and "导游证" in types.text and "食品经营许可证" in types.text
    one = browser.get(f"/console/admin/licence-types/{FOOD_BUSINESS_LICENCE}")
    assert one.status_code == 200
    assert "business_items" in one.text and "多项（每行一项）" in one.text
    assert "餐饮服务经营者" in one.text  # the enum's options
    assert browser.get("/console/admin/licence-types/NOPE").status_code in (400, 404)
    english = browser.get("/console/admin/licence-types?lang=en")
    assert "Licence types" in english.text


def test_issue_a_licence_after_a_confirmation(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "admin")
    form = browser.get(ISSUE)
    assert form.status_code == 200
    assert 'name="field.sex"' in form.text and "<select" in form.text
    code = demo.user("agent")["id_number"]
    before = len(_actions(demo))
    review = browser.post(ISSUE, data={**_guide_form(code), "csrf": csrf_of(form.text)})
    assert review.status_code == 200, review.text[:500]
    assert code not in review.text  # masked on the confirmation, and not in a hidden input
    assert f"{code[:6]}********{code[-4:]}" in review.text
    assert "确认签发" in review.text and "中级" in review.text
    assert len(_actions(demo)) == before  # nothing issued yet
    pending = PENDING.search(review.text)
    assert pending
    done = browser.post(
        ISSUE,
        data={"csrf": csrf_of(review.text), "step": "confirm", "pending": pending.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    location = done.headers["location"]
    assert location.endswith("?done=issue") and code not in location
    page = browser.get(location)
    assert "证照已签发" in page.text and "林晓" in page.text and code not in page.text
    assert "licence.issued" in _actions(demo)[before:]
    again = browser.post(  # the pending issue is used up
        ISSUE, data={"csrf": csrf_of(review.text), "step": "confirm", "pending": pending.group(1)}
    )
    assert again.status_code == 409


def test_a_confirmation_sent_twice_at_once_issues_one_licence(
    demo: Demo, browser: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A double click on "confirm": both requests read the pending issue before either
    issues it; each waits for the other there, so both would issue if using up the step
    were not single-use. One licence, and a 409 for the other request."""
    log_in(browser, demo, "admin")
    form = browser.get(ISSUE)
    review = browser.post(
        ISSUE, data={**_guide_form(demo.user("agent")["id_number"]), "csrf": csrf_of(form.text)}
    )
    pending = PENDING.search(review.text)
    assert pending
    meeting = threading.Barrier(2)
    authority = Caller.authority

    def slow_authority(admin: Caller, uscc: str) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            meeting.wait(timeout=1)  # the other request has read the pending issue too
        return authority(admin, uscc)

    monkeypatch.setattr(Caller, "authority", slow_authority)
    before = _actions(demo).count("licence.issued")
    data = {"csrf": csrf_of(review.text), "step": "confirm", "pending": pending.group(1)}
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(lambda _: browser.post(ISSUE, data=data, follow_redirects=False), (1, 2))
        )
    assert sorted(a.status_code for a in answers) == [303, 409]
    assert _actions(demo).count("licence.issued") == before + 1


def test_bad_input_gets_the_form_again(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "admin")
    form = browser.get(ISSUE)
    bad = "110105194912310020"  # wrong check digit
    refused = browser.post(
        ISSUE,
        data={
            **_guide_form(bad, **{"field.sex": "其他", "field.language": ""}),
            "csrf": csrf_of(form.text),
        },
    )
    assert refused.status_code == 422
    assert bad not in refused.text  # the code is typed again, never shown back
    assert 'id="holder_code-error"' in refused.text
    assert 'id="f-sex-error"' in refused.text and 'id="f-language-error"' in refused.text
    assert 'value="福州市文化和旅游局"' in refused.text  # the rest is kept
    stale = browser.post(
        ISSUE, data={"csrf": csrf_of(form.text), "step": "confirm", "pending": "0" * 32}
    )
    assert stale.status_code == 409
    food = browser.get(FOOD_ISSUE)
    company = demo.data["idp"]["organisation"]["uscc"]
    review = browser.post(
        FOOD_ISSUE,
        data={
            "csrf": csrf_of(food.text),
            "holder_name": "某公司",
            "holder_code": company,
            "valid_from": "2026-02-01",
            "field.operator": "某公司",
            "field.business_premises": "福州市鼓楼区",
            "field.main_business": "单位食堂",
            "field.business_items": "热食类食品制售\n冷食类食品制售\n",
        },
    )
    assert review.status_code == 200, review.text[:500]
    assert "热食类食品制售；冷食类食品制售" in review.text


def test_a_json_field_nested_too_deeply_is_a_field_error(demo: Demo, browser: TestClient) -> None:
    """A type with a field typed as JSON (an integer here): thousands of "[" in it exhausted
    the parser's recursion, a 500; now the field is marked as not valid JSON."""
    guide = next(t for t in demo_licence_types() if t.code == TOUR_GUIDE_CARD)
    schema = dict(guide.fields_schema)
    schema["properties"] = {**schema["properties"], "years": {"type": "integer"}}
    code = TOUR_GUIDE_CARD[:-3] + "009"
    _licences(demo).register_type(
        dataclasses.replace(guide, code=code, name="测试证", fields_schema=schema), "test"
    )
    log_in(browser, demo, "admin")
    issue = f"/console/admin/licence-types/{code}/issue"
    form = browser.get(issue)
    assert 'name="field.years"' in form.text
    data = _guide_form(demo.user("agent")["id_number"], **{"field.years": "[" * 3000})
    refused = browser.post(issue, data={**data, "csrf": csrf_of(form.text)})
    assert refused.status_code == 422
    assert 'id="f-years-error"' in refused.text and "不是有效的 JSON" in refused.text


def test_a_control_character_in_the_form_is_refused(demo: Demo, browser: TestClient) -> None:
    """Whatever input it is in (a field, the holder's name): nothing is kept for confirmation."""
    log_in(browser, demo, "admin")
    form = browser.get(ISSUE)
    agent = demo.user("agent")["id_number"]
    for bad in ({"field.language": "英\x00语"}, {"holder_name": "林\x1b晓"}):
        refused = browser.post(
            ISSUE, data={**_guide_form(agent, **bad), "csrf": csrf_of(form.text)}
        )
        assert_control_characters_refused(refused)
        assert not PENDING.search(refused.text)


def test_others_may_not_issue(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "citizen")
    assert browser.get("/console/admin/licence-types").status_code == 403
    assert browser.get(ISSUE).status_code == 403
    page = browser.get("/console/")
    refused = browser.post(
        ISSUE, data={**_guide_form(demo.user("agent")["id_number"]), "csrf": csrf_of(page.text)}
    )
    assert refused.status_code == 403
    no_csrf = TestClient(browser.app, base_url="https://govtrust.test")
    log_in(no_csrf, demo, "admin")
    assert no_csrf.post(ISSUE, data=_guide_form("x")).status_code == 403


def _confirm_change(browser: TestClient, identifier: str, review: str) -> str:
    """Confirm the change reviewed on the page ``review``; the new version's identifier."""
    pending = PENDING.search(review)
    assert pending
    done = browser.post(
        f"/console/admin/licences/{identifier}/change",
        data={"csrf": csrf_of(review), "step": "confirm", "pending": pending.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    return str(done.headers["location"].split("/")[-1].split("?")[0])


def test_change_shows_old_and_new_then_a_new_version(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "admin")
    guide = demo.licence("tour_guide_card")
    form = browser.get(f"/console/admin/licences/{guide}/change")
    assert form.status_code == 200
    prefilled = re.search(r'name="field.language" value="([^"]*)"', form.text)
    assert prefilled and prefilled.group(1)
    current = _licences(demo).get(guide)
    data = {"csrf": csrf_of(form.text), "step": "review", "reason": "晋升等级"}
    data |= {f"field.{key}": str(value) for key, value in current.fields.items()}
    data["holder_name"] = current.holder_name
    data["field.level"] = "高级"
    review = browser.post(f"/console/admin/licences/{guide}/change", data=data)
    assert review.status_code == 200, review.text[:800]
    assert review.text.count('data-testid="changed-field"') == 1
    assert "高级" in review.text
    assert _licences(demo).get(guide).state.value == "valid"  # nothing changed yet
    new_id = _confirm_change(browser, guide, review.text)
    assert _licences(demo).get(guide).state.value == "superseded"
    new = _licences(demo).get(new_id)
    assert new.version == 2 and new.fields["level"] == "高级"
    unchanged = browser.post(
        f"/console/admin/licences/{new_id}/change",
        data={**data, "csrf": csrf_of(review.text)},
    )
    assert unchanged.status_code == 422 and "没有任何变化" in unchanged.text


def test_the_change_form_masks_an_id_number_and_keeps_it_when_sent_back(
    demo: Demo, browser: TestClient
) -> None:
    licences = _licences(demo)
    guide = demo.licence("tour_guide_card")
    number = demo.user("agent")["id_number"]
    current = licences.get(guide)
    affiliation = f"某旅行社（联系人身份证{number}）"
    held = licences.change(guide, {**current.fields, "affiliation": affiliation}, "导入", "t")
    log_in(browser, demo, "admin")
    form = browser.get(f"/console/admin/licences/{held.identifier}/change")
    assert form.status_code == 200 and number not in form.text  # masked, as everywhere
    prefilled = re.search(r'name="field.affiliation" value="([^"]*)"', form.text)
    assert prefilled and "*" in prefilled.group(1)
    data = {"csrf": csrf_of(form.text), "step": "review", "reason": "晋升等级"}
    data |= {f"field.{key}": str(value) for key, value in held.fields.items()}
    data["field.affiliation"] = prefilled.group(1)  # sent back as shown
    data["holder_name"] = held.holder_name
    data["field.level"] = "高级"
    review = browser.post(f"/console/admin/licences/{held.identifier}/change", data=data)
    assert review.status_code == 200, review.text[:800]
    assert review.text.count('data-testid="changed-field"') == 1 and number not in review.text
    changed = licences.get(_confirm_change(browser, held.identifier, review.text))
    assert changed.fields["affiliation"] == affiliation  # kept as stored, not the mask
    assert changed.fields["level"] == "高级"


def test_reissue_and_renew_with_reasons(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "admin")
    guide = demo.licence("tour_guide_card")
    form = browser.get(f"/console/admin/licences/{guide}/reissue")
    csrf = csrf_of(form.text)
    no_reason = browser.post(f"/console/admin/licences/{guide}/reissue", data={"csrf": csrf})
    assert no_reason.status_code == 422
    review = browser.post(
        f"/console/admin/licences/{guide}/reissue", data={"csrf": csrf, "reason": "遗失补发"}
    )
    assert review.status_code == 200 and "确认补发" in review.text
    assert _licences(demo).get(guide).state.value == "valid"
    pending = PENDING.search(review.text)
    assert pending
    done = browser.post(
        f"/console/admin/licences/{guide}/reissue",
        data={"csrf": csrf, "step": "confirm", "pending": pending.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    second = done.headers["location"].split("/")[-1].split("?")[0]
    assert _licences(demo).get(second).version == 2
    current = _licences(demo).get(second)
    assert current.valid_until is not None
    too_early = browser.post(
        f"/console/admin/licences/{second}/renew",
        data={"csrf": csrf, "reason": "延续", "valid_until": current.valid_until.isoformat()},
    )
    assert too_early.status_code == 422 and 'id="valid_until-error"' in too_early.text
    later = current.valid_until.replace(year=current.valid_until.year + 3).isoformat()
    review = browser.post(
        f"/console/admin/licences/{second}/renew",
        data={"csrf": csrf, "reason": "到期延续", "valid_until": later},
    )
    assert review.status_code == 200 and f'data-testid="new-valid-until">{later}<' in review.text
    pending = PENDING.search(review.text)
    assert pending
    done = browser.post(
        f"/console/admin/licences/{second}/renew",
        data={"csrf": csrf, "step": "confirm", "pending": pending.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    third = _licences(demo).get(done.headers["location"].split("/")[-1].split("?")[0])
    assert third.version == 3 and third.valid_until is not None
    assert third.valid_until.isoformat() == later
    business = demo.licence("business_licence")  # long-term: not renewed
    assert browser.get(f"/console/admin/licences/{business}/renew").status_code == 409
    # the state changes still belong to licence_admin
    assert browser.get(f"/console/admin/licences/{business}/suspend").status_code == 200


def test_record_a_print_download_it_and_report_it_lost(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "admin")
    guide = demo.licence("tour_guide_card")
    page = browser.get(f"/console/admin/licences/{guide}")
    printed = browser.post(
        f"/console/admin/licences/{guide}/prints",
        data={"csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert printed.status_code == 303
    serial = re.search(r"serial=([0-9A-F]{16})", printed.headers["location"])
    assert serial
    shown = browser.get(printed.headers["location"])
    assert f"已登记打印，打印序号 {serial.group(1)}" in shown.text
    pdf = browser.get(f"/console/admin/licence-prints/{serial.group(1)}/document.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    lost = f"/console/admin/licence-prints/{serial.group(1)}/lost"
    form = browser.get(lost)
    assert form.status_code == 200
    assert browser.post(lost, data={"csrf": csrf_of(form.text)}).status_code == 422
    review = browser.post(lost, data={"csrf": csrf_of(form.text), "reason": "持证人遗失"})
    assert review.status_code == 200 and 'data-testid="new-print-status">已挂失<' in review.text
    assert _licences(demo).print_status(serial.group(1)).verdict == "valid"
    done = browser.post(
        lost,
        data={"csrf": csrf_of(form.text), "reason": "持证人遗失", "step": "confirm"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert _licences(demo).print_status(serial.group(1)).verdict == "print_lost"
    assert browser.get(lost).status_code == 409
    assert browser.get("/console/admin/licence-prints/0000000000000000/lost").status_code == 404


def test_a_print_of_a_licence_numbered_outside_latin_1_downloads(
    demo: Demo, browser: TestClient
) -> None:
    legacy = import_licence(demo, "闽导字第0001号")
    serial = _licences(demo).record_print(legacy, "test")
    log_in(browser, demo, "admin")
    pdf = browser.get(f"/console/admin/licence-prints/{serial}/document.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    name = f"licence-闽导字第0001号-v1-print-{serial}.pdf"
    assert pdf.headers["content-disposition"] == (
        f'attachment; filename="licence-_0001_-v1-print-{serial}.pdf"; '
        f"filename*=UTF-8''{quote(name)}"
    )


def test_a_citizen_cannot_print_or_download(demo: Demo, browser: TestClient) -> None:
    guide = demo.licence("tour_guide_card")
    serial = _licences(demo).record_print(guide, "test")
    log_in(browser, demo, "citizen")
    assert browser.get(f"/console/admin/licence-prints/{serial}/document.pdf").status_code == 403
    page = browser.get("/console/")
    refused = browser.post(
        f"/console/admin/licences/{guide}/prints", data={"csrf": csrf_of(page.text)}
    )
    assert refused.status_code == 403
    assert len(_licences(demo).prints(guide)) == 1


def _csv(demo: Demo) -> bytes:
    agent = demo.user("agent")["id_number"]
    header = (
        "holder_name,holder_code,issued_on,valid_from,"
        "field.name,field.sex,field.language,field.issuing_authority"
    )
    rows = [
        f"王五,{agent},2025-03-01,2025-03-01,王五,男,日语,福州市文化和旅游局",
        "赵六,110105194912310020,2025-03-01,2025-03-01,赵六,男,日语,福州市文化和旅游局",
    ]
    return ("\n".join([header, *rows]) + "\n").encode()


def test_csv_import_trial_first_then_import(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "admin")
    url = f"/console/admin/licence-types/{TOUR_GUIDE_CARD}/import"
    form = browser.get(url)
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text
    before = _actions(demo).count("licence.issued")
    trial = browser.post(
        url,
        data={"csrf": csrf_of(form.text), "mode": "valid_rows"},
        files={"file": ("guides.csv", _csv(demo), "text/csv")},
        follow_redirects=False,
    )
    assert trial.status_code == 303, trial.text[:500]
    report = browser.get(trial.headers["location"])
    assert report.status_code == 200 and "试导入结果" in report.text
    assert report.text.count('data-testid="report-row"') == 2
    assert "可以导入" in report.text and "有问题" in report.text
    agent = demo.user("agent")["id_number"]
    assert agent not in report.text and "110105194912310020" not in report.text
    assert _actions(demo).count("licence.issued") == before  # nothing written by the trial
    rejected = browser.get(trial.headers["location"] + "?status=rejected")
    assert rejected.text.count('data-testid="report-row"') == 1
    file_id = re.search(r'name="file" value="([0-9a-f]{32})"', report.text)
    assert file_id
    strict = browser.post(
        f"{url}/confirm",
        data={"csrf": csrf_of(report.text), "file": file_id.group(1), "mode": "all_or_nothing"},
        follow_redirects=False,
    )
    assert strict.status_code == 303
    nothing = browser.get(strict.headers["location"])
    assert "未导入" in nothing.text and _actions(demo).count("licence.issued") == before
    again = browser.post(
        url,
        data={"csrf": csrf_of(form.text), "mode": "valid_rows"},
        files={"file": ("guides.csv", _csv(demo), "text/csv")},
        follow_redirects=False,
    )
    report = browser.get(again.headers["location"])
    file_id = re.search(r'name="file" value="([0-9a-f]{32})"', report.text)
    assert file_id
    done = browser.post(
        f"{url}/confirm",
        data={"csrf": csrf_of(report.text), "file": file_id.group(1), "mode": "valid_rows"},
        follow_redirects=False,
    )
    result = browser.get(done.headers["location"])
    assert "导入结果" in result.text and "已导入" in result.text
    assert _actions(demo).count("licence.issued") == before + 1
    assert agent not in result.text


def test_a_bad_csv_file_gets_the_form_again(demo: Demo, browser: TestClient) -> None:
    log_in(browser, demo, "admin")
    url = f"/console/admin/licence-types/{TOUR_GUIDE_CARD}/import"
    form = browser.get(url)
    for content in (b"nonsense,column\n1,2\n", b""):
        refused = browser.post(
            url,
            data={"csrf": csrf_of(form.text)},
            files={"file": ("x.csv", content, "text/csv")},
        )
        assert refused.status_code == 422, content
        assert 'enctype="multipart/form-data"' in refused.text
    expired = browser.post(f"{url}/confirm", data={"csrf": csrf_of(form.text), "file": "ab" * 16})
    assert expired.status_code == 409
    assert browser.get(f"{url}/{'ab' * 16}").status_code == 404


def test_search_results_filter_by_state_and_type_on_the_server(
    demo: Demo, browser: TestClient
) -> None:
    log_in(browser, demo, "admin")
    page = browser.get("/console/admin/licences")
    posted = browser.post(
        "/console/admin/licences/search",
        data={
            "csrf": csrf_of(page.text),
            "by": "holder",
            "value": demo.user("citizen")["id_number"],
        },
        follow_redirects=False,
    )
    url = posted.headers["location"]
    assert "导游证" in browser.get(url).text.split('id="results-heading"')[1]
    none = browser.get(f"{url}&state=revoked")
    assert none.status_code == 200 and "没有找到符合条件的证照" in none.text
    typed = browser.get(f"{url}&type={TOUR_GUIDE_CARD}&state=valid")
    assert "导游证" in typed.text.split('id="results-heading"')[1]
    assert browser.get(f"{url}&state=nonsense").status_code == 400
