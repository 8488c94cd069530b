"""Fixtures for verification: the licence registry of ``tests/certs`` with its demo types,
the publisher of the trust and status lists, a QR issuer, and both status sources, on the
frozen clock and on both backends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from certs.models import Licence
from certs.service import LicenceService
from core.services import Services
from keys.algorithms import KeyType, der_to_raw_ecdsa, sign_with_private_key
from keys.certificates import subject_name
from keys.purposes import Purpose
from keys.sm2 import Sm2PrivateKey
from keys.sm2_certificates import build_sm2_certificate
from tests.certs.conftest import licences  # noqa: F401 (a fixture)
from tests.conftest import FrozenClock
from tests.keys.sm2_testpki import CA as SM2_CA
from tests.keys.sm2_testpki import ROOT as SM2_ROOT
from tests.keys.sm2_testpki import sm2_issue
from verify.issuing import QrIssuer
from verify.payload import QrKind
from verify.publication import Publisher
from verify.status_list import read_status_list
from verify.status_sources import RegistryStatus, StatusListStatus
from verify.trust_list import TrustList, read_trust_list
from verify.verdict import Verdict, Verification
from verify.verifier import verify_qr_text


class LocalSigner:
    """A software ES256 key with the signing interface of ``keys.managed.ManagedSigner``
    (for forgeries and for tests without a key registry)."""

    def __init__(self, kid: str = "licence-test") -> None:
        self.kid = kid
        self.key_type = KeyType.EC_P256
        self.private_key = ec.generate_private_key(ec.SECP256R1())

    def sign(self, data: bytes) -> bytes:
        return sign_with_private_key(self.private_key, data)

    def sign_jws(self, data: bytes) -> bytes:
        return der_to_raw_ecdsa(self.sign(data))

    def keys(self) -> dict[str, Any]:
        return {self.kid: self.private_key.public_key()}


class LocalSm2Signer:
    """A software SM2 key (:mod:`keys.sm2`) with the same interface: ``sign`` gives DER
    ``(r, s)`` as the registry's SM2 keys do; ``sign_jws`` is refused as theirs is unused."""

    def __init__(self, kid: str = "sm2-licence-test") -> None:
        self.kid = kid
        self.key_type = KeyType.SM2
        self.private_key = Sm2PrivateKey.generate()

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    def sign_jws(self, data: bytes) -> bytes:
        raise AssertionError("SM2 licence signatures are made from sign() (verify.signing)")

    def keys(self) -> dict[str, Any]:
        return {self.kid: self.private_key.public_key()}


SM2_LICENCE = Purpose(
    "sm2-licence", "SM2 Licence signing", issuer="sm2-service-ca", non_repudiation=True
)


@dataclass
class Sm2LicencePki:
    """A throwaway SM2 hierarchy (GM/T 0015-2012 certificates) for licence signing: root,
    service CA and a licence-signing key whose certificate starts at ``leaf_start``."""

    root: x509.Certificate
    ca: x509.Certificate
    leaf: x509.Certificate
    signer: LocalSm2Signer


def sm2_licence_pki(
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC),
    leaf_start: datetime = datetime(2026, 6, 1, tzinfo=UTC),
    kid: str = "sm2-licence-test",
) -> Sm2LicencePki:
    root = sm2_issue("SM2 Test Root", None, SM2_ROOT, now=start, days=7300)
    ca = sm2_issue("SM2 Test Service CA", root, SM2_CA, now=start, days=3650)
    signer = LocalSm2Signer(kid)
    leaf = build_sm2_certificate(
        subject=subject_name("govtrust test", "SM2 Test Licence Signing"),
        public_key=signer.private_key.public_key(),
        purpose=SM2_LICENCE,
        issuer=ca.as_issuer(),
        now=leaf_start,
        lifetime=timedelta(days=5 * 365),
    )

    def load(der: bytes) -> x509.Certificate:
        return x509.load_der_x509_certificate(der)

    return Sm2LicencePki(
        load(root.certificate.dump()), load(ca.certificate.dump()), load(leaf.dump()), signer
    )


@pytest.fixture
def publisher(services: Services, clock: FrozenClock) -> Publisher:
    return Publisher(
        services.settings.issuer, services.sessions, services.keys, services.cache, clock
    )


@pytest.fixture
def qr_issuer(services: Services, clock: FrozenClock, publisher: Publisher) -> QrIssuer:
    return QrIssuer(services.settings.issuer, publisher.status_list_uri, services.keys, clock)


def fresh_trust(publisher: Publisher) -> TrustList:
    """The trust list as a verifier would download it now."""
    publisher.forget()
    return read_trust_list(publisher.trust_list_token(), publisher.root_certificate())


def offline_status(publisher: Publisher, trust: TrustList) -> StatusListStatus:
    """The status list as an offline verifier would have just downloaded it."""
    publisher.forget()
    token = read_status_list(publisher.status_list_token(), trust.jws_keys())
    return StatusListStatus({token.uri: token})


@dataclass
class Scene:
    """A registry, its QR issuer and publisher, and a verifier of either kind."""

    licences: LicenceService
    issuer: QrIssuer
    publisher: Publisher
    clock: FrozenClock

    def qr(self, licence: Licence, kind: QrKind = QrKind.ELECTRONIC, **print_of: Any) -> str:
        return self.issuer.qr_text(self.issuer.claims(licence, kind, **print_of))

    def print_qr(self, licence: Licence) -> tuple[str, str]:
        """Record a print of ``licence`` and return (print serial, its QR text)."""
        serial = self.licences.record_print(licence.identifier, "admin-7f3a")
        printed = next(
            p for p in self.licences.prints(licence.identifier) if p.print_serial == serial
        )
        text = self.qr(
            licence, QrKind.PRINT, print_serial=serial, print_index=printed.status_list_index
        )
        return serial, text

    def trust(self) -> TrustList:
        return fresh_trust(self.publisher)

    def online(self, text: str, at: datetime | None = None) -> Verification:
        registry = RegistryStatus(self.licences)
        return verify_qr_text(text, self.trust(), registry, at or self.clock())

    def offline(
        self, text: str, at: datetime | None = None, status: StatusListStatus | None = None
    ) -> Verification:
        trust = self.trust()
        return verify_qr_text(
            text, trust, status or offline_status(self.publisher, trust), at or self.clock()
        )

    def both(self, text: str) -> tuple[Verdict, Verdict]:
        """(online verdict, offline verdict after a fresh status list download)."""
        return self.online(text).verdict, self.offline(text).verdict


@pytest.fixture
def scene(
    licences: LicenceService,
    qr_issuer: QrIssuer,
    publisher: Publisher,
    clock: FrozenClock,
) -> Scene:
    return Scene(licences, qr_issuer, publisher, clock)
