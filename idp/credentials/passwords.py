"""Password hashing with argon2id (RFC 9106) and the password policy.

Hashing
    argon2id through argon2-cffi, with the *second recommended option* of RFC 9106 §4
    (t=3 passes, m=64 MiB, p=4 lanes, 128-bit salt, 256-bit tag), the option for
    environments that cannot spare 2 GiB per hash. Hashes are stored in the PHC string
    format (``$argon2id$v=19$m=65536,t=3,p=4$salt$tag``), so a stored hash records its own
    parameters and can be verified after the defaults change; :func:`verify_password`
    then hands back a fresh hash for the caller to store (rehash on login).

    Passwords are normalised to Unicode NFKC before hashing (NIST SP 800-63B §5.1.1.2),
    so that the same password typed on two keyboards verifies.

Account enumeration
    :func:`verify_password` with ``stored_hash=None`` (no such account) still runs one
    argon2 verification, against a dummy hash made with the same parameters, so that the
    answer takes as long as for an existing account with a wrong password.

Policy
    :func:`check_password_policy` applies the rules for a *new* password and answers a
    list of stable reason codes (empty when acceptable); the router translates them.

The password is never logged, never put in an exception and never kept after the call.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import Type

__all__ = [
    "COMMON_PASSWORDS",
    "LOW_COST",
    "MAX_LENGTH",
    "MIN_LENGTH",
    "PASSPHRASE_LENGTH",
    "REASON_CONTAINS_PERSONAL",
    "REASON_TOO_COMMON",
    "REASON_TOO_LONG",
    "REASON_TOO_REPETITIVE",
    "REASON_TOO_SHORT",
    "REASON_TOO_SIMPLE",
    "RECOMMENDED",
    "HashParameters",
    "PasswordCheck",
    "check_password_policy",
    "hash_password",
    "verify_password",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HashParameters:
    """argon2id cost parameters (RFC 9106 §3.1). ``memory_cost`` is in KiB."""

    time_cost: int = 3
    memory_cost: int = 64 * 1024
    parallelism: int = 4
    hash_len: int = 32
    salt_len: int = 16

    @classmethod
    def low_cost(cls) -> HashParameters:
        """Cheap parameters for tests only (a few milliseconds per hash)."""
        return cls(time_cost=1, memory_cost=8 * 1024, parallelism=1)


RECOMMENDED: Final = HashParameters()
"""RFC 9106 §4, second recommended option: argon2id, t=3, m=64 MiB, p=4."""

LOW_COST: Final = HashParameters.low_cost()


@functools.lru_cache(maxsize=8)
def _hasher(params: HashParameters) -> PasswordHasher:
    return PasswordHasher(
        time_cost=params.time_cost,
        memory_cost=params.memory_cost,
        parallelism=params.parallelism,
        hash_len=params.hash_len,
        salt_len=params.salt_len,
        encoding="utf-8",
        type=Type.ID,
    )


@functools.lru_cache(maxsize=8)
def _dummy_hash(params: HashParameters) -> str:
    """A hash of a random, discarded password, made with ``params`` (computed once)."""
    return _hasher(params).hash(secrets.token_urlsafe(32))


def _normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@dataclass(frozen=True)
class PasswordCheck:
    """The outcome of a verification.

    ``new_hash`` is set only when ``ok`` and the stored hash was made with other parameters
    than the current ones (older costs, another argon2 variant): store it in place of the old.
    """

    ok: bool
    new_hash: str | None = None

    def __repr__(self) -> str:
        return f"PasswordCheck(ok={self.ok}, rehash={self.new_hash is not None})"


def hash_password(password: str, *, params: HashParameters = RECOMMENDED) -> str:
    """The argon2id PHC string of ``password`` with a fresh random salt (RFC 9106 §3.1)."""
    return _hasher(params).hash(_normalise(password))


def verify_password(
    stored_hash: str | None, password: str, *, params: HashParameters = RECOMMENDED
) -> PasswordCheck:
    """Check ``password`` against ``stored_hash`` in time independent of the account's existence.

    ``stored_hash=None`` means the account does not exist (or has no password): a dummy
    verification with the same ``params`` still runs and the answer is ``ok=False``.
    A malformed stored hash is treated the same way and logged (without the hash).
    """
    hasher = _hasher(params)
    candidate = _normalise(password)
    if stored_hash is None:
        _burn(hasher, params, candidate)
        return PasswordCheck(ok=False)
    try:
        hasher.verify(stored_hash, candidate)
    except VerifyMismatchError:
        return PasswordCheck(ok=False)
    except (InvalidHashError, VerificationError):
        # Not a mismatch: the stored value cannot be decoded (argon2 reports some of these
        # as a generic VerificationError). Spend the time of a verification all the same.
        log.warning("stored password hash is malformed; treating as a failed verification")
        _burn(hasher, params, candidate)
        return PasswordCheck(ok=False)
    if hasher.check_needs_rehash(stored_hash):
        return PasswordCheck(ok=True, new_hash=hasher.hash(candidate))
    return PasswordCheck(ok=True)


def _burn(hasher: PasswordHasher, params: HashParameters, candidate: str) -> None:
    """Spend the time of one verification against the dummy hash; the result is ignored."""
    with contextlib.suppress(VerificationError):
        hasher.verify(_dummy_hash(params), candidate)


# --- Policy -----------------------------------------------------------------------------

MIN_LENGTH: Final = 10
"""Shortest acceptable password (characters, after NFKC)."""

PASSPHRASE_LENGTH: Final = 16
"""From this length on, the character-class rule no longer applies (a passphrase)."""

MAX_LENGTH: Final = 256
"""Longest acceptable new password; NIST SP 800-63B §5.1.1.2 asks for at least 64."""

_MIN_CLASSES: Final = 3
_MIN_DISTINCT: Final = 5
_PERSONAL_MIN: Final = 4
_PERSONAL_WINDOW: Final = 6

REASON_TOO_SHORT: Final = "too_short"
REASON_TOO_LONG: Final = "too_long"
REASON_TOO_SIMPLE: Final = "too_simple"
"""Fewer than three of lower case, upper case, digits, other -- and shorter than 16."""
REASON_TOO_REPETITIVE: Final = "too_repetitive"
"""Fewer than five distinct characters."""
REASON_CONTAINS_PERSONAL: Final = "contains_personal"
REASON_TOO_COMMON: Final = "too_common"

# The most used passwords of public breach corpora (international and Chinese sites).
# Matching is case-insensitive, ignores leading/trailing digits and symbols and undoes
# the usual character substitutions, so "P@ssw0rd2024!" is caught by "password".
COMMON_PASSWORDS: Final = frozenset(
    {
        "123456",
        "123456789",
        "12345678",
        "1234567890",
        "1234567",
        "12345",
        "123123",
        "111111",
        "000000",
        "666666",
        "888888",
        "654321",
        "123321",
        "112233",
        "121212",
        "147258369",
        "987654321",
        "11111111",
        "88888888",
        "1314520",
        "5201314",
        "password",
        "passw0rd",
        "password1",
        "qwerty",
        "qwertyuiop",
        "qwerty123",
        "1q2w3e4r",
        "1q2w3e4r5t",
        "1qaz2wsx",
        "1qaz2wsx3edc",
        "qazwsxedc",
        "zaq12wsx",
        "asdfghjkl",
        "asdfgh",
        "zxcvbnm",
        "zxcvbnm123",
        "abc123",
        "abcd1234",
        "a123456",
        "aa123456",
        "qq123456",
        "123qwe",
        "qweasdzxc",
        "iloveyou",
        "woaini",
        "woaini1314",
        "admin",
        "administrator",
        "root",
        "welcome",
        "letmein",
        "monkey",
        "dragon",
        "football",
        "baseball",
        "sunshine",
        "princess",
        "superman",
        "batman",
        "master",
        "shadow",
        "login",
        "starwars",
        "hello",
        "freedom",
        "whatever",
        "trustno1",
        "changeme",
        "secret",
        "default",
        "guest",
        "test",
        "qwer",
        "asdf",
        "azerty",
        "michael",
        "jennifer",
        "charlie",
        "computer",
        "internet",
        "samsung",
        "google",
        "baidu",
        "taobao",
        "weixin",
        "wechat",
        "huawei",
        "china",
        "beijing",
        "shanghai",
    }
)

_DECORATION: Final = "0123456789!@#$%^&*()_+-=.,?~ "
_SUBSTITUTIONS: Final = str.maketrans(
    {"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "$": "s", "5": "s", "7": "t"}
)


def _classes(password: str) -> int:
    lower = any(c.islower() for c in password)
    upper = any(c.isupper() for c in password)
    digit = any(c.isdigit() for c in password)
    other = any(not (c.islower() or c.isupper() or c.isdigit()) for c in password)
    return lower + upper + digit + other


def _is_common(folded: str) -> bool:
    """A common password, possibly with substitutions, surrounded only by digits/symbols."""
    translated = folded.translate(_SUBSTITUTIONS)  # one character for one: positions align
    for word in COMMON_PASSWORDS:
        for text, needle in ((folded, word), (translated, word.translate(_SUBSTITUTIONS))):
            start = text.find(needle)
            while start != -1:
                rest = folded[:start] + folded[start + len(word) :]
                if all(c in _DECORATION for c in rest):
                    return True
                start = text.find(needle, start + 1)
    return False


def _personal_fragments(personal: Iterable[str]) -> set[str]:
    """Each personal value of 4+ characters, and every 6-character run of the longer ones
    (so any part of an ID number or phone number is caught: birth date, last digits)."""
    fragments: set[str] = set()
    for value in personal:
        folded = _normalise(value).casefold().strip()
        if len(folded) < _PERSONAL_MIN:
            continue
        fragments.add(folded)
        for start in range(len(folded) - _PERSONAL_WINDOW + 1):
            fragments.add(folded[start : start + _PERSONAL_WINDOW])
    return fragments


def check_password_policy(password: str, *, personal: Iterable[str] = ()) -> list[str]:
    """The reasons a new password is refused; an empty list means acceptable.

    Rules (after NFKC): at least :data:`MIN_LENGTH` characters, at most :data:`MAX_LENGTH`;
    at least three of four character classes unless at least :data:`PASSPHRASE_LENGTH`
    characters; at least five distinct characters; not containing any ``personal`` value
    (ID number, phone, name, e-mail -- any 6-character run of a longer value counts);
    not one of :data:`COMMON_PASSWORDS`. The reasons are the ``REASON_*`` codes.
    """
    candidate = _normalise(password)
    folded = candidate.casefold()
    reasons: list[str] = []
    if len(candidate) < MIN_LENGTH:
        reasons.append(REASON_TOO_SHORT)
    if len(candidate) > MAX_LENGTH:
        reasons.append(REASON_TOO_LONG)
    if len(candidate) < PASSPHRASE_LENGTH and _classes(candidate) < _MIN_CLASSES:
        reasons.append(REASON_TOO_SIMPLE)
    if len(set(folded)) < _MIN_DISTINCT:
        reasons.append(REASON_TOO_REPETITIVE)
    if any(fragment in folded for fragment in _personal_fragments(personal)):
        reasons.append(REASON_CONTAINS_PERSONAL)
    if _is_common(folded):
        reasons.append(REASON_TOO_COMMON)
    return reasons
