"""Brute-force protection of the login, over the shared cache (NIST SP 800-63B §5.2.2).

Failed logins are counted per account and per client IP within ``window`` seconds
(``Cache.incr``, so every worker sees the same counts). Each failure makes the next
answer slower (``base_delay * 2**(failures - 1)``, capped at ``max_delay``); at
``per_account_limit`` failures the account is locked for ``lockout`` seconds, at
``per_ip_limit`` failures the IP is. A lockout starts a fresh count afterwards.

The account key is opaque (a blind index of the identifier, never the ID number itself);
it is hashed again before it becomes part of a cache key. IPv6 clients are counted per
/64, the smallest block a subscriber usually gets (RFC 6177), so rotating addresses
within it does not help.

An attempt counts as a failure from the moment it begins (:meth:`LoginThrottle.begin`),
before the password is checked, until it succeeds: attempts made at the same time count
against the limits too. Counted only once a password had been checked, every guess sent
at the same moment, by as many requests as the service has threads and workers, would have
passed before the first failure was counted.

How the login router uses an :class:`Attempt`
    * ``allowed``: wait ``delay_seconds``, verify the password, then call
      :meth:`Attempt.failed` or :meth:`Attempt.succeeded`.
    * not ``allowed`` (locked, or as many attempts under way as the limits leave): do
      **not** verify the real password; run ``verify_password(None, password)`` so the
      answer takes as long as a verification, wait ``delay_seconds`` and answer **exactly
      the same message and status as a wrong password**. A lockout must not tell an
      attacker that the account exists, nor that the password was right.
      ``locked_until`` is for the audit trail and the administrator, never for the page.

When the cache is unavailable :class:`core.cache.CacheUnavailable` propagates: the login
fails closed (503) rather than run unthrottled.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from typing import Final

from core.cache.base import Cache

__all__ = ["Attempt", "LoginThrottle", "ThrottleDecision", "client_ip"]

_IPV6_PREFIX: Final = 64

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ThrottleDecision:
    """What the login router does with this attempt (see the module documentation)."""

    allowed: bool
    delay_seconds: float = 0.0
    locked_until: datetime | None = None


def _parse_ip(text: str) -> IPAddress | None:
    """An address, IPv4-mapped IPv6 unwrapped; ports and brackets stripped; None if invalid."""
    value = text.strip()
    if value.startswith("["):  # "[2001:db8::1]:443"
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:  # "192.0.2.1:443"
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _ip_bucket(ip: str) -> str:
    address = _parse_ip(ip)
    if address is None:
        return "raw-" + sha256(ip.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, _IPV6_PREFIX), strict=False))
    return str(address)


@dataclass(frozen=True)
class Attempt:
    """One attempt begun with :meth:`LoginThrottle.begin`; an allowed one ends with
    :meth:`failed` or :meth:`succeeded` (one left unended stays counted as a failure)."""

    throttle: LoginThrottle
    account_key: str
    ip: str
    decision: ThrottleDecision

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    @property
    def delay_seconds(self) -> float:
        return self.decision.delay_seconds

    def failed(self) -> None:
        """Wrong password (or unknown account, or wrong code): locks what reached its limit."""
        if self.allowed:
            self.throttle._failed(self.account_key, self.ip)

    def succeeded(self) -> None:
        if self.allowed:
            self.throttle._succeeded(self.account_key, self.ip)


class LoginThrottle:
    """Counts failed logins per account and per IP; locks, and slows down, guessing."""

    def __init__(
        self,
        cache: Cache,
        clock: Callable[[], datetime] = _utcnow,
        per_account_limit: int = 5,
        per_ip_limit: int = 50,
        window: float = 900,
        lockout: float = 900,
        base_delay: float = 0.5,
        max_delay: float = 8,
    ) -> None:
        if per_account_limit <= 0 or per_ip_limit <= 0 or window <= 0 or lockout <= 0:
            raise ValueError("limits, window and lockout must be positive")
        if base_delay < 0 or max_delay < base_delay:
            raise ValueError("need 0 <= base_delay <= max_delay")
        self._cache = cache
        self._clock = clock
        self._account_limit = per_account_limit
        self._ip_limit = per_ip_limit
        self._window = window
        self._lockout = lockout
        self._base_delay = base_delay
        self._max_delay = max_delay

    @staticmethod
    def _account(account_key: str) -> str:
        return sha256(account_key.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def _keys(self, account_key: str, ip: str) -> tuple[str, str, str, str]:
        account, bucket = self._account(account_key), _ip_bucket(ip)
        return (
            f"throttle:fail:acct:{account}",
            f"throttle:fail:ip:{bucket}",
            f"throttle:lock:acct:{account}",
            f"throttle:lock:ip:{bucket}",
        )

    def _locked_until(self, key: str, now: datetime) -> datetime | None:
        raw = self._cache.get(key)
        if raw is None:
            return None
        until = datetime.fromtimestamp(float(raw), UTC)
        return until if until > now else None

    def delay_for(self, failures: int) -> float:
        """``base_delay * 2**(failures - 1)``, capped at ``max_delay``; 0 without failures."""
        if failures <= 0:
            return 0.0
        return min(self._max_delay, self._base_delay * 2.0 ** min(failures - 1, 64))

    def _locked(self, account_key: str, ip: str) -> ThrottleDecision | None:
        _, _, lock_account, lock_ip = self._keys(account_key, ip)
        now = self._clock()
        locks = [
            until
            for until in (self._locked_until(lock_account, now), self._locked_until(lock_ip, now))
            if until is not None
        ]
        return ThrottleDecision(False, self._max_delay, max(locks)) if locks else None

    def check(self, account_key: str, ip: str) -> ThrottleDecision:
        """Whether an attempt would be allowed now, and after how long a pause; reads only
        (an attempt is made with :meth:`begin`)."""
        locked = self._locked(account_key, ip)
        if locked is not None:
            return locked
        failures = int(self._cache.get(self._keys(account_key, ip)[0]) or b"0")
        return ThrottleDecision(True, self.delay_for(failures))

    def begin(self, account_key: str, ip: str) -> Attempt:
        """Begin an attempt: counted as a failure of the account and of the IP at once, and
        refused, unchecked, while the account or the IP is locked or as many attempts are
        counted (failed or under way) as its limit allows."""
        fail_account, fail_ip, _, _ = self._keys(account_key, ip)
        on_account = self._cache.incr(fail_account, ttl=self._window)
        on_ip = self._cache.incr(fail_ip, ttl=self._window)
        # the locks are read after counting: a lock set by an attempt that failed meanwhile
        # (which then starts the count afresh) is seen here
        refused = self._locked(account_key, ip)
        if refused is None and (on_account > self._account_limit or on_ip > self._ip_limit):
            refused = ThrottleDecision(False, self._max_delay)
        if refused is not None:
            self._cache.decr(fail_account)  # not made: not counted
            self._cache.decr(fail_ip)
            return Attempt(self, account_key, ip, refused)
        return Attempt(
            self, account_key, ip, ThrottleDecision(True, self.delay_for(on_account - 1))
        )

    def _lock(self, counter: str, lock: str) -> None:
        until = self._clock().timestamp() + self._lockout
        self._cache.set(lock, repr(until).encode(), ttl=self._lockout)
        self._cache.delete(counter)

    def _failed(self, account_key: str, ip: str) -> None:
        """An attempt that began failed (already counted): lock what reached its limit."""
        fail_account, fail_ip, lock_account, lock_ip = self._keys(account_key, ip)
        if int(self._cache.get(fail_account) or b"0") >= self._account_limit:
            self._lock(fail_account, lock_account)
        if int(self._cache.get(fail_ip) or b"0") >= self._ip_limit:
            self._lock(fail_ip, lock_ip)

    def _succeeded(self, account_key: str, ip: str) -> None:
        """An attempt that began succeeded: the account's failures are cleared, and the IP
        gets this attempt back (its earlier failures stay counted)."""
        fail_account, fail_ip, _, _ = self._keys(account_key, ip)
        self._cache.delete(fail_account)
        self._cache.decr(fail_ip)

    def account_locked_until(self, account_key: str) -> datetime | None:
        """Until when the account is locked (None: it is not), for an administrator."""
        return self._locked_until(f"throttle:lock:acct:{self._account(account_key)}", self._clock())

    def unlock(self, account_key: str) -> None:
        """Administrator action: lift the account's lockout and clear its failures."""
        account = self._account(account_key)
        self._cache.delete(f"throttle:lock:acct:{account}")
        self._cache.delete(f"throttle:fail:acct:{account}")


def client_ip(remote_addr: str, forwarded_for: str | None, trusted_proxies: Sequence[str]) -> str:
    """The client address: ``X-Forwarded-For`` is believed only from a trusted proxy.

    When ``remote_addr`` (the TCP peer) is in ``trusted_proxies`` (addresses or CIDRs),
    the ``X-Forwarded-For`` list is walked right to left, skipping trusted proxies; the
    first other address is the client (entries further left are whatever the client
    claimed, RFC 7239 §8.1). If every entry is a trusted proxy, the leftmost one is
    answered; if an entry cannot be parsed, the nearest trusted hop is. Otherwise
    ``remote_addr`` itself is the answer and the header is ignored.
    """
    networks = [ipaddress.ip_network(proxy.strip(), strict=False) for proxy in trusted_proxies]

    def trusted(address: IPAddress | None) -> bool:
        return address is not None and any(
            address.version == network.version and address in network for network in networks
        )

    peer = _parse_ip(remote_addr)
    if not trusted(peer) or not forwarded_for:
        return remote_addr if peer is None else str(peer)
    nearest = str(peer)
    for entry in reversed(forwarded_for.split(",")):
        if not entry.strip():
            continue
        address = _parse_ip(entry)
        if address is None:
            return nearest
        if not trusted(address):
            return str(address)
        nearest = str(address)
    return nearest
