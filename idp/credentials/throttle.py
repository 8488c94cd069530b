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

How the login router uses a :class:`ThrottleDecision`
    * ``allowed``: wait ``delay_seconds``, verify the password, then call
      :meth:`LoginThrottle.record_failure` or :meth:`LoginThrottle.record_success`.
    * not ``allowed`` (locked): do **not** verify the real password and do **not** record a
      failure; run ``verify_password(None, password)`` so the answer takes as long as a
      verification, wait ``delay_seconds`` and answer **exactly the same message and status
      as a wrong password**. A lockout must not tell an attacker that the account exists,
      nor that the password was right. ``locked_until`` is for the audit trail and the
      administrator, never for the page.

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

__all__ = ["LoginThrottle", "ThrottleDecision", "client_ip"]

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

    def check(self, account_key: str, ip: str) -> ThrottleDecision:
        """May this login attempt proceed, and after how long a pause."""
        fail_account, _, lock_account, lock_ip = self._keys(account_key, ip)
        now = self._clock()
        locks = [
            until
            for until in (self._locked_until(lock_account, now), self._locked_until(lock_ip, now))
            if until is not None
        ]
        if locks:
            return ThrottleDecision(False, self._max_delay, max(locks))
        failures = int(self._cache.get(fail_account) or b"0")
        return ThrottleDecision(True, self.delay_for(failures))

    def _lock(self, counter: str, lock: str) -> None:
        until = self._clock().timestamp() + self._lockout
        self._cache.set(lock, repr(until).encode(), ttl=self._lockout)
        self._cache.delete(counter)

    def record_failure(self, account_key: str, ip: str) -> None:
        """Count a wrong password (or unknown account) for both the account and the IP."""
        fail_account, fail_ip, lock_account, lock_ip = self._keys(account_key, ip)
        if self._cache.incr(fail_account, ttl=self._window) >= self._account_limit:
            self._lock(fail_account, lock_account)
        if self._cache.incr(fail_ip, ttl=self._window) >= self._ip_limit:
            self._lock(fail_ip, lock_ip)

    def record_success(self, account_key: str, ip: str) -> None:
        """A successful login clears the account's failures (not the IP's)."""
        self._cache.delete(self._keys(account_key, ip)[0])

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
