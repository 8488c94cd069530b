"""One-time codes sent by SMS, kept in the shared cache as a MAC only.

A code is six decimal digits drawn with :mod:`secrets`. The cache (Redis in production,
shared by every worker) holds only ``HMAC-SHA-256(key, purpose || subject || nonce || code)``
(RFC 2104; FIPS 198-1), never the code: somebody who can read the cache cannot recover the
code without the server key, whereas a bare SHA-256 of a 6-digit code is reversed by
trying the million values. The key is derived from the deployment secret with HKDF
(RFC 5869), see :func:`derive_code_key`.

Cache keys (``purpose`` is a short slug, ``subject`` an opaque value such as a blind index
or a session id -- never an ID number or a phone number):

``otp:{purpose}:{subject}``
    JSON ``{"mac", "nonce", "issued", "expires"}``, cache TTL = ``ttl``.
``otp:{purpose}:{subject}:attempts:{nonce}``
    verification attempts of one code (``Cache.incr``), so a resend starts a fresh count.
``otp:{purpose}:{subject}:used:{nonce}``
    set with ``Cache.add`` on success: exactly one concurrent verifier wins.
``otp:{purpose}:{subject}:sent`` and ``...:claim:{nonce}``
    when the last code was sent, and an ``add`` claim so that of two workers resending at
    once only one sends.

Times (expiry, resend interval) are read from the injected clock; the cache TTLs only
bound how long entries live. The code in clear exists only in the SMS.
"""

from __future__ import annotations

import hmac
import json
import math
import os
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Final, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.cache.base import Cache

__all__ = [
    "CODE_DIGITS",
    "OneTimeCodes",
    "OutboxSender",
    "SmsSender",
    "TooSoon",
    "derive_code_key",
    "mask_phone",
]

CODE_DIGITS: Final = 6
OUTBOX_FILE: Final = "outbox.jsonl"
_MIN_KEY: Final = 32
_KEY_INFO: Final = b"govtrust sms one-time code mac v1"
_PURPOSE: Final = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")
_SUBJECT: Final = re.compile(r"[A-Za-z0-9_.+/=-]{1,200}")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def derive_code_key(secret: bytes) -> bytes:
    """The MAC key of the one-time codes, derived from the deployment secret (RFC 5869)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_INFO).derive(secret)


def mask_phone(phone: str) -> str:
    """``13812345678`` -> ``138****5678``: the first three and last four characters."""
    if len(phone) >= 8:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    return "*" * max(len(phone) - 2, 0) + phone[-2:]


class SmsSender(Protocol):
    """Delivers one SMS. Raises on failure; must not log the message (it holds a code)."""

    def send(self, phone: str, message: str) -> None: ...


class OutboxSender:
    """The embedded sender: appends one JSON line per SMS to ``outbox.jsonl`` (mode 0600).

    Lines are ``{"time", "phone_masked", "phone", "message"}``. No network: the demo and
    the tests read the file. The file holds codes in clear, so it is for development and
    demonstration only; production plugs in an SMS gateway.
    """

    def __init__(self, directory: Path, clock: Callable[[], datetime] = _utcnow) -> None:
        self.path = Path(directory) / OUTBOX_FILE
        self._clock = clock
        self._lock = threading.Lock()

    def send(self, phone: str, message: str) -> None:
        line = json.dumps(
            {
                "time": self._clock().isoformat(),
                "phone_masked": mask_phone(phone),
                "phone": phone,
                "message": message,
            },
            ensure_ascii=False,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.fchmod(fd, 0o600)  # also when the file pre-existed or the umask differs
                os.write(fd, (line + "\n").encode("utf-8"))
            finally:
                os.close(fd)


class TooSoon(Exception):
    """A code was sent less than ``resend_interval`` ago; retry after ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"a code was sent recently; retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Entry:
    mac: str
    nonce: str
    issued: float
    expires: float

    def encode(self) -> bytes:
        return json.dumps(
            {"mac": self.mac, "nonce": self.nonce, "issued": self.issued, "expires": self.expires}
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> _Entry:
        data = json.loads(raw)
        return cls(
            str(data["mac"]), str(data["nonce"]), float(data["issued"]), float(data["expires"])
        )


class OneTimeCodes:
    """Issue and check single-use SMS codes for ``(purpose, subject)``.

    ``ttl``: lifetime of a code (s). ``max_attempts``: verifications allowed per code, after
    which it is burned. ``resend_interval``: minimum time between two sends (s). ``key``:
    the MAC key (at least 32 bytes, see :func:`derive_code_key`), the same in every worker.
    """

    def __init__(
        self,
        cache: Cache,
        sender: SmsSender,
        clock: Callable[[], datetime] = _utcnow,
        ttl: int = 300,
        max_attempts: int = 5,
        resend_interval: int = 60,
        *,
        key: bytes,
    ) -> None:
        if len(key) < _MIN_KEY:
            raise ValueError(f"the MAC key must be at least {_MIN_KEY} bytes")
        if ttl <= 0 or max_attempts <= 0 or resend_interval < 0:
            raise ValueError("ttl and max_attempts must be positive, resend_interval >= 0")
        self._cache = cache
        self._sender = sender
        self._clock = clock
        self._ttl = ttl
        self._max_attempts = max_attempts
        self._resend_interval = resend_interval
        self._key = key

    def __repr__(self) -> str:
        return f"OneTimeCodes(ttl={self._ttl}, max_attempts={self._max_attempts})"

    @staticmethod
    def _base(purpose: str, subject: str) -> str:
        if not _PURPOSE.fullmatch(purpose):
            raise ValueError("purpose must be a short lower-case slug")
        if not _SUBJECT.fullmatch(subject):
            raise ValueError("subject must be an opaque token (no ':' or spaces)")
        return f"otp:{purpose}:{subject}"

    def _mac(self, purpose: str, subject: str, nonce: str, code: str) -> str:
        message = b"\x00".join(part.encode() for part in (purpose, subject, nonce, code))
        return hmac.new(self._key, message, sha256).hexdigest()

    def send(self, purpose: str, subject: str, phone: str, message_template: str) -> None:
        """Issue a fresh code, replacing any previous one, and send it to ``phone``.

        ``message_template`` contains ``{code}`` and may contain ``{minutes}`` (the
        lifetime). Raises :class:`TooSoon` within ``resend_interval`` of the previous send.
        If the sender raises, the new code is withdrawn and the error propagates; the send
        still counts for the resend interval (it protects the SMS gateway as well).
        """
        if "{code}" not in message_template:
            raise ValueError("message_template must contain {code}")
        base = self._base(purpose, subject)
        now = self._clock().timestamp()
        previous = self._cache.get(f"{base}:sent")
        previous_nonce = "none"
        if previous is not None:
            previous_nonce, _, sent_text = previous.decode().partition(" ")
            elapsed = now - float(sent_text)
            if elapsed < self._resend_interval:
                raise TooSoon(math.ceil(self._resend_interval - elapsed))
        claim_ttl = max(self._resend_interval, 1)
        if not self._cache.add(f"{base}:claim:{previous_nonce}", b"1", ttl=claim_ttl):
            raise TooSoon(max(self._resend_interval, 1))  # another worker is sending now
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        nonce = secrets.token_hex(16)
        entry = _Entry(self._mac(purpose, subject, nonce, code), nonce, now, now + self._ttl)
        self._cache.set(
            f"{base}:sent",
            f"{nonce} {now!r}".encode(),
            ttl=max(self._ttl, self._resend_interval) + 1,
        )
        self._cache.set(base, entry.encode(), ttl=self._ttl)
        message = message_template.replace("{minutes}", str(max(self._ttl // 60, 1)))
        try:
            self._sender.send(phone, message.replace("{code}", code))
        except BaseException:
            self._withdraw(base, nonce)
            raise

    def _withdraw(self, base: str, nonce: str) -> None:
        """Delete the code entry if it is still the one with ``nonce``."""
        raw = self._cache.get(base)
        if raw is not None and _Entry.decode(raw).nonce == nonce:
            self._cache.delete(base)

    def verify(self, purpose: str, subject: str, code: str) -> bool:
        """True once for the right code within its lifetime; False otherwise.

        Every call counts as an attempt; after ``max_attempts`` the code is burned. A
        successful code is consumed (atomically, even across workers) and deleted.
        """
        base = self._base(purpose, subject)
        raw = self._cache.get(base)
        if raw is None:
            return False
        entry = _Entry.decode(raw)
        if self._clock().timestamp() >= entry.expires:
            self._withdraw(base, entry.nonce)
            return False
        attempts = self._cache.incr(f"{base}:attempts:{entry.nonce}", ttl=self._ttl)
        if attempts > self._max_attempts:
            self._withdraw(base, entry.nonce)
            return False
        candidate = "".join(code.split())
        well_formed = len(candidate) == CODE_DIGITS and candidate.isascii() and candidate.isdigit()
        expected = self._mac(purpose, subject, entry.nonce, candidate if well_formed else "")
        if not (well_formed and hmac.compare_digest(expected, entry.mac)):
            if attempts >= self._max_attempts:
                self._withdraw(base, entry.nonce)
            return False
        if not self._cache.add(f"{base}:used:{entry.nonce}", b"1", ttl=self._ttl):
            return False  # a concurrent verification consumed it first
        self._withdraw(base, entry.nonce)
        return True
