"""Resident ID numbers (GB 11643-1999, ISO 7064 MOD 11-2)."""

from __future__ import annotations

import pickle
from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from core.identifiers.errors import InvalidIdentifier
from core.identifiers.resident_id import (
    ResidentId,
    check_digit,
    is_valid_resident_id,
    parse_resident_id,
    redact_resident_ids,
)

TODAY = date(2025, 6, 30)
EXAMPLE = "11010519491231002X"  # REFERENCE.md worked example: sum 167, mod 11 = 2 -> X
PROVINCES = [
    *range(11, 16),
    *range(21, 24),
    *range(31, 38),
    *range(41, 47),
    *range(50, 55),
    *range(61, 66),
    71,
    81,
    82,
    83,
]
DIGITS = "0123456789"


def with_check(first17: str) -> str:
    return first17 + check_digit(first17)


def reason_of(text: str, today: date = TODAY) -> str:
    with pytest.raises(InvalidIdentifier) as info:
        parse_resident_id(text, today=today)
    assert info.value.kind == "resident_id"
    if text.strip():
        assert text.strip() not in str(info.value)
        assert all(text.strip() not in repr(arg) for arg in info.value.args)
    return info.value.reason


# --- check digit -------------------------------------------------------------


def test_worked_example_check_digit() -> None:
    assert check_digit(EXAMPLE[:17]) == "X"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    assert sum(int(c) * w for c, w in zip(EXAMPLE[:17], weights, strict=True)) == 167


@pytest.mark.parametrize(
    ("first17", "expected"),
    [("51310119820113001", "4"), ("37010119010203997", "3"), ("34052419800101001", "X")],
)
def test_check_digit_published_examples(first17: str, expected: str) -> None:
    assert check_digit(first17) == expected


@pytest.mark.parametrize("bad", ["", "1101051949123100", "110105194912310021", "1101051949123100A"])
def test_check_digit_rejects_non_17_digit_input(bad: str) -> None:
    with pytest.raises(ValueError):
        check_digit(bad)


# --- parsing: positive and negative side by side ------------------------------


def test_worked_example_parses() -> None:
    rid = parse_resident_id(EXAMPLE, today=TODAY)
    assert rid.value == EXAMPLE
    assert rid.region_code == "110105"
    assert rid.birth_date == date(1949, 12, 31)
    assert rid.sex == "female"
    assert is_valid_resident_id(EXAMPLE)


def test_sex_from_17th_digit() -> None:
    male = parse_resident_id(with_check("11010519491231001"), today=TODAY)
    female = parse_resident_id(with_check("11010519491231002"), today=TODAY)
    assert (male.sex, female.sex) == ("male", "female")


@pytest.mark.parametrize(
    "text",
    [
        "  11010519491231002X\n",
        "11010519491231002x",
        "１１０１０５１９４９１２３１００２Ｘ",
        "１１０１０５１９４９１２３１００２ｘ",
        "\u300011010519491231002X\u3000",
    ],
)
def test_normalisation(text: str) -> None:
    assert parse_resident_id(text, today=TODAY).value == EXAMPLE


def test_length() -> None:
    assert reason_of(EXAMPLE[:17]) == "length"
    assert reason_of(EXAMPLE + "1") == "length"
    assert reason_of("") == "length"
    assert reason_of("110105490101001") == "length"  # first-generation 15 digits: not accepted


@pytest.mark.parametrize(
    "text",
    [
        "1101051949123100X2",  # X not in last position
        "11010519491231002Y",
        "11010519491231002-",
        "110105 1949123100X",
        "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X",  # Arabic-Indic digits are digits, but not ASCII
    ],
)
def test_charset(text: str) -> None:
    assert reason_of(text) == "charset"


def test_check() -> None:
    assert reason_of("110105194912310021") == "check"
    assert reason_of("11010519491231003X") == "check"
    assert not is_valid_resident_id("110105194912310021")


@pytest.mark.parametrize(
    ("body", "today"),
    [
        ("11010519490230002", TODAY),  # 30 February
        ("11010519491301002", TODAY),  # month 13
        ("11010519490000002", TODAY),  # month 0
        ("11010518991231002", TODAY),  # before 1900-01-01
        ("11010520250701002", TODAY),  # tomorrow
        ("11010520250630002", date(2025, 6, 29)),  # born after "today"
    ],
)
def test_birth_date(body: str, today: date) -> None:
    assert reason_of(with_check(body), today=today) == "birth_date"


@pytest.mark.parametrize("body", ["11010519000101002", "11010520250630002", "11010520000229002"])
def test_birth_date_boundaries_accepted(body: str) -> None:
    assert parse_resident_id(with_check(body), today=TODAY).value[:17] == body


def test_birth_date_defaults_to_real_today() -> None:
    assert not is_valid_resident_id(with_check("11010521000101002"))  # year 2100


@pytest.mark.parametrize("prefix", [f"{p:02d}" for p in range(100) if p not in PROVINCES])
def test_region(prefix: str) -> None:
    assert reason_of(with_check(prefix + "010519491231002")) == "region"


@pytest.mark.parametrize("prefix", [f"{p:02d}" for p in PROVINCES])
def test_region_accepted(prefix: str) -> None:
    assert parse_resident_id(with_check(prefix + "010519491231002"), today=TODAY)


def test_direct_construction_validates() -> None:
    assert ResidentId(EXAMPLE).birth_date == date(1949, 12, 31)
    with pytest.raises(InvalidIdentifier):
        ResidentId("110105194912310021")
    with pytest.raises(InvalidIdentifier):
        ResidentId("11010519491231002x")  # not normalised


def test_error_pickles_without_value() -> None:
    err = pickle.loads(pickle.dumps(InvalidIdentifier("resident_id", "check")))
    assert (err.kind, err.reason) == ("resident_id", "check")


# --- masking ----------------------------------------------------------------


def test_masked_form() -> None:
    rid = parse_resident_id(EXAMPLE, today=TODAY)
    assert rid.masked() == "110105********002X"
    assert repr(rid) == str(rid) == f"{rid}" == "110105********002X"
    assert EXAMPLE not in repr([rid]) and EXAMPLE not in f"{rid!r} {rid!s}"


ids = st.builds(
    lambda province, rest, born, seq: with_check(f"{province:02d}{rest}{born:%Y%m%d}{seq}"),
    st.sampled_from(PROVINCES),
    st.text(DIGITS, min_size=4, max_size=4),
    st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    st.text(DIGITS, min_size=3, max_size=3),
)


@given(ids)
def test_any_plausible_body_with_computed_check_parses(number: str) -> None:
    rid = parse_resident_id(number, today=TODAY)
    assert rid.value == number
    assert rid.birth_date == date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


@given(ids)
def test_masked_hides_birth_date_and_repr_hides_value(number: str) -> None:
    rid = parse_resident_id(number, today=TODAY)
    masked = rid.masked()
    assert len(masked) == 18
    assert masked[6:14] == "********"
    assert masked[:6] == number[:6] and masked[14:] == number[14:]
    assert number not in repr(rid) and number not in str(rid)


@given(ids, st.integers(0, 17), st.sampled_from(DIGITS + "X"))
def test_single_character_change_is_rejected(number: str, pos: int, new: str) -> None:
    assume(number[pos] != new)
    changed = number[:pos] + new + number[pos + 1 :]
    assert not is_valid_resident_id(changed)
    assert reason_of(changed) in {"check", "charset"}


@given(ids, st.integers(0, 16), st.sampled_from(DIGITS))
def test_mod_11_2_detects_every_single_digit_substitution(number: str, pos: int, new: str) -> None:
    assume(number[pos] != new)
    assert check_digit(number[:pos] + new + number[pos + 1 : 17]) != number[17]


# --- redaction ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id=11010519491231002X;", "id=110105********002X;"),
        ("身份证号：11010519491231002x，谢谢", "身份证号：110105********002X，谢谢"),
        ("bad check 110105194912310021 too", "bad check 110105********0021 too"),
        ("１１０１０５１９４９１２３１００２Ｘ", "110105********002X"),
        ("a 11010519491231002X b 110105194912310021", "a 110105********002X b 110105********0021"),
        ("11010519491231002X", "110105********002X"),
    ],
)
def test_redact_examples(text: str, expected: str) -> None:
    assert redact_resident_ids(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "card 6222021101051949123100",  # longer digit run: not ID-shaped
        "911010519491231002X",
        "11010519491231002XY",
        "1101051949123100",  # 16 digits
        "no numbers here",
    ],
)
def test_redact_leaves_non_id_shapes(text: str) -> None:
    assert redact_resident_ids(text) == text


@pytest.mark.parametrize("label", ["ID", "id=", "sfz", "身份证"])
def test_redact_masks_a_number_glued_to_a_label(label: str) -> None:
    assert redact_resident_ids(f"{label}11010519491231002X") == f"{label}110105********002X"


def _is_alnum(c: str) -> bool:
    folded = chr(ord(c) - 0xFEE0) if "\uff01" <= c <= "\uff5e" else c
    return folded.isascii() and folded.isalnum()


def _is_digit(c: str) -> bool:
    return c in DIGITS or "\uff10" <= c <= "\uff19"


def id_shaped_substrings(text: str) -> list[str]:
    """Independent reference scan (no regex) for the ID shape."""
    found = []
    for i in range(len(text) - 17):
        window = text[i : i + 18]
        if not all(_is_digit(c) for c in window[:17]):
            continue
        if not (_is_digit(window[17]) or window[17] in "XxＸｘ"):
            continue
        if i > 0 and _is_alnum(text[i - 1]):
            continue
        if i + 18 < len(text) and _is_alnum(text[i + 18]):
            continue
        found.append(window)
    return found


noise = st.text(st.sampled_from("0123456789Xx ab-:;，号\n１Ｘ"), max_size=40)
separator = st.sampled_from([" ", "：", "=", "\n", "(", "号", ",", "，"])


@given(st.lists(st.one_of(noise, ids, st.text(DIGITS, min_size=17, max_size=18)), max_size=6))
def test_redact_removes_every_id_shaped_substring(parts: list[str]) -> None:
    text = "".join(parts)
    assert not id_shaped_substrings(redact_resident_ids(text))


@given(st.text(max_size=30), separator, ids, separator, st.text(max_size=30))
def test_redact_masks_embedded_id(
    before: str, left: str, number: str, right: str, after: str
) -> None:
    text = before + left + number + right + after
    redacted = redact_resident_ids(text)
    expected_middle = left + number[:6] + "********" + number[14:] + right
    assert expected_middle in redacted
    assert not id_shaped_substrings(redacted)
    if number not in before + after:
        assert number not in redacted


def test_reference_scanner_finds_ids() -> None:
    # Guards the property tests above: the reference scanner must see what it checks for.
    assert id_shaped_substrings(f"x {EXAMPLE} y") == [EXAMPLE]
    assert id_shaped_substrings("a" + EXAMPLE) == []
