"""A service key signs only under a certificate that is neither revoked nor past its end.

RFC 5280 §5.3.1 (revocation) and §4.1.2.5 (validity): a revoked certificate's key is
withdrawn in the revocation's transaction and replaced (not published after a key
compromise); a licence or TSA key is renewed before its certificate ends, by ``init`` and by
a running service's first signature that finds it so; a rotation never activates a next key
that cannot serve; ``removeFromCRL`` is refused; a rotation of the responders leaves those
of a CA that has ended. Both backends.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from cryptography import x509

from core.services import Services
from keys.registry import KeyInfo
from keys.renewal_policy import RENEW_BEFORE
from keys.revocation import Revocation, UnusableRevocationReason
from tests.conftest import FrozenClock

COMPROMISE = x509.ReasonFlags.key_compromise


def revoke(services: Services, key: KeyInfo, reason: x509.ReasonFlags = COMPROMISE) -> None:
    assert key.certificate is not None and key.issuer_kid is not None
    Revocation(services.keys).revoke(key.issuer_kid, key.certificate.serial_number, reason)


def states(services: Services, purpose: str) -> dict[str, str]:
    return {key.kid: key.state for key in services.keys.list_keys(purpose)}


def certificate_end(key: KeyInfo) -> datetime:
    assert key.certificate is not None
    return key.certificate.not_valid_after_utc


def test_a_compromised_service_key_is_withdrawn_and_replaced_at_once(services: Services) -> None:
    registry = services.keys
    active = registry.signer("licence").info
    revoke(services, active)
    assert states(services, "licence")[active.kid] == "retired"
    now_signing = registry.signer("licence").info
    assert now_signing.kid != active.kid
    assert active.kid not in {key.kid for key in registry.published("licence")}
    assert any(key.state == "next" for key in registry.list_keys("licence"))  # one ahead again


def test_a_rotation_never_activates_a_revoked_next_key(services: Services) -> None:
    registry = services.keys
    [waiting] = [key for key in registry.list_keys("licence") if key.state == "next"]
    revoke(services, waiting)  # it was on the compromised host too
    assert states(services, "licence")[waiting.kid] == "retired"
    activated = registry.rotate("licence")
    assert activated.kid != waiting.kid
    assert waiting.kid not in {key.kid for key in registry.published("licence")}


def test_a_superseded_key_stays_published_for_what_it_signed(services: Services) -> None:
    registry = services.keys
    active = registry.signer("licence").info
    revoke(services, active, x509.ReasonFlags.superseded)
    assert registry.signer("licence").info.kid != active.kid
    assert active.kid in {key.kid for key in registry.published("licence")}


@pytest.mark.parametrize("purpose", ["tsa", "licence"])
def test_a_service_key_is_renewed_before_its_certificate_ends(
    services: Services, clock: FrozenClock, purpose: str
) -> None:
    registry = services.keys
    old = registry.signer(purpose).info
    clock.now = certificate_end(old) - RENEW_BEFORE + timedelta(days=1)
    registry.forget_cache()
    renewed = registry.signer(purpose).info  # a running service: its next signature renews
    assert renewed.kid != old.kid
    assert certificate_end(renewed) > certificate_end(old)
    assert states(services, purpose)[old.kid] == "retired"
    assert not [key for key in registry.init() if key.purpose == purpose]  # nothing more to do
    registry.forget_cache()
    assert registry.signer(purpose).info.kid == renewed.kid


def test_init_renews_a_service_key_whose_certificate_ended(
    services: Services, clock: FrozenClock
) -> None:
    registry = services.keys
    old = registry.signer("tsa").info
    clock.now = certificate_end(old) + timedelta(days=10)
    assert "tsa" in {key.purpose for key in registry.init()}
    assert certificate_end(registry.signer("tsa").info) > clock.now


def test_a_next_key_that_aged_out_waiting_is_not_activated(
    services: Services, clock: FrozenClock
) -> None:
    registry = services.keys
    [waiting] = [key for key in registry.list_keys("licence") if key.state == "next"]
    clock.now = certificate_end(waiting) + timedelta(days=1)
    activated = registry.rotate("licence")
    assert activated.kid != waiting.kid
    assert certificate_end(activated) > clock.now


def test_remove_from_crl_is_refused_and_the_crl_still_signs(services: Services) -> None:
    registry = services.keys
    active = registry.signer("licence").info
    with pytest.raises(UnusableRevocationReason):
        revoke(services, active, x509.ReasonFlags.remove_from_crl)
    assert states(services, "licence")[active.kid] == "active"
    assert active.issuer_kid is not None
    Revocation(registry).crl(active.issuer_kid)  # signs, as before


def test_rotating_the_responders_leaves_those_of_a_ca_that_ended(
    services: Services, clock: FrozenClock
) -> None:
    registry = services.keys
    clock.advance(days=365)
    registry.rotate("service-ca")
    [old_ca] = [key for key in registry.list_keys("service-ca") if key.state == "retired"]
    clock.now = certificate_end(old_ca) + timedelta(days=1)
    registry.rotate("ocsp")
    answering = {key.issuer_kid for key in registry.list_keys("ocsp") if key.state == "active"}
    assert old_ca.kid not in answering
    assert registry.signer("service-ca").kid in answering
