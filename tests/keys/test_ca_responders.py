"""Each CA's OCSP responder (RFC 6960 §4.2.2.2, a delegated responder key per CA): a CA
rotated in is answered for at once, a responder rotated by another worker is used at once
here, and no responder signs with a certificate past its end."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from core.services import Services
from keys.backends.base import KeyBackendError
from keys.registry import KeyInfo, KeyStateError
from keys.revocation import Revocation
from tests.conftest import FrozenClock
from tests.keys.test_registry import keyed, settings_for  # noqa: F401 (fixtures)


@pytest.fixture(params=["software"])
def key_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def seal_certificate(services: Services, name: str) -> tuple[x509.Certificate, x509.Certificate]:
    """A new seal key's certificate and its issuer's (the active seal CA)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    info = services.keys.create_object_key("seal", subject, actor="test")
    chain = services.keys.signer_by_kid(info.kid).certificate_chain()
    return chain[0], chain[1]


def answer(
    services: Services, leaf: x509.Certificate, issuer: x509.Certificate
) -> ocsp.OCSPResponse:
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, issuer, hashes.SHA256())
        .build()
        .public_bytes(Encoding.DER)
    )
    return ocsp.load_der_ocsp_response(Revocation(services.keys).responder().respond(request))


def active_responders(services: Services) -> dict[str, str]:
    """CA kid -> its active responder's kid."""
    return {
        str(key.issuer_kid): key.kid
        for key in services.keys.list_keys("ocsp")
        if key.state == "active"
    }


def test_a_ca_rotated_in_answers_ocsp_for_its_certificates_at_once(keyed: Services) -> None:
    old_ca = keyed.keys.signer("seal-ca").kid
    before_rotation = seal_certificate(keyed, "旧章")
    keyed.keys.rotate("seal-ca")
    new_ca = keyed.keys.signer("seal-ca").kid
    assert new_ca != old_ca and {old_ca, new_ca} <= active_responders(keyed).keys()
    for leaf, issuer in (seal_certificate(keyed, "新章"), before_rotation):
        response = answer(keyed, leaf, issuer)
        assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
        assert response.certificate_status is ocsp.OCSPCertStatus.GOOD


def test_a_responder_rotated_by_another_worker_is_used_here_at_once(
    keyed: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This worker's cache still holds the retired responder key for a few seconds (another
    process rotated it): the responder signs with the key whose certificate it sends."""
    leaf, issuer = seal_certificate(keyed, "章")
    ca = keyed.keys.signer("seal-ca").kid
    keyed.keys.signer("ocsp", issuer_kid=ca)  # cached here
    monkeypatch.setattr(keyed.keys, "forget_cache", lambda: None)  # as in another process
    keyed.keys.rotate("ocsp")
    response = answer(keyed, leaf, issuer)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.certificates[0].fingerprint(hashes.SHA256()) == (
        keyed.keys.key(active_responders(keyed)[ca]).certificate.fingerprint(hashes.SHA256())  # type: ignore[union-attr]
    )


def test_a_responder_is_renewed_before_its_certificate_ends_and_never_used_after(
    keyed: Services, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By init here; by the OCSP answers themselves in tests/keys/test_responder_renewal.py
    (which cannot renew here: the database or the key backend fails)."""
    leaf, issuer = seal_certificate(keyed, "章")
    before = active_responders(keyed)
    clock.advance(days=366)  # the responders' certificates (a year) have ended

    def failing(actor: str = "system") -> list[KeyInfo]:
        raise KeyBackendError("the HSM does not answer")

    monkeypatch.setattr(keyed.keys, "renew_responders", failing)
    with pytest.raises(KeyStateError):  # none left to answer with: 503, not a bad signature
        Revocation(keyed.keys).responder()
    monkeypatch.undo()
    clock.advance(days=-31)  # 335 days in: within a month of the end
    assert keyed.keys.init()  # each start of the service: the responders made anew
    after = active_responders(keyed)
    assert after.keys() == before.keys() and not set(after.values()) & set(before.values())
    clock.advance(days=31)
    assert answer(keyed, leaf, issuer).certificate_status is ocsp.OCSPCertStatus.GOOD


def test_a_crl_is_signed_again_only_when_a_revocation_or_five_minutes_call_for_it(
    keyed: Services, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public CRL request no longer signs (under the audit trail's append lock) each
    time: the last CRL is answered again while it lists every revocation of its CA and is
    younger than five minutes; a revocation, by any process, gives a new one at once."""
    leaf, issuer = seal_certificate(keyed, "章")
    ca = keyed.keys.signer("seal-ca").kid
    signed: list[str] = []
    new_crl = Revocation._new_crl

    def counting(self: Revocation, issuer_kid: str, now: object) -> x509.CertificateRevocationList:
        signed.append(issuer_kid)
        return new_crl(self, issuer_kid, now)  # type: ignore[arg-type]

    monkeypatch.setattr(Revocation, "_new_crl", counting)
    first = Revocation(keyed.keys).crl(ca)
    clock.advance(minutes=4)
    assert Revocation(keyed.keys).crl(ca) is first and len(signed) == 1
    Revocation(keyed.keys).revoke(ca, leaf.serial_number, x509.ReasonFlags.key_compromise)
    after = Revocation(keyed.keys).crl(ca)
    assert after.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None
    assert len(signed) == 2
    clock.advance(minutes=5)
    assert Revocation(keyed.keys).crl(ca) is not after and len(signed) == 3
    assert issuer.subject == after.issuer
