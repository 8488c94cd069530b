"""The verification service as the HTTP edge and the CLI use it: publisher, QR issuer, and
online verification with the same :func:`verify.verifier.verify_qr_text` the offline command
runs, fed by the published trust list and the registry's live status."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certs.prints import LicencePrints
from verify.issuing import QrIssuer
from verify.publication import Publisher
from verify.status_sources import RegistryStatus
from verify.trust_list import TrustList, read_trust_list
from verify.verdict import Verification
from verify.verifier import DEFAULT_SKEW, verify_qr_text


@lru_cache(maxsize=4)
def _parsed_trust_list(token: str, root_der: bytes) -> TrustList:
    return read_trust_list(token, x509.load_der_x509_certificate(root_der))


class VerificationService:
    def __init__(
        self,
        publisher: Publisher,
        registry: LicencePrints,
        clock: Callable[[], datetime],
        skew: timedelta = DEFAULT_SKEW,
    ) -> None:
        self.publisher = publisher
        self.registry = registry
        self.clock = clock
        self.skew = skew
        self.issuer = QrIssuer(
            publisher.service_url,
            publisher.status_list_uri,
            publisher.keys,
            clock,
            algorithm=publisher.algorithm,
        )

    def trust_list(self) -> TrustList:
        root = self.publisher.root_certificate().public_bytes(Encoding.DER)
        return _parsed_trust_list(self.publisher.trust_list_token(), root)

    def verify_online(self, text: str) -> Verification:
        return verify_qr_text(
            text, self.trust_list(), RegistryStatus(self.registry), self.clock(), self.skew
        )
