"""Login throttling over the shared cache (memory and Redis), and the client address."""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.cache import Cache
from idp.credentials.throttle import LoginThrottle, ThrottleDecision, client_ip
from tests.conftest import FrozenClock

ACCOUNT = "bi_7c1f0e9a"  # a blind index, as the router passes it
OTHER = "bi_0d2b4a66"
IP = "198.51.100.7"


@pytest.fixture
def cache(cache_factory: Callable[[], Cache]) -> Cache:
    return cache_factory()


@pytest.fixture
def throttle(cache: Cache, clock: FrozenClock) -> LoginThrottle:
    return LoginThrottle(cache, clock)


def _fail(throttle: LoginThrottle, times: int, account: str = ACCOUNT, ip: str = IP) -> None:
    for _ in range(times):
        throttle.begin(account, ip).failed()


def test_fresh_account_is_allowed_without_delay(throttle: LoginThrottle) -> None:
    assert throttle.check(ACCOUNT, IP) == ThrottleDecision(True, 0.0, None)


def test_delay_doubles_with_each_failure(throttle: LoginThrottle) -> None:
    delays = []
    for _ in range(4):
        throttle.begin(ACCOUNT, IP).failed()
        delays.append(throttle.check(ACCOUNT, IP).delay_seconds)
    assert delays == [0.5, 1.0, 2.0, 4.0]
    assert throttle.check(OTHER, IP).delay_seconds == 0.0  # per account, not per IP


def test_delay_is_capped(cache: Cache, clock: FrozenClock) -> None:
    throttle = LoginThrottle(cache, clock, per_account_limit=100, max_delay=8)
    _fail(throttle, 20)
    decision = throttle.check(ACCOUNT, IP)
    assert decision.allowed and decision.delay_seconds == 8
    assert [throttle.delay_for(n) for n in (0, 1, 4, 5, 1000)] == [0.0, 0.5, 4.0, 8.0, 8.0]


def test_lockout_after_the_account_limit(throttle: LoginThrottle, clock: FrozenClock) -> None:
    _fail(throttle, 4)
    assert throttle.check(ACCOUNT, IP).allowed
    throttle.begin(ACCOUNT, IP).failed()
    decision = throttle.check(ACCOUNT, IP)
    assert decision.allowed is False
    assert decision.locked_until == clock.now + timedelta(seconds=900)
    assert decision.delay_seconds == 8  # the router still answers slowly, like a failure
    # Locked from any IP; another account from the same IP is not.
    assert throttle.check(ACCOUNT, "203.0.113.9").allowed is False
    assert throttle.check(OTHER, IP).allowed is True


def test_lockout_ends_after_the_lockout_period(throttle: LoginThrottle, clock: FrozenClock) -> None:
    _fail(throttle, 5)
    clock.advance(seconds=899)
    assert throttle.check(ACCOUNT, IP).allowed is False
    clock.advance(seconds=1)
    decision = throttle.check(ACCOUNT, IP)
    assert decision == ThrottleDecision(True, 0.0, None)  # a fresh allowance
    _fail(throttle, 4)
    assert throttle.check(ACCOUNT, IP).allowed is True
    throttle.begin(ACCOUNT, IP).failed()
    assert throttle.check(ACCOUNT, IP).locked_until == clock.now + timedelta(seconds=900)


def test_success_clears_the_account_counter(throttle: LoginThrottle) -> None:
    _fail(throttle, 4)
    throttle.begin(ACCOUNT, IP).succeeded()
    assert throttle.check(ACCOUNT, IP) == ThrottleDecision(True, 0.0, None)
    _fail(throttle, 4)
    assert throttle.check(ACCOUNT, IP).allowed is True


def test_attempts_under_way_count_against_the_account_limit(throttle: LoginThrottle) -> None:
    """Guesses sent at the same moment: each is counted when it begins, before its password
    is checked, so no more than the limit are ever checked (NIST SP 800-63B §5.2.2)."""
    under_way = [throttle.begin(ACCOUNT, IP) for _ in range(8)]
    assert [a.allowed for a in under_way] == [True] * 5 + [False] * 3
    assert [a.delay_seconds for a in under_way[:5]] == [0.0, 0.5, 1.0, 2.0, 4.0]
    for attempt in under_way:
        attempt.failed()  # the refused ones count nothing, and change nothing
    decision = throttle.check(ACCOUNT, IP)
    assert not decision.allowed and decision.locked_until is not None


def test_a_success_under_way_frees_its_place(throttle: LoginThrottle) -> None:
    first, *others = [throttle.begin(ACCOUNT, IP) for _ in range(5)]
    assert throttle.begin(ACCOUNT, IP).allowed is False  # five under way
    first.succeeded()  # the account's failures are cleared
    assert throttle.begin(ACCOUNT, IP).allowed is True
    for attempt in others:
        attempt.failed()  # counted before the success cleared them: no lockout
    assert throttle.check(ACCOUNT, IP).allowed is True


def test_concurrent_guesses_are_checked_at_most_the_limit(cache: Cache, clock: FrozenClock) -> None:
    """Sixteen threads guess one account at once, through the shared cache: five are let
    through, whatever the order, and the account is locked once they have failed. (Every
    attempt begins before any fails: a failure that reaches the limit locks the account, so
    an attempt begun after it would be refused by the lock, however few had been let
    through; on a loaded machine a sleep for the password check did not keep that order.)"""
    throttle = LoginThrottle(cache, clock)
    barrier, all_begun = threading.Barrier(16), threading.Barrier(16, timeout=10)

    def guess(_: int) -> bool:
        barrier.wait()
        attempt = throttle.begin(ACCOUNT, IP)
        all_begun.wait()  # the password checks
        attempt.failed()
        return attempt.allowed

    with ThreadPoolExecutor(16) as pool:
        checked = list(pool.map(guess, range(16)))
    assert checked.count(True) == 5
    assert throttle.check(ACCOUNT, IP).allowed is False


def test_successful_logins_do_not_use_up_the_ip_limit(cache: Cache, clock: FrozenClock) -> None:
    """A service hall's many citizens behind one address: only failures count for the IP."""
    throttle = LoginThrottle(cache, clock, per_ip_limit=3)
    for index in range(10):
        throttle.begin(f"bi_{index}", IP).succeeded()
    _fail(throttle, 2, account="bi_x")
    assert throttle.check("bi_y", IP).allowed is True
    _fail(throttle, 1, account="bi_z")
    assert throttle.check("bi_y", IP).allowed is False


def test_admin_unlock(throttle: LoginThrottle) -> None:
    _fail(throttle, 5)
    assert throttle.check(ACCOUNT, IP).allowed is False
    throttle.unlock(ACCOUNT)
    assert throttle.check(ACCOUNT, IP) == ThrottleDecision(True, 0.0, None)
    throttle.unlock(OTHER)  # unlocking an account that is not locked is harmless


def test_ip_limit_across_accounts(cache: Cache, clock: FrozenClock) -> None:
    throttle = LoginThrottle(cache, clock, per_ip_limit=10)
    for index in range(9):
        throttle.begin(f"bi_{index}", IP).failed()
    assert throttle.check("bi_new", IP).allowed is True
    throttle.begin("bi_9", IP).failed()
    decision = throttle.check("bi_new", IP)
    assert decision.allowed is False and decision.locked_until == clock.now + timedelta(seconds=900)
    assert throttle.check("bi_new", "198.51.100.8").allowed is True
    clock.advance(seconds=900)
    assert throttle.check("bi_new", IP).allowed is True


def test_ipv6_clients_are_counted_per_64(cache: Cache, clock: FrozenClock) -> None:
    throttle = LoginThrottle(cache, clock, per_ip_limit=3)
    for host in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"):
        throttle.begin(host, host).failed()
    assert throttle.check("bi_new", "2001:db8:1:2::99").allowed is False
    assert throttle.check("bi_new", "2001:db8:1:3::1").allowed is True


def test_ipv4_mapped_addresses_count_as_ipv4(cache: Cache, clock: FrozenClock) -> None:
    throttle = LoginThrottle(cache, clock, per_ip_limit=2)
    throttle.begin("bi_a", "::ffff:198.51.100.7").failed()
    throttle.begin("bi_b", IP).failed()
    assert throttle.check("bi_c", IP).allowed is False


def test_account_keys_are_not_stored_in_clear(throttle: LoginThrottle, cache: Cache) -> None:
    throttle.begin(ACCOUNT, IP).failed()
    assert cache.get(f"throttle:fail:acct:{ACCOUNT}") is None
    assert throttle.check(ACCOUNT, IP).delay_seconds == 0.5


def test_two_workers_share_the_counts(cache: Cache, clock: FrozenClock) -> None:
    first, second = LoginThrottle(cache, clock), LoginThrottle(cache, clock)
    _fail(first, 3)
    _fail(second, 2)
    assert first.check(ACCOUNT, IP).allowed is False


def test_failures_outside_the_window_are_forgotten(cache: Cache, clock: FrozenClock) -> None:
    throttle = LoginThrottle(cache, clock, window=0.2)
    _fail(throttle, 4)
    assert throttle.check(ACCOUNT, IP).delay_seconds == 4.0
    time.sleep(0.4)  # the window is kept by the cache's own expiry
    throttle.begin(ACCOUNT, IP).failed()
    assert throttle.check(ACCOUNT, IP) == ThrottleDecision(True, 0.5, None)


def test_parameters_are_validated(cache: Cache) -> None:
    for bad in ({"per_account_limit": 0}, {"window": 0}, {"base_delay": 9, "max_delay": 8}):
        with pytest.raises(ValueError):
            LoginThrottle(cache, **bad)  # type: ignore[arg-type]


def test_locked_and_wrong_password_decisions_look_alike(
    throttle: LoginThrottle,
) -> None:
    """The decision drives the router; both paths end in a delay and a generic failure.
    What distinguishes them (``locked_until``) is not for the page."""
    _fail(throttle, 5)
    locked = throttle.check(ACCOUNT, IP)
    _fail(throttle, 4, account=OTHER)
    failing = throttle.check(OTHER, IP)
    assert locked.delay_seconds >= failing.delay_seconds > 0


# --- client_ip --------------------------------------------------------------------------

PROXIES = ["10.0.0.0/8", "192.0.2.10", "2001:db8:ffff::/48"]


def test_untrusted_peer_ignores_the_header() -> None:
    assert client_ip("203.0.113.5", "1.2.3.4", PROXIES) == "203.0.113.5"
    assert client_ip("203.0.113.5", None, PROXIES) == "203.0.113.5"
    assert client_ip("203.0.113.5", "1.2.3.4", []) == "203.0.113.5"


def test_trusted_peer_uses_the_header() -> None:
    assert client_ip("10.1.2.3", "203.0.113.5", PROXIES) == "203.0.113.5"
    assert client_ip("192.0.2.10", "203.0.113.5", PROXIES) == "203.0.113.5"
    assert client_ip("192.0.2.11", "203.0.113.5", PROXIES) == "192.0.2.11"  # not in the list


def test_walks_right_to_left_skipping_trusted_proxies() -> None:
    header = "1.1.1.1, 203.0.113.5, 10.9.9.9, 192.0.2.10"
    assert client_ip("10.0.0.1", header, PROXIES) == "203.0.113.5"  # not the spoofed 1.1.1.1


def test_spoofed_leftmost_entries_are_ignored() -> None:
    # The client sent "X-Forwarded-For: 10.0.0.5" itself; our proxy appended its address.
    assert client_ip("10.0.0.1", "10.0.0.5, 198.51.100.20", PROXIES) == "198.51.100.20"


def test_all_trusted_answers_the_leftmost() -> None:
    assert client_ip("10.0.0.1", "10.0.0.3, 10.0.0.2", PROXIES) == "10.0.0.3"


def test_trusted_peer_without_header() -> None:
    assert client_ip("10.0.0.1", None, PROXIES) == "10.0.0.1"
    assert client_ip("10.0.0.1", " ", PROXIES) == "10.0.0.1"


def test_unparseable_entry_stops_at_the_nearest_trusted_hop() -> None:
    assert client_ip("10.0.0.1", "203.0.113.5, unknown", PROXIES) == "10.0.0.1"
    assert client_ip("10.0.0.1", "203.0.113.5, garbage, 10.0.0.7", PROXIES) == "10.0.0.7"


def test_ipv6_ports_and_mapped_addresses() -> None:
    assert client_ip("2001:db8:ffff:1::1", "2001:db8:1::5", PROXIES) == "2001:db8:1::5"
    assert client_ip("::ffff:10.0.0.1", "203.0.113.5", PROXIES) == "203.0.113.5"
    assert client_ip("10.0.0.1", "[2001:db8:1::5]:443", PROXIES) == "2001:db8:1::5"
    assert client_ip("10.0.0.1", "203.0.113.5:5123", PROXIES) == "203.0.113.5"
    assert client_ip("10.0.0.1", "2001:db8:ffff::9, 10.0.0.2", PROXIES) == "2001:db8:ffff::9"
    assert client_ip("10.0.0.1", "198.51.100.1, 2001:db8:ffff::9", PROXIES) == "198.51.100.1"


_ipv4 = st.ip_addresses(v=4).map(str)
_public = st.ip_addresses(v=4).filter(lambda a: a not in ipaddress.ip_network("10.0.0.0/8"))


@settings(max_examples=200)
@given(_public.map(str), st.lists(_ipv4, max_size=4))
def test_property_untrusted_peer_always_wins(peer: str, forwarded: list[str]) -> None:
    assert client_ip(peer, ", ".join(forwarded) or None, ["10.0.0.0/8"]) == peer


@settings(max_examples=200)
@given(
    st.lists(_ipv4, max_size=3),
    _public.map(str),
    st.lists(st.ip_addresses(network="10.0.0.0/8").map(str), max_size=3),
    st.ip_addresses(network="10.0.0.0/8").map(str),
)
def test_property_rightmost_untrusted_is_the_client(
    spoofed: list[str], client: str, proxies: list[str], peer: str
) -> None:
    header = ", ".join([*spoofed, client, *proxies])
    assert client_ip(peer, header, ["10.0.0.0/8"]) == client
