"""Unified social credit codes (GB 32100-2015)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from core.identifiers.errors import InvalidIdentifier
from core.identifiers.uscc import ALPHABET, Uscc, check_character, is_valid_uscc, parse_uscc

EXAMPLE = "91350100M000100Y43"  # REFERENCE.md worked example: sum 1640, mod 31 = 28 -> 3
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def reason_of(text: str) -> str:
    with pytest.raises(InvalidIdentifier) as info:
        parse_uscc(text)
    assert info.value.kind == "uscc"
    if text.strip():
        assert text.strip() not in str(info.value)
    return info.value.reason


def test_alphabet_excludes_i_o_s_v_z() -> None:
    assert len(ALPHABET) == 31
    assert not set("IOSVZ") & set(ALPHABET)


def test_worked_example_check_character() -> None:
    assert check_character(EXAMPLE[:17]) == "3"
    assert sum(ALPHABET.index(c) * w for c, w in zip(EXAMPLE[:17], WEIGHTS, strict=True)) == 1640


def test_check_character_zero_case() -> None:
    # sum mod 31 == 0 must give "0", not index 31 (out of range).
    assert check_character("0" * 17) == "0"
    assert parse_uscc("0" * 18).value == "0" * 18


@pytest.mark.parametrize("bad", ["", "91350100M000100Y", "91350100M000100Y43", "91350100M000100YI"])
def test_check_character_rejects_bad_input(bad: str) -> None:
    with pytest.raises(ValueError):
        check_character(bad)


def test_worked_example_parses() -> None:
    code = parse_uscc(EXAMPLE)
    assert code.value == EXAMPLE
    assert code.registration_authority == "9"
    assert code.entity_type == "1"
    assert code.region_code == "350100"
    assert code.organization_code == "M000100Y4"
    assert str(code) == EXAMPLE
    assert is_valid_uscc(EXAMPLE)


@pytest.mark.parametrize(
    "text",
    [
        " 91350100M000100Y43\t",
        "91350100m000100y43",
        "９１３５０１００Ｍ０００１００Ｙ４３",
        "９１３５０１００ｍ０００１００ｙ４３",
    ],
)
def test_normalisation(text: str) -> None:
    assert parse_uscc(text).value == EXAMPLE


def test_length() -> None:
    assert reason_of(EXAMPLE[:17]) == "length"
    assert reason_of(EXAMPLE + "0") == "length"
    assert reason_of("") == "length"


@pytest.mark.parametrize("letter", list("IOSVZ"))
def test_charset_excluded_letters(letter: str) -> None:
    assert reason_of(EXAMPLE[:8] + letter + EXAMPLE[9:]) == "charset"


@pytest.mark.parametrize("text", ["91350100M000100Y4-", "91350100M000100Y4ß", "91350100M0001 0Y43"])
def test_charset_other(text: str) -> None:
    assert reason_of(text) == "charset"


def test_check() -> None:
    assert reason_of("91350100M000100Y4Z") == "charset"  # the standard's own failing example
    assert reason_of("91350100M000100Y44") == "check"
    assert not is_valid_uscc("91350100M000100Y44")


def test_direct_construction_validates() -> None:
    assert Uscc(EXAMPLE).region_code == "350100"
    with pytest.raises(InvalidIdentifier):
        Uscc("91350100M000100Y44")
    with pytest.raises(InvalidIdentifier):
        Uscc("91350100m000100y43")  # not normalised


codes = st.text(st.sampled_from(ALPHABET), min_size=17, max_size=17).map(
    lambda body: body + check_character(body)
)


@given(codes)
def test_any_body_with_computed_check_parses(code: str) -> None:
    parsed = parse_uscc(code)
    assert parsed.value == code
    assert parsed.registration_authority + parsed.entity_type == code[:2]
    assert parsed.region_code + parsed.organization_code == code[2:17]


@given(codes, st.integers(0, 17), st.sampled_from(ALPHABET + "IOSVZ"))
def test_any_single_character_substitution_is_detected(code: str, pos: int, new: str) -> None:
    assume(code[pos] != new)
    changed = code[:pos] + new + code[pos + 1 :]
    assert not is_valid_uscc(changed)
    assert reason_of(changed) == ("charset" if new in "IOSVZ" else "check")


@given(codes, st.integers(0, 16), st.sampled_from(ALPHABET))
def test_check_character_changes_on_any_substitution(code: str, pos: int, new: str) -> None:
    assume(code[pos] != new)
    assert check_character(code[:pos] + new + code[pos + 1 : 17]) != code[17]
