"""SMS one-time codes over the shared cache (memory and Redis)."""

from __future__ import annotations

import json
import re
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.cache import Cache
from idp.credentials.otp_sms import (
    OneTimeCodes,
    OutboxSender,
    TooSoon,
    derive_code_key,
    mask_phone,
)
from tests.conftest import FrozenClock

KEY = derive_code_key(b"test-secret-0123456789abcdef0123456789abcdef")
PHONE = "13812345678"
SUBJECT = "bi_3f9a0c7e5d21"
TEMPLATE = "【政务】验证码 {code}，{minutes} 分钟内有效。"


class RecordingSender:
    """An SmsSender that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, phone: str, message: str) -> None:
        self.sent.append((phone, message))

    def last_code(self) -> str:
        match = re.search(r"\d{6}", self.sent[-1][1])
        assert match is not None
        return match.group()


class FailingSender:
    def send(self, phone: str, message: str) -> None:
        raise ConnectionError("gateway down")


@pytest.fixture
def cache(cache_factory: Callable[[], Cache]) -> Cache:
    return cache_factory()


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def codes(cache: Cache, sender: RecordingSender, clock: FrozenClock) -> OneTimeCodes:
    return OneTimeCodes(cache, sender, clock, key=KEY)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_send_then_verify_once(codes: OneTimeCodes, sender: RecordingSender, cache: Cache) -> None:
    codes.send("login", SUBJECT, PHONE, TEMPLATE)
    assert len(sender.sent) == 1
    phone, message = sender.sent[0]
    assert phone == PHONE and "5 分钟内有效" in message
    code = sender.last_code()
    assert cache.get(f"otp:login:{SUBJECT}") is not None
    assert codes.verify("login", SUBJECT, code) is True
    assert cache.get(f"otp:login:{SUBJECT}") is None  # deleted on success
    assert codes.verify("login", SUBJECT, code) is False  # single use


def test_cache_holds_only_a_mac(codes: OneTimeCodes, sender: RecordingSender, cache: Cache) -> None:
    codes.send("login", SUBJECT, PHONE, TEMPLATE)
    code = sender.last_code()
    raw = cache.get(f"otp:login:{SUBJECT}")
    assert raw is not None
    stored = json.loads(raw)
    assert set(stored) == {"mac", "nonce", "issued", "expires"}
    assert re.fullmatch(r"[0-9a-f]{64}", stored["mac"])
    assert code not in stored["nonce"] and PHONE not in raw.decode()
    assert f'"{code}"' not in raw.decode()


def test_wrong_code_is_refused(codes: OneTimeCodes, sender: RecordingSender) -> None:
    codes.send("login", SUBJECT, PHONE, TEMPLATE)
    code = sender.last_code()
    assert codes.verify("login", SUBJECT, _wrong(code)) is False
    assert codes.verify("login", SUBJECT, code) is True


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "abcdef", "１２３４５６"])
def test_malformed_codes_are_refused_and_counted(
    codes: OneTimeCodes, sender: RecordingSender, bad: str
) -> None:
    codes.send("login", SUBJECT, PHONE, TEMPLATE)
    for _ in range(5):
        assert codes.verify("login", SUBJECT, bad) is False
    assert codes.verify("login", SUBJECT, sender.last_code()) is False  # burned


def test_spaces_in_the_code_are_ignored(codes: OneTimeCodes, sender: RecordingSender) -> None:
    codes.send("login", SUBJECT, PHONE, TEMPLATE)
    code = sender.last_code()
    assert codes.verify("login", SUBJECT, f" {code[:3]} {code[3:]} ") is True


def test_code_is_bound_to_purpose_and_subject(codes: OneTimeCodes, sender: RecordingSender) -> None:
    codes.send("login", SUBJECT, PHONE, TEMPLATE)
    code = sender.last_code()
    assert codes.verify("reset", SUBJECT, code) is False
    assert codes.verify("login", SUBJECT + "x", code) is False
    assert codes.verify("login", SUBJECT, code) is True


def test_a_verifier_with_another_key_refuses(
    cache: Cache, sender: RecordingSender, clock: FrozenClock
) -> None:
    OneTimeCodes(cache, sender, clock, key=KEY).send("login", SUBJECT, PHONE, TEMPLATE)
    other = OneTimeCodes(cache, sender, clock, key=derive_code_key(b"another deployment secret!"))
    assert other.verify("login", SUBJECT, sender.last_code()) is False


def test_max_attempts_burns_the_code(codes: OneTimeCodes, sender: RecordingSender) -> None:
    codes.send("login", SUBJECT, PHONE, TEMPLATE)
    code = sender.last_code()
    for _ in range(5):
        assert codes.verify("login", SUBJECT, _wrong(code)) is False
    assert codes.verify("login", SUBJECT, code) is False


def test_the_last_allowed_attempt_still_succeeds(
    codes: OneTimeCodes, sender: RecordingSender
) -> None:
    codes.send("login", SUBJECT, PHONE, TEMPLATE)
    code = sender.last_code()
    for _ in range(4):
        assert codes.verify("login", SUBJECT, _wrong(code)) is False
    assert codes.verify("login", SUBJECT, code) is True


def test_max_attempts_is_configurable(
    cache: Cache, sender: RecordingSender, clock: FrozenClock
) -> None:
    codes = OneTimeCodes(cache, sender, clock, max_attempts=1, key=KEY)
    codes.send("login", SUBJECT, PHONE, TEMPLATE)
    code = sender.last_code()
    assert codes.verify("login", SUBJECT, _wrong(code)) is False
    assert codes.verify("login", SUBJECT, code) is False


def test_expiry_follows_the_clock(
    codes: OneTimeCodes, sender: RecordingSender, clock: FrozenClock
) -> None:
    codes.send("login", SUBJECT, PHONE, TEMPLATE)
    code = sender.last_code()
    clock.advance(seconds=300)
    assert codes.verify("login", SUBJECT, code) is False
    clock.advance(seconds=-1)  # the entry was withdrawn on the expired attempt
    assert codes.verify("login", SUBJECT, code) is False


def test_valid_just_before_expiry(
    codes: OneTimeCodes, sender: RecordingSender, clock: FrozenClock
) -> None:
    codes.send("login", SUBJECT, PHONE, TEMPLATE)
    clock.advance(seconds=299)
    assert codes.verify("login", SUBJECT, sender.last_code()) is True


def test_resend_too_soon(codes: OneTimeCodes, sender: RecordingSender, clock: FrozenClock) -> None:
    codes.send("login", SUBJECT, PHONE, TEMPLATE)
    clock.advance(seconds=20)
    with pytest.raises(TooSoon) as excinfo:
        codes.send("login", SUBJECT, PHONE, TEMPLATE)
    assert excinfo.value.retry_after == 40
    assert len(sender.sent) == 1
    clock.advance(seconds=39.5)
    with pytest.raises(TooSoon) as excinfo:
        codes.send("login", SUBJECT, PHONE, TEMPLATE)
    assert excinfo.value.retry_after == 1
    # Another subject or purpose is not held back.
    codes.send("login", SUBJECT + "b", PHONE, TEMPLATE)
    codes.send("reset", SUBJECT, PHONE, TEMPLATE)


def test_resend_replaces_the_code_and_resets_attempts(
    codes: OneTimeCodes, sender: RecordingSender, clock: FrozenClock
) -> None:
    codes.send("login", SUBJECT, PHONE, TEMPLATE)
    first = sender.last_code()
    for _ in range(4):
        codes.verify("login", SUBJECT, _wrong(first))
    clock.advance(seconds=60)
    codes.send("login", SUBJECT, PHONE, TEMPLATE)
    second = sender.last_code()
    assert len(sender.sent) == 2
    if first != second:
        assert codes.verify("login", SUBJECT, first) is False
    for _ in range(3):
        assert codes.verify("login", SUBJECT, _wrong(second)) is False
    assert codes.verify("login", SUBJECT, second) is True
    # And a third send after the interval works although the second was consumed.
    clock.advance(seconds=60)
    codes.send("login", SUBJECT, PHONE, TEMPLATE)
    assert codes.verify("login", SUBJECT, sender.last_code()) is True


def test_resend_interval_survives_a_successful_verification(
    codes: OneTimeCodes, sender: RecordingSender, clock: FrozenClock
) -> None:
    codes.send("login", SUBJECT, PHONE, TEMPLATE)
    assert codes.verify("login", SUBJECT, sender.last_code())
    clock.advance(seconds=10)
    with pytest.raises(TooSoon):
        codes.send("login", SUBJECT, PHONE, TEMPLATE)


def test_concurrent_verifications_succeed_once(
    cache: Cache, sender: RecordingSender, clock: FrozenClock
) -> None:
    workers = [OneTimeCodes(cache, sender, clock, key=KEY) for _ in range(8)]
    workers[0].send("login", SUBJECT, PHONE, TEMPLATE)
    code = sender.last_code()
    barrier = threading.Barrier(len(workers))
    results: list[bool] = []

    def attempt(worker: OneTimeCodes) -> None:
        barrier.wait()
        results.append(worker.verify("login", SUBJECT, code))

    threads = [threading.Thread(target=attempt, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1


def test_concurrent_sends_send_once(
    cache: Cache, sender: RecordingSender, clock: FrozenClock
) -> None:
    workers = [OneTimeCodes(cache, sender, clock, key=KEY) for _ in range(8)]
    barrier = threading.Barrier(len(workers))
    refused: list[TooSoon] = []

    def attempt(worker: OneTimeCodes) -> None:
        barrier.wait()
        try:
            worker.send("login", SUBJECT, PHONE, TEMPLATE)
        except TooSoon as exc:
            refused.append(exc)

    threads = [threading.Thread(target=attempt, args=(worker,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sender.sent) == 1 and len(refused) == 7
    assert workers[3].verify("login", SUBJECT, sender.last_code()) is True


def test_failed_delivery_withdraws_the_code(cache: Cache, clock: FrozenClock) -> None:
    codes = OneTimeCodes(cache, FailingSender(), clock, key=KEY)
    with pytest.raises(ConnectionError):
        codes.send("login", SUBJECT, PHONE, TEMPLATE)
    assert cache.get(f"otp:login:{SUBJECT}") is None
    with pytest.raises(TooSoon):  # still counts for the resend interval
        codes.send("login", SUBJECT, PHONE, TEMPLATE)


def test_unknown_subject_verifies_false(codes: OneTimeCodes) -> None:
    assert codes.verify("login", SUBJECT, "123456") is False


@pytest.mark.parametrize(
    ("purpose", "subject"),
    [("Login", SUBJECT), ("log in", SUBJECT), ("", SUBJECT), ("login", "a:b"), ("login", "")],
)
def test_purpose_and_subject_are_validated(codes: OneTimeCodes, purpose: str, subject: str) -> None:
    with pytest.raises(ValueError):
        codes.send(purpose, subject, PHONE, TEMPLATE)
    with pytest.raises(ValueError):
        codes.verify(purpose, subject, "123456")


def test_template_must_hold_the_code(codes: OneTimeCodes, sender: RecordingSender) -> None:
    with pytest.raises(ValueError):
        codes.send("login", SUBJECT, PHONE, "no placeholder here")
    assert sender.sent == []


def test_constructor_refuses_weak_keys_and_nonsense(cache: Cache, clock: FrozenClock) -> None:
    with pytest.raises(ValueError):
        OneTimeCodes(cache, RecordingSender(), clock, key=b"short")
    with pytest.raises(ValueError):
        OneTimeCodes(cache, RecordingSender(), clock, max_attempts=0, key=KEY)
    assert "key" not in repr(OneTimeCodes(cache, RecordingSender(), clock, key=KEY)).lower()


def test_codes_are_uniformly_six_digits(
    cache: Cache, sender: RecordingSender, clock: FrozenClock
) -> None:
    codes = OneTimeCodes(cache, sender, clock, resend_interval=0, key=KEY)
    for index in range(40):
        codes.send("login", f"s{index}", PHONE, "{code}")
    sent = [message for _, message in sender.sent]
    assert all(re.fullmatch(r"\d{6}", message) for message in sent)
    assert len(set(sent)) > 35  # not a constant, not a tiny range


# --- Outbox -----------------------------------------------------------------------------


def test_outbox_appends_json_lines_with_mode_0600(tmp_path: Path, clock: FrozenClock) -> None:
    outbox = OutboxSender(tmp_path / "sms", clock)
    outbox.send(PHONE, "验证码 123456")
    clock.advance(seconds=5)
    outbox.send("+8613900001111", "second")
    path = tmp_path / "sms" / "outbox.jsonl"
    assert outbox.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert lines == [
        {
            "time": "2026-11-27T09:00:00+00:00",
            "phone_masked": "138****5678",
            "phone": PHONE,
            "message": "验证码 123456",
        },
        {
            "time": "2026-11-27T09:00:05+00:00",
            "phone_masked": "+86*******1111",
            "phone": "+8613900001111",
            "message": "second",
        },
    ]


def test_outbox_tightens_a_preexisting_file(tmp_path: Path) -> None:
    path = tmp_path / "outbox.jsonl"
    path.write_text("")
    path.chmod(0o644)
    OutboxSender(tmp_path).send(PHONE, "x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_outbox_with_one_time_codes(cache: Cache, tmp_path: Path, clock: FrozenClock) -> None:
    codes = OneTimeCodes(cache, OutboxSender(tmp_path, clock), clock, key=KEY)
    codes.send("login", SUBJECT, PHONE, TEMPLATE)
    entry = json.loads((tmp_path / "outbox.jsonl").read_text("utf-8").splitlines()[-1])
    match = re.search(r"\d{6}", entry["message"])
    assert match is not None
    assert codes.verify("login", SUBJECT, match.group()) is True


@given(st.text(alphabet="+0123456789", min_size=8, max_size=16))
def test_mask_phone_keeps_only_the_ends(phone: str) -> None:
    masked = mask_phone(phone)
    assert len(masked) == len(phone)
    assert masked[:3] == phone[:3] and masked[-4:] == phone[-4:]
    assert set(masked[3:-4]) <= {"*"}


def test_mask_phone_short_values() -> None:
    assert mask_phone("12345") == "***45"
    assert mask_phone("") == ""
