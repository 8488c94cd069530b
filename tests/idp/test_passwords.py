"""argon2id password hashing (RFC 9106) and the password policy."""

from __future__ import annotations

import logging
import statistics
import time
import unicodedata
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher
from argon2.low_level import Type
from hypothesis import given, settings
from hypothesis import strategies as st

from idp.credentials import passwords
from idp.credentials.passwords import (
    LOW_COST,
    REASON_CONTAINS_PERSONAL,
    REASON_TOO_COMMON,
    REASON_TOO_LONG,
    REASON_TOO_REPETITIVE,
    REASON_TOO_SHORT,
    REASON_TOO_SIMPLE,
    RECOMMENDED,
    HashParameters,
    PasswordCheck,
    check_password_policy,
    hash_password,
    verify_password,
)

PASSWORD = "Correct-Horse-7"
RID = "11010519491231002X"
PHONE = "13812345678"


def test_recommended_parameters_are_rfc_9106_second_option() -> None:
    assert (RECOMMENDED.time_cost, RECOMMENDED.memory_cost, RECOMMENDED.parallelism) == (
        3,
        65536,
        4,
    )
    assert (RECOMMENDED.salt_len, RECOMMENDED.hash_len) == (16, 32)
    assert LOW_COST != RECOMMENDED
    with pytest.raises(AttributeError):
        RECOMMENDED.time_cost = 1  # type: ignore[misc]


def test_default_hash_is_argon2id_with_recommended_costs() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in stored
    assert verify_password(stored, PASSWORD) == PasswordCheck(ok=True)


def test_round_trip_and_wrong_password() -> None:
    stored = hash_password(PASSWORD, params=LOW_COST)
    assert stored.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
    assert verify_password(stored, PASSWORD, params=LOW_COST) == PasswordCheck(ok=True)
    assert verify_password(stored, PASSWORD + "x", params=LOW_COST) == PasswordCheck(ok=False)
    assert verify_password(stored, "", params=LOW_COST).ok is False


def test_salt_is_fresh_each_time() -> None:
    assert hash_password(PASSWORD, params=LOW_COST) != hash_password(PASSWORD, params=LOW_COST)


def test_unicode_is_normalised_nfkc() -> None:
    stored = hash_password("Ｐａｓｓ-ｗｏｒｄ-９９", params=LOW_COST)  # fullwidth forms
    assert verify_password(stored, "Pass-word-99", params=LOW_COST).ok
    composed, decomposed = "Caf\u00e9-Ol\u00e9-2024", "Cafe\u0301-Ole\u0301-2024"
    stored = hash_password(composed, params=LOW_COST)
    assert verify_password(stored, decomposed, params=LOW_COST).ok
    assert not verify_password(stored, "Cafe-Ole-2024", params=LOW_COST).ok


def test_rehash_when_parameters_changed() -> None:
    older = HashParameters(time_cost=1, memory_cost=4096, parallelism=1)
    stored = hash_password(PASSWORD, params=older)
    check = verify_password(stored, PASSWORD, params=LOW_COST)
    assert check.ok and check.new_hash is not None
    assert check.new_hash.startswith("$argon2id$v=19$m=8192,t=1,p=1$")
    assert verify_password(check.new_hash, PASSWORD, params=LOW_COST) == PasswordCheck(ok=True)
    # No rehash for a wrong password, even with old parameters.
    assert verify_password(stored, "wrong", params=LOW_COST) == PasswordCheck(ok=False)


def test_rehash_from_another_argon2_variant_and_tag_length() -> None:
    argon2i = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.I)
    check = verify_password(argon2i.hash(PASSWORD), PASSWORD, params=LOW_COST)
    assert check.ok and check.new_hash is not None and check.new_hash.startswith("$argon2id$")
    short_tag = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, hash_len=16)
    check = verify_password(short_tag.hash(PASSWORD), PASSWORD, params=LOW_COST)
    assert check.ok and check.new_hash is not None


def _count_verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = PasswordHasher.verify

    def spy(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        calls.append(str(hash))
        return original(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    return calls


def test_unknown_account_still_runs_one_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_verifications(monkeypatch)
    assert verify_password(None, PASSWORD, params=LOW_COST) == PasswordCheck(ok=False)
    assert len(calls) == 1
    assert calls[0].startswith("$argon2id$v=19$m=8192,t=1,p=1$")  # same parameters


def test_unknown_account_dummy_follows_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    other = HashParameters(time_cost=2, memory_cost=4096, parallelism=1)
    calls = _count_verifications(monkeypatch)
    verify_password(None, PASSWORD, params=other)
    assert calls[0].startswith("$argon2id$v=19$m=4096,t=2,p=1$")


def test_dummy_hash_does_not_accept_anything() -> None:
    # Even the empty password and a guess of typical secrets are refused for unknown users.
    for guess in ("", PASSWORD, "None", "dummy"):
        assert verify_password(None, guess, params=LOW_COST).ok is False


def test_malformed_stored_hash_is_a_failure_not_an_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = _count_verifications(monkeypatch)
    with caplog.at_level(logging.DEBUG):
        check = verify_password("$argon2id$garbage", PASSWORD, params=LOW_COST)
    assert check == PasswordCheck(ok=False)
    assert len(calls) == 2  # the attempt on the bad hash, then the dummy
    assert "malformed" in caplog.text
    assert PASSWORD not in caplog.text and "garbage" not in caplog.text


def test_password_never_in_logs_exceptions_or_repr(caplog: pytest.LogCaptureFixture) -> None:
    secret = "Secret-Value-123456"
    stored = hash_password(secret, params=LOW_COST)
    with caplog.at_level(logging.DEBUG):
        results = [
            verify_password(stored, secret, params=LOW_COST),
            verify_password(stored, secret + "!", params=LOW_COST),
            verify_password(None, secret, params=LOW_COST),
            verify_password("not a hash", secret, params=LOW_COST),
        ]
    assert secret not in caplog.text
    older = hash_password(secret, params=HashParameters(1, 4096, 1))
    rehashed = verify_password(older, secret, params=LOW_COST)
    assert rehashed.new_hash is not None
    for result in [*results, rehashed]:
        assert secret not in repr(result) and "$argon2" not in repr(result)


def _median_seconds(action: Callable[[], object], runs: int = 7) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def test_unknown_account_takes_as_long_as_a_wrong_password() -> None:
    params = LOW_COST
    stored = hash_password(PASSWORD, params=params)
    verify_password(None, PASSWORD, params=params)  # make the dummy hash outside the timing
    wrong = _median_seconds(lambda: verify_password(stored, "Wrong-Password-1", params=params))
    unknown = _median_seconds(lambda: verify_password(None, "Wrong-Password-1", params=params))
    # Skipping the dummy verification makes "unknown" ~1000x faster; this bound is loose.
    assert unknown >= 0.5 * wrong, (unknown, wrong)


def test_timing_probe_detects_a_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    """The timing measurement above can fail: without the dummy it would."""
    stored = hash_password(PASSWORD, params=LOW_COST)
    monkeypatch.setattr(passwords, "_burn", lambda *args: None)
    wrong = _median_seconds(lambda: verify_password(stored, "Wrong-Password-1", params=LOW_COST))
    unknown = _median_seconds(lambda: verify_password(None, "Wrong-Password-1", params=LOW_COST))
    assert unknown < 0.5 * wrong


# --- Policy -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "Tr0ub4dor&3x",
        "kH7#pQ2!mZ",
        "correct horse battery staple",
        "Xq9-vLm2-Rt8w",
        "长城-Great-Wall-9",
    ],
)
def test_policy_accepts_good_passwords(password: str) -> None:
    assert check_password_policy(password, personal=(RID, PHONE, "zhangsan")) == []


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Ab1!xyz", REASON_TOO_SHORT),
        ("abcdefghijk", REASON_TOO_SIMPLE),  # one class, < 16
        ("abcdefgh12", REASON_TOO_SIMPLE),  # two classes, < 16
        ("aaaaaaaaaaaaaaaaaaaa", REASON_TOO_REPETITIVE),
        ("AbAbAb1111!!", REASON_TOO_REPETITIVE),
        ("Password123!", REASON_TOO_COMMON),
        ("P@ssw0rd2024!", REASON_TOO_COMMON),
        ("1qaz2wsx3edc", REASON_TOO_COMMON),
        ("QWERTYuiop!1", REASON_TOO_COMMON),
        ("Woaini1314!!", REASON_TOO_COMMON),
        ("x" * 100 + "Yz1!" * 50, REASON_TOO_LONG),
    ],
)
def test_policy_refuses(password: str, reason: str) -> None:
    assert reason in check_password_policy(password)


@pytest.mark.parametrize(
    "password",
    [
        "Ab!19491231x",  # birth date from the ID number
        "Xy#31002xAbc",  # tail of the ID number, case-insensitive
        "Phone5678!3812345",  # a 6-character run of the phone number
        "Hello-ZhangSan-9",  # the name
        f"pre{RID}post",
    ],
)
def test_policy_refuses_personal_information(password: str) -> None:
    reasons = check_password_policy(password, personal=(RID, PHONE, "ZhangSan"))
    assert REASON_CONTAINS_PERSONAL in reasons
    assert REASON_CONTAINS_PERSONAL not in check_password_policy(password, personal=())


def test_policy_ignores_tiny_personal_values() -> None:
    # A three-character value would refuse half the dictionary; it is not used.
    assert check_password_policy("Tr0ub4dor&3x", personal=("Tr0", "", "x")) == []


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2 * passwords.MIN_LENGTH))
def test_policy_property_too_short_exactly_below_minimum(password: str) -> None:
    short = len(unicodedata.normalize("NFKC", password)) < passwords.MIN_LENGTH
    assert (REASON_TOO_SHORT in check_password_policy(password)) == short


_CLASS_ALPHABETS = ["abcdefghijkmnopqrstuvwxyz", "ABCDEFGHJKLMNPQRSTUVWXYZ", "23456789", "#%&*-_+;"]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_policy_property_random_strong_passwords_pass(data: st.DataObject) -> None:
    # Two distinct characters of each of the four classes, 10-40 characters in all.
    chars: list[str] = []
    for alphabet in _CLASS_ALPHABETS:
        chars += data.draw(st.lists(st.sampled_from(alphabet), min_size=2, max_size=2, unique=True))
    chars += data.draw(
        st.lists(st.sampled_from("".join(_CLASS_ALPHABETS)), min_size=2, max_size=32)
    )
    password = "".join(data.draw(st.permutations(chars)))
    assert check_password_policy(password, personal=(RID, PHONE)) == []


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=16, max_size=40))
def test_policy_property_long_passphrases_need_no_classes(password: str) -> None:
    reasons = check_password_policy(password)
    assert REASON_TOO_SIMPLE not in reasons and REASON_TOO_SHORT not in reasons
    assert (REASON_TOO_REPETITIVE in reasons) == (len(set(password)) < 5)


_COMMON = sorted(passwords.COMMON_PASSWORDS)
_SUFFIXES = ["", "1", "!", "2024", "@123"]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_COMMON), st.sampled_from(_SUFFIXES), st.booleans())
def test_policy_property_common_passwords_refused(word: str, suffix: str, upper: bool) -> None:
    password = (word.upper() if upper else word) + suffix
    assert REASON_TOO_COMMON in check_password_policy(password)
    assert REASON_TOO_COMMON in check_password_policy("#" + password.replace("o", "0"))


def test_policy_reasons_never_echo_the_password() -> None:
    password = "短"
    assert all(password not in reason for reason in check_password_policy(password))
    assert set(check_password_policy(password)) == {
        REASON_TOO_SHORT,
        REASON_TOO_SIMPLE,
        REASON_TOO_REPETITIVE,
    }
