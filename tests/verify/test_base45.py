"""Base45 (RFC 9285): the RFC's examples, round trips of any bytes, and the refusals of §6."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from verify.base45 import ALPHABET, Base45Error, b45decode, b45encode

RFC_EXAMPLES = [  # RFC 9285 §4.3 and §4.4
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
    (b"", ""),
]


@pytest.mark.parametrize(("data", "text"), RFC_EXAMPLES)
def test_rfc_examples(data: bytes, text: str) -> None:
    assert b45encode(data) == text
    assert b45decode(text) == data


@given(st.binary(max_size=300))
def test_any_bytes_round_trip_in_the_qr_alphabet(data: bytes) -> None:
    text = b45encode(data)
    assert set(text) <= set(ALPHABET)
    assert len(text) == len(data) // 2 * 3 + len(data) % 2 * 2
    assert b45decode(text) == data


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("GGW", "more than two bytes"),  # 65535 < value
        (":::", "more than two bytes"),
        ("ZZ", "more than one byte"),
        ("A", "length"),
        ("ABCD", "length"),
        ("bb8", "not a base45 character"),  # lower case is not in the alphabet
        ("BB#", "not a base45 character"),
    ],
)
def test_malformed_text_is_refused(text: str, message: str) -> None:
    with pytest.raises(Base45Error, match=message):
        b45decode(text)
