"""HOTP (RFC 4226) and TOTP (RFC 6238), checked against the RFC vectors and against pyotp."""

from __future__ import annotations

import base64
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idp.credentials.totp import (
    Algorithm,
    decode_secret,
    dynamic_truncate,
    hotp,
    new_secret,
    provisioning_uri,
    time_step,
    totp,
    verify_totp,
)

AT = datetime(2026, 11, 27, 9, 0, 10, tzinfo=UTC)
SEED_SHA1 = b"12345678901234567890"
SEED_SHA256 = b"12345678901234567890123456789012"
SEED_SHA512 = b"1234567890123456789012345678901234567890123456789012345678901234"
SEEDS: dict[Algorithm, bytes] = {"sha1": SEED_SHA1, "sha256": SEED_SHA256, "sha512": SEED_SHA512}

# RFC 6238 Appendix B: (Unix time, T as hex, TOTP for SHA1, SHA256, SHA512), 8 digits.
RFC6238 = [
    (59, "0000000000000001", "94287082", "46119246", "90693936"),
    (1111111109, "00000000023523EC", "07081804", "68084774", "25091201"),
    (1111111111, "00000000023523ED", "14050471", "67062674", "99943326"),
    (1234567890, "000000000273EF07", "89005924", "91819424", "93441116"),
    (2000000000, "0000000003F940AA", "69279037", "90698825", "38618901"),
    (20000000000, "0000000027BC86AA", "65353130", "77737706", "47863826"),
]

# RFC 4226 Appendix D: HOTP of counters 0..9 with the SHA1 seed, 6 digits.
RFC4226 = [
    "755224",
    "287082",
    "359152",
    "969429",
    "338314",
    "254676",
    "287922",
    "162583",
    "399871",
    "520489",
]


def _b32(key: bytes) -> str:
    return base64.b32encode(key).decode()


@pytest.mark.parametrize("counter", range(10))
def test_hotp_rfc4226_appendix_d(counter: int) -> None:
    assert hotp(SEED_SHA1, counter) == RFC4226[counter]


def test_hotp_rfc4226_negatives() -> None:
    assert hotp(SEED_SHA1, 0) != hotp(SEED_SHA1, 1)
    assert hotp(b"12345678901234567891", 0) != RFC4226[0]
    with pytest.raises(ValueError):
        hotp(SEED_SHA1, -1)
    with pytest.raises(ValueError):
        hotp(SEED_SHA1, 2**64)
    with pytest.raises(ValueError):
        hotp(SEED_SHA1, 0, digits=5)


def test_dynamic_truncation_rfc4226_section_5_4() -> None:
    mac = bytes.fromhex("1f8698690e02ca16618550ef7f19da8e945b555a")
    assert dynamic_truncate(mac) == 0x50EF7F19
    assert dynamic_truncate(mac) % 10**6 == 872921
    # The top bit is masked off (RFC 4226 §5.3, "avoid confusion about signed ... modulo").
    assert dynamic_truncate(b"\xff" * 19 + b"\x00") == 0x7FFFFFFF


@pytest.mark.parametrize(("unix", "step_hex", "sha1", "sha256", "sha512"), RFC6238)
def test_totp_rfc6238_appendix_b(
    unix: int, step_hex: str, sha1: str, sha256: str, sha512: str
) -> None:
    at = datetime.fromtimestamp(unix, UTC)
    assert time_step(at) == int(step_hex, 16)
    assert totp(SEED_SHA1, at, digits=8) == sha1
    assert totp(SEED_SHA256, at, digits=8, algorithm="sha256") == sha256
    assert totp(SEED_SHA512, at, digits=8, algorithm="sha512") == sha512
    # verify_totp answers the step for the vector, and nothing for its neighbour's code.
    step = verify_totp(_b32(SEED_SHA1), sha1, at, window=0, last_used_step=None, digits=8)
    assert step == int(step_hex, 16)
    assert verify_totp(_b32(SEED_SHA1), sha256, at, window=0, last_used_step=None, digits=8) is None


def test_time_step_boundaries_and_naive_datetimes() -> None:
    assert time_step(datetime.fromtimestamp(29, UTC)) == 0
    assert time_step(datetime.fromtimestamp(30, UTC)) == 1
    assert time_step(datetime(2026, 1, 1, 8, 0, tzinfo=UTC)) == time_step(
        datetime.fromisoformat("2026-01-01T16:00:00+08:00")
    )
    with pytest.raises(ValueError):
        time_step(datetime(2026, 1, 1))  # naive: ambiguous
    with pytest.raises(ValueError):
        verify_totp(new_secret(), "123456", datetime(2026, 1, 1), last_used_step=None)


_secrets = st.binary(min_size=16, max_size=64).map(_b32)
_times = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(_secrets, _times, st.sampled_from([6, 7, 8]))
def test_totp_agrees_with_pyotp(secret: str, at: datetime, digits: int) -> None:
    expected = pyotp.TOTP(secret, digits=digits).at(at)
    assert totp(decode_secret(secret), at, digits=digits) == expected
    assert verify_totp(secret, expected, at, last_used_step=None, digits=digits) == time_step(at)


@settings(max_examples=200, deadline=None)
@given(_secrets, st.integers(min_value=0, max_value=2**40))
def test_hotp_agrees_with_pyotp(secret: str, counter: int) -> None:
    assert hotp(decode_secret(secret), counter) == pyotp.HOTP(secret).at(counter)


@settings(max_examples=200, deadline=None)
@given(_times, st.integers(min_value=-3, max_value=3))
def test_window_accepts_only_adjacent_steps(at: datetime, offset: int) -> None:
    secret = new_secret()
    code = pyotp.TOTP(secret).at(at + timedelta(seconds=30 * offset))
    current = time_step(at)
    accepted = verify_totp(secret, code, at, window=1, last_used_step=None)
    if abs(offset) <= 1:
        assert accepted == current + offset
    else:
        # A far code is refused unless it happens to collide with a near one (~3e-6).
        near = {pyotp.TOTP(secret).at(at + timedelta(seconds=30 * d)) for d in (-1, 0, 1)}
        assert accepted is None or code in near
    assert verify_totp(secret, code, at, window=0, last_used_step=None) in (
        {current} if offset == 0 else {None, current}
    )


def test_window_bounds_are_configurable() -> None:
    secret = new_secret()
    late = pyotp.TOTP(secret).at(AT - timedelta(seconds=60))
    assert verify_totp(secret, late, AT, window=1, last_used_step=None) is None
    assert verify_totp(secret, late, AT, window=2, last_used_step=None) == time_step(AT) - 2
    with pytest.raises(ValueError):
        verify_totp(secret, late, AT, window=-1, last_used_step=None)


def test_replay_is_refused() -> None:
    secret = new_secret()
    code = pyotp.TOTP(secret).at(AT)
    step = verify_totp(secret, code, AT, last_used_step=None)
    assert step == time_step(AT)
    # The same code again, even seconds later within the same step or the window: refused.
    assert verify_totp(secret, code, AT, last_used_step=step) is None
    assert verify_totp(secret, code, AT + timedelta(seconds=25), last_used_step=step) is None
    # An earlier code (step - 1, still inside the window) is refused as well.
    earlier = pyotp.TOTP(secret).at(AT - timedelta(seconds=30))
    assert verify_totp(secret, earlier, AT, last_used_step=step) is None
    # The next step's code is accepted, and answers the next step.
    following = pyotp.TOTP(secret).at(AT + timedelta(seconds=30))
    assert verify_totp(secret, following, AT + timedelta(seconds=30), last_used_step=step) == (
        step + 1
    )


def test_replay_allows_a_later_step_in_the_window() -> None:
    secret = new_secret()
    step = time_step(AT)
    ahead = pyotp.TOTP(secret).at(AT + timedelta(seconds=30))
    assert verify_totp(secret, ahead, AT, last_used_step=step) == step + 1
    assert verify_totp(secret, ahead, AT, last_used_step=step + 1) is None


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "12a456", "１２３４５６", "123456\x00"])
def test_malformed_codes_are_refused(bad: str) -> None:
    secret = _b32(SEED_SHA1)
    assert verify_totp(secret, bad, datetime.fromtimestamp(59, UTC), last_used_step=None) is None


def test_whitespace_in_the_code_is_ignored() -> None:
    secret = new_secret()
    code = pyotp.TOTP(secret).at(AT)
    spaced = f" {code[:3]} {code[3:]}\n"
    assert verify_totp(secret, spaced, AT, last_used_step=None) == time_step(AT)


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    secret = new_secret()
    code = pyotp.TOTP(secret).at(AT - timedelta(seconds=30))
    assert verify_totp(secret, code, AT, window=1, last_used_step=None) is not None
    assert len(calls) == 3  # every step of the window is compared, even after a match


def test_new_secret_is_160_bits_of_base32() -> None:
    secrets_ = {new_secret() for _ in range(50)}
    assert len(secrets_) == 50
    for secret in secrets_:
        assert len(secret) == 32 and "=" not in secret
        assert len(decode_secret(secret)) == 20


def test_decode_secret_is_tolerant_but_strict_about_alphabet() -> None:
    assert decode_secret("gezd gnbv gy3t qojq gezd gnbv gy3t qojq") == SEED_SHA1
    assert decode_secret(_b32(SEED_SHA256).lower().rstrip("=")) == SEED_SHA256
    for bad in ["", "1!!!", "ABCDEFG0" * 4, _b32(b"15 bytes secret")]:  # '0', '1', '!' not base32
        with pytest.raises(ValueError) as excinfo:
            decode_secret(bad)
        assert not bad or bad not in str(excinfo.value)
    assert len(decode_secret(_b32(b"16 bytes secret!"))) == 16


def test_provisioning_uri_round_trips_through_pyotp() -> None:
    secret = new_secret()
    uri = provisioning_uri(secret, "zhang san@example.cn", "Gov Trust 政务")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert parts.path == "/Gov%20Trust%20%E6%94%BF%E5%8A%A1:zhang%20san%40example.cn"
    query = parse_qs(parts.query)
    assert query["secret"] == [secret]
    assert query["issuer"] == ["Gov Trust 政务"]
    assert (query["algorithm"], query["digits"], query["period"]) == (["SHA1"], ["6"], ["30"])
    assert "+" not in parts.query  # spaces are %20 (Key Uri Format), not '+'
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.secret == secret and parsed.issuer == "Gov Trust 政务"
    assert parsed.name == "zhang san@example.cn"
    assert parsed.at(AT) == totp(decode_secret(secret), AT)


@pytest.mark.parametrize(
    ("account", "issuer"), [("a:b", "GovTrust"), ("alice", "Gov:Trust"), ("", "GovTrust")]
)
def test_provisioning_uri_refuses_colons_and_empty_labels(account: str, issuer: str) -> None:
    with pytest.raises(ValueError):
        provisioning_uri(new_secret(), account, issuer)


def test_provisioning_uri_refuses_a_malformed_secret() -> None:
    with pytest.raises(ValueError):
        provisioning_uri("not base32!", "alice", "GovTrust")


@settings(max_examples=100, deadline=None)
@given(
    st.text(min_size=1, max_size=30).filter(lambda s: ":" not in s),
    st.text(min_size=1, max_size=30).filter(lambda s: ":" not in s),
)
def test_provisioning_uri_property_labels_survive(account: str, issuer: str) -> None:
    secret = new_secret()
    parsed = pyotp.parse_uri(provisioning_uri(secret, account, issuer))
    assert parsed.name == account and parsed.issuer == issuer and parsed.secret == secret
