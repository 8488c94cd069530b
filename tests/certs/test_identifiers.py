"""Licence identifiers (GB/T 36904 shape) and their ISO 7064 MOD 37,36 check character."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from certs.identifiers import (
    ALPHABET,
    PREFIX,
    InvalidLicenceIdentifier,
    LicenceIdentifier,
    check_type_code,
    licence_identifier,
    mod37_36_check,
    parse_licence_identifier,
)
from core.identifiers.uscc import ALPHABET as USCC_ALPHABET
from core.identifiers.uscc import check_character

REAL = "1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.F"
TYPE_CODE = "11100000000013338W032"
ISSUER = "11220000013544541J"


def hybrid_verifies(data_with_check: str) -> bool:
    """ISO 7064 hybrid-system verification, written independently: run the recursion over
    the data, then add the check character's value: the result must be 1 (mod 36)."""
    p = 36
    for char in data_with_check[:-1]:
        s = (p + ALPHABET.index(char)) % 36 or 36
        p = (2 * s) % 37
    return (p + ALPHABET.index(data_with_check[-1])) % 36 == 1


def reason(text: str) -> str:
    with pytest.raises(InvalidLicenceIdentifier) as info:
        parse_licence_identifier(text)
    assert info.value.problem.status == 422
    return info.value.reason


def test_real_example_verifies() -> None:
    parsed = parse_licence_identifier(REAL)
    assert parsed == LicenceIdentifier(TYPE_CODE, ISSUER, "2430599", "001", "F")
    assert parsed.version_number == 1
    assert str(parsed) == REAL


def test_real_example_is_rebuilt_from_its_parts() -> None:
    assert licence_identifier(TYPE_CODE, ISSUER, "2430599", 1) == REAL
    assert mod37_36_check(TYPE_CODE + ISSUER + "2430599001") == "F"
    assert hybrid_verifies(TYPE_CODE + ISSUER + "2430599001F")


def test_check_covers_neither_prefix_nor_dots() -> None:
    # Over the prefix too, the real example would not verify (W, not F); dots are no data.
    assert mod37_36_check("1215630052" + TYPE_CODE + ISSUER + "2430599001") == "W"
    with pytest.raises(ValueError):
        mod37_36_check(f"{TYPE_CODE}.{ISSUER}.2430599.001")


def test_check_character_alphabet_and_input() -> None:
    assert len(ALPHABET) == 36
    with pytest.raises(ValueError):
        mod37_36_check("")
    with pytest.raises(ValueError):
        mod37_36_check("abc")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1.2.156.3005.3.11100000000013338W032.11220000013544541J.2430599.001.F", "prefix"),
        ("2430599.001.F", "prefix"),
        ("1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001", "shape"),
        ("1.2.156.3005.2.11100000000013338W032.11220000013544541J.24.30599.001.F", "shape"),
        ("1.2.156.3005.2.11100000000013338W32.11220000013544541J.2430599.001.F", "type_code"),
        ("1.2.156.3005.2.11100000000013338X032.11220000013544541J.2430599.001.F", "type_code"),
        ("1.2.156.3005.2.11100000000013338W0A2.11220000013544541J.2430599.001.F", "type_code"),
        ("1.2.156.3005.2.11100000000013338W032.11220000013544541K.2430599.001.F", "issuer"),
        ("1.2.156.3005.2.11100000000013338W032.11220000013544541j.2430599.001.F", "issuer"),
        ("1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599a.001.F", "serial"),
        ("1.2.156.3005.2.11100000000013338W032.11220000013544541J..001.F", "serial"),
        ("1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.000.F", "version"),
        ("1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.01.F", "version"),
        ("1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.0001.F", "version"),
        ("1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.G", "check"),
        ("1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.f", "check"),
        ("1.2.156.3005.2.11100000000013338W032.11220000013544541J.2430599.001.FF", "check"),
    ],
)
def test_malformed_identifiers_are_refused_with_the_failing_part(text: str, why: str) -> None:
    assert reason(text) == why


def test_issuer_check_is_verified_even_when_the_mod37_check_matches() -> None:
    bad_issuer = ISSUER[:-1] + "K"
    check = mod37_36_check(TYPE_CODE + bad_issuer + "2430599001")
    assert reason(f"{PREFIX}.{TYPE_CODE}.{bad_issuer}.2430599.001.{check}") == "issuer"


def test_error_does_not_echo_the_input() -> None:
    with pytest.raises(InvalidLicenceIdentifier) as info:
        parse_licence_identifier(REAL[:-1] + "G")
    assert "2430599" not in str(info.value)
    assert ISSUER not in str(info.value.problem.to_dict())


def test_version_range_when_building() -> None:
    assert licence_identifier(TYPE_CODE, ISSUER, "1", 999).split(".")[-2] == "999"
    for version in (0, 1000, -1):
        with pytest.raises(InvalidLicenceIdentifier):
            licence_identifier(TYPE_CODE, ISSUER, "1", version)
    with pytest.raises(InvalidLicenceIdentifier):
        licence_identifier(TYPE_CODE, ISSUER, "abc", 1)
    with pytest.raises(InvalidLicenceIdentifier):
        licence_identifier(TYPE_CODE, "91350100M000100Y44", "1", 1)


def test_type_code_is_a_uscc_plus_three_digits() -> None:
    assert check_type_code(TYPE_CODE) == TYPE_CODE
    for bad in (TYPE_CODE[:-1], TYPE_CODE + "0", TYPE_CODE[:-3] + "03A", "21" + TYPE_CODE[2:]):
        with pytest.raises(InvalidLicenceIdentifier):
            check_type_code(bad)


# -- property tests -------------------------------------------------------------------------

uscc_bodies = st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17)
usccs = uscc_bodies.map(lambda body: body + check_character(body))
serials = st.text(alphabet=ALPHABET, min_size=1, max_size=32)
versions = st.integers(min_value=1, max_value=999)
type_codes = st.builds(
    lambda uscc, n: f"{uscc}{n:03d}", usccs, st.integers(min_value=0, max_value=999)
)
identifiers = st.builds(licence_identifier, type_codes, usccs, serials, versions)


@given(type_codes, usccs, serials, versions)
def test_round_trip(type_code: str, issuer: str, serial: str, version: int) -> None:
    text = licence_identifier(type_code, issuer, serial, version)
    parsed = parse_licence_identifier(text)
    assert (parsed.type_code, parsed.issuer, parsed.serial) == (type_code, issuer, serial)
    assert parsed.version_number == version
    assert str(parsed) == text
    assert hybrid_verifies(type_code + issuer + serial + parsed.version + parsed.check)


@given(identifiers, st.data())
def test_any_single_character_change_is_detected(text: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    replacement = data.draw(st.sampled_from(ALPHABET + ".-x "))
    assume(replacement != text[position])
    changed = text[:position] + replacement + text[position + 1 :]
    with pytest.raises(InvalidLicenceIdentifier):
        parse_licence_identifier(changed)


@given(st.text(alphabet=ALPHABET, min_size=1, max_size=80), st.data())
def test_mod37_36_detects_every_single_substitution(data_text: str, data: st.DataObject) -> None:
    check = mod37_36_check(data_text)
    position = data.draw(st.integers(min_value=0, max_value=len(data_text)))
    full = data_text + check
    replacement = data.draw(st.sampled_from(ALPHABET))
    assume(replacement != full[position])
    changed = full[:position] + replacement + full[position + 1 :]
    assert mod37_36_check(changed[:-1]) != changed[-1]
    assert not hybrid_verifies(changed)
