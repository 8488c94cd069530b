"""The ``purpose`` authorization request parameter (idp/oauth/purpose.py): required where a
scope needs it, 1 to 200 characters without control characters, sent once."""

from __future__ import annotations

import pytest

from idp.oauth.purpose import (
    InvalidPurpose,
    check_purpose,
    purpose_of_query,
    requested_purpose,
    scope_labels,
)


class Needs:
    def needs_purpose(self, scope: str) -> bool:
        return scope.startswith("licence:read:")

    def label(self, scope: str, lang: str) -> str | None:
        return f"{lang}:{scope}" if scope.startswith("licence:read:") else None


SCOPES = ["openid", "licence:read:X"]


def test_a_purpose_is_required_only_where_a_scope_needs_one() -> None:
    assert check_purpose(None, ["openid"], [Needs()]) is None
    assert check_purpose("  核验  ", SCOPES, [Needs()]) == "核验"
    with pytest.raises(InvalidPurpose, match="required for the scope licence:read:X"):
        check_purpose(None, SCOPES, [Needs()])
    assert check_purpose(None, SCOPES, []) is None  # nobody said the scope needs one


@pytest.mark.parametrize(
    "text", ["", "   ", "x" * 201, "a\nb", "a\x7fb", "为11010519491231002X办理"]
)
def test_bad_purposes_are_refused(text: str) -> None:
    with pytest.raises(InvalidPurpose):
        check_purpose(text, ["openid"], [Needs()])


def test_the_purpose_of_a_query() -> None:
    assert requested_purpose("scope=openid") is None
    assert requested_purpose("purpose=%E6%A0%B8%E9%AA%8C") == "核验"
    assert purpose_of_query("purpose=+%E6%A0%B8%E9%AA%8C+") == "核验"
    assert purpose_of_query("purpose=") is None
    with pytest.raises(InvalidPurpose, match="more than once"):
        requested_purpose("purpose=a&purpose=b")


def test_scope_labels_come_from_the_extensions() -> None:
    assert scope_labels([Needs()], "zh", SCOPES, ["标识", "licence:read:X"]) == [
        "标识",
        "zh:licence:read:X",
    ]
