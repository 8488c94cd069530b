"""Mainland mobile numbers: normalising, validating and masking (property tests)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idp.identities.errors import InvalidPhone
from idp.identities.phone import is_valid_phone, mask_phone, normalise_phone

mobiles = st.builds(
    lambda second, rest: f"1{second}{rest}",
    st.sampled_from("3456789"),
    st.text("0123456789", min_size=9, max_size=9),
)
prefixes = st.sampled_from(["", "+86", "86", "0086", "+86 ", "+86-", "\uff0b86 "])
separators = st.sampled_from([" ", "-", "\u3000", "\u2014", "\u00a0", " - "])


@st.composite
def typed(draw: st.DrawFn) -> tuple[str, str]:
    """(number, the same number as someone might type it)."""
    number = draw(mobiles)
    cuts = sorted(draw(st.lists(st.integers(1, 10), max_size=4, unique=True)))
    parts, last = [], 0
    for cut in [*cuts, 11]:
        parts.append(number[last:cut])
        last = cut
    text = "".join(
        part + (draw(separators) if i < len(parts) - 1 else "") for i, part in enumerate(parts)
    )
    if draw(st.booleans()):
        text = text.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})  # full width
    return number, draw(prefixes) + text


@given(typed())
def test_normalise_recovers_the_eleven_digits(case: tuple[str, str]) -> None:
    number, text = case
    assert normalise_phone(text) == number
    assert normalise_phone(number) == number
    assert is_valid_phone(text)


@given(mobiles)
def test_mask_keeps_first_three_and_last_four(number: str) -> None:
    masked = mask_phone(number)
    assert masked == number[:3] + "****" + number[7:]
    assert len(masked) == 11 and number not in masked
    assert mask_phone("+86 " + number) == masked


def test_examples() -> None:
    assert normalise_phone("+86 138-1234-5678") == "13812345678"
    assert normalise_phone("86 13812345678") == "13812345678"
    assert mask_phone("13812345678") == "138****5678"


@given(st.sampled_from("012"), st.text("0123456789", min_size=9, max_size=9))
def test_second_digit_below_three_refused(second: str, rest: str) -> None:
    with pytest.raises(InvalidPhone):
        normalise_phone(f"1{second}{rest}")


@given(mobiles, st.integers(-3, 3).filter(lambda n: n != 0))
def test_wrong_length_refused(number: str, delta: int) -> None:
    text = number[:delta] if delta < 0 else number + "5" * delta
    assert not is_valid_phone(text)
    with pytest.raises(InvalidPhone) as caught:
        normalise_phone(text)
    assert text not in str(caught.value) and text not in repr(caught.value.args)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "23812345678",  # not starting with 1
        "+85 13812345678",  # another country code
        "+8613812345678x",
        "138 1234 567８a",
        "138.1234.5678",
        "+86+8613812345678",
        "\u0661\u0663\u0668\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668",  # Arabic-Indic
    ],
)
def test_not_a_mobile_number(text: str) -> None:
    assert not is_valid_phone(text)
    with pytest.raises(InvalidPhone):
        mask_phone(text)
