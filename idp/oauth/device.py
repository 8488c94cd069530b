"""Device authorizations of the device grant (RFC 8628), kept in the shared cache.

A device authorization lives ten minutes (§3.2 ``expires_in``), so it is kept in the cache
(Redis in production), not in a table. Only keyed hashes are used as keys: the device code
(a bearer secret of the kiosk) and the user code are never stored in the clear.

Keys, all under the device code's hash ``h``:

- ``device:{h}``: the authorization as issued (client, scope, user code, times); never
  changed afterwards.
- ``device-user:{hash of the user code}``: ``h``, so that the verification page finds it.
- ``device-decision:{h}``: the person's decision, written once (``add``): approving and
  denying cannot both win, nor can a second decision replace the first.
- ``device-poll:{h}``: when the kiosk last polled and its current interval (§3.5
  ``slow_down`` adds 5 s for this and every later request; :mod:`idp.oauth.polling`).
- ``device-used:{h}``: claimed once (``add``) when tokens are issued: a second poll after
  success finds it and gets ``invalid_grant``.

Times are those of the provider's clock and are kept in the values; the cache's own expiry
(real time) only removes entries some time after they stopped mattering, so an expired
device code is still recognised and answered ``expired_token`` (§3.5) for a while.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime

from core.cache.base import Cache
from idp.oauth.context import IdpContext
from idp.oauth.polling import Poll, record_poll

LIFETIME_SECONDS = 600
INTERVAL_SECONDS = 5
# Kept past expiry so that a late poll is told expired_token rather than invalid_grant.
RETENTION_SECONDS = LIFETIME_SECONDS + 3600

# RFC 8628 §6.1: base-20, no vowels (no words), nothing that looks like 0/O or 1/I.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8


def new_user_code() -> str:
    """Eight characters of the alphabet, shown as ``XXXX-XXXX`` (~34.5 bits)."""
    raw = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def normalise_user_code(typed: str) -> str | None:
    """What a person typed, upper-cased without spaces or dashes; None if it cannot be a
    user code (so malformed input never reaches the store)."""
    compact = "".join(typed.split()).replace("-", "").upper()
    if len(compact) != USER_CODE_LENGTH or any(c not in USER_CODE_ALPHABET for c in compact):
        return None
    return compact


def display_user_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


@dataclass(frozen=True)
class DeviceAuthorization:
    device_hash: str
    client_id: str
    scope: str
    user_code: str  # as shown, XXXX-XXXX
    issued_at: float  # POSIX seconds of the provider's clock
    expires_at: float

    def expired(self, now: datetime) -> bool:
        return now.timestamp() >= self.expires_at


@dataclass(frozen=True)
class DeviceDecision:
    approved: bool
    person_id: str
    grant_id: str | None  # the grant recorded at approval; None when denied


class DeviceCodeStore:
    """The device authorizations; every mutation that must happen once is an ``add``."""

    def __init__(self, cache: Cache, ctx: IdpContext) -> None:
        self.cache = cache
        self.ctx = ctx

    def _hash(self, device_code: str) -> str:
        return self.ctx.digest("device_code", device_code)

    def _user_key(self, normalised: str) -> str:
        return "device-user:" + self.ctx.digest("user_code", normalised)

    def issue(self, client_id: str, scope: str, device_code: str) -> DeviceAuthorization:
        """Store a new authorization with a fresh user code (redrawn on a collision)."""
        device_hash = self._hash(device_code)
        now = self.ctx.clock().timestamp()
        for _ in range(10):
            user_code = new_user_code()
            normalised = normalise_user_code(user_code)
            assert normalised is not None
            if self.cache.add(
                self._user_key(normalised), device_hash.encode(), ttl=RETENTION_SECONDS
            ):
                break
        else:  # pragma: no cover - 20^8 codes; ten collisions in a row means a broken RNG
            raise RuntimeError("no free user code")
        authorization = DeviceAuthorization(
            device_hash=device_hash,
            client_id=client_id,
            scope=scope,
            user_code=user_code,
            issued_at=now,
            expires_at=now + LIFETIME_SECONDS,
        )
        self.cache.set(
            f"device:{device_hash}",
            json.dumps(asdict(authorization)).encode(),
            ttl=RETENTION_SECONDS,
        )
        return authorization

    def _load(self, device_hash: str) -> DeviceAuthorization | None:
        raw = self.cache.get(f"device:{device_hash}")
        return None if raw is None else DeviceAuthorization(**json.loads(raw))

    def find(self, device_code: str) -> DeviceAuthorization | None:
        if not device_code or len(device_code) > 128:
            return None
        return self._load(self._hash(device_code))

    def find_by_user_code(self, typed: str) -> DeviceAuthorization | None:
        normalised = normalise_user_code(typed)
        if normalised is None:
            return None
        device_hash = self.cache.get(self._user_key(normalised))
        return None if device_hash is None else self._load(device_hash.decode())

    def decide(self, authorization: DeviceAuthorization, decision: DeviceDecision) -> bool:
        """Record the person's decision; False if one was already recorded."""
        return self.cache.add(
            f"device-decision:{authorization.device_hash}",
            json.dumps(asdict(decision)).encode(),
            ttl=RETENTION_SECONDS,
        )

    def decision(self, authorization: DeviceAuthorization) -> DeviceDecision | None:
        raw = self.cache.get(f"device-decision:{authorization.device_hash}")
        return None if raw is None else DeviceDecision(**json.loads(raw))

    def poll(self, authorization: DeviceAuthorization) -> Poll:
        """Record this poll: too fast, or not, and the interval from now on (§3.5)."""
        key = f"device-poll:{authorization.device_hash}"
        now = self.ctx.clock().timestamp()
        return record_poll(self.cache, key, now, INTERVAL_SECONDS, RETENTION_SECONDS)

    def consume(self, authorization: DeviceAuthorization) -> bool:
        """Claim the approved authorization for issuing tokens; True exactly once."""
        return self.cache.add(
            f"device-used:{authorization.device_hash}", b"1", ttl=RETENTION_SECONDS
        )

    def consumed(self, authorization: DeviceAuthorization) -> bool:
        return self.cache.get(f"device-used:{authorization.device_hash}") is not None


# RFC 8628 §5.1: user codes have little entropy, so guessing is rate limited. Failed
# look-ups are counted per person and per network address over a window, from the moment
# each begins (GuessLimit.begin) until it finds an authorization; once either count reaches
# its limit, no look-up is made at all, a correct code included.
GUESS_WINDOW_SECONDS = 900
GUESS_LIMIT_PER_PERSON = 5
GUESS_LIMIT_PER_ADDRESS = 20


class GuessLimit:
    def __init__(self, cache: Cache, ctx: IdpContext) -> None:
        self.cache = cache
        self.ctx = ctx

    def _keys(self, person_id: str, address: str) -> list[tuple[str, int]]:
        digest = self.ctx.digest
        return [
            ("device-guess:p:" + digest("device-guess", person_id), GUESS_LIMIT_PER_PERSON),
            ("device-guess:a:" + digest("device-guess", address), GUESS_LIMIT_PER_ADDRESS),
        ]

    def begin(self, person_id: str, address: str) -> bool:
        """Count a look-up as a failure before it is made, so that look-ups sent at the same
        moment count against the limits too; False (and not counted) once either count is
        at its limit: then no look-up is made."""
        keys = self._keys(person_id, address)
        counts = [self.cache.incr(key, ttl=GUESS_WINDOW_SECONDS) for key, _ in keys]
        if all(count <= limit for count, (_, limit) in zip(counts, keys, strict=True)):
            return True
        for key, _ in keys:
            self.cache.decr(key)
        return False

    def found(self, person_id: str, address: str) -> None:
        """The look-up found an authorization: it is taken back, not a failed guess."""
        for key, _ in self._keys(person_id, address):
            self.cache.decr(key)
