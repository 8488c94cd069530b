"""Making the QR of a licence: claims from the registry's version, signed as COSE_Sign1 with
the active licence-signing key of the configured family (ES256 ``licence`` or SM2
``sm2-licence``, :class:`verify.signing.LicenceAlgorithm`), encoded as the verification URL
(``verify/FORMAT.md``).

Three kinds (:class:`verify.payload.QrKind`): the electronic licence's own QR (its PDF), a
paper print's (with the print serial and the print's status-list index), and the holder's
dynamic QR (亮证), which expires ``dynamic_lifetime`` after it is made.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from certs.metadata import shown_holder_name
from certs.models import Licence
from keys.registry import KeyRegistry
from verify.cose import sign1
from verify.payload import LicenceClaims, QrKind, encode_claims
from verify.qr_text import qr_text, verification_url_base
from verify.signing import LicenceAlgorithm
from verify.trust_list import cose_kid

DYNAMIC_LIFETIME = timedelta(minutes=3)
MAX_QR_NAME = 24
"""Characters of a holder name a QR carries; a longer name keeps its start and end around
an ellipsis, which keeps the printed symbol at version 15 or below (FORMAT.md)."""


def qr_holder_name(licence: Licence) -> str:
    name = shown_holder_name(licence)
    if len(name) <= MAX_QR_NAME:
        return name
    head = (MAX_QR_NAME - 1) // 2
    return name[:head] + "…" + name[-(MAX_QR_NAME - 1 - head) :]


class QrIssuer:
    def __init__(
        self,
        service_url: str,
        status_list_uri: str,
        keys: KeyRegistry,
        clock: Callable[[], datetime],
        dynamic_lifetime: timedelta = DYNAMIC_LIFETIME,
        algorithm: LicenceAlgorithm = LicenceAlgorithm.ES256,
    ) -> None:
        self.url_base = verification_url_base(service_url)
        self.status_list_uri = status_list_uri
        self.keys = keys
        self.clock = clock
        self.dynamic_lifetime = dynamic_lifetime
        self.algorithm = algorithm

    def claims(
        self,
        licence: Licence,
        kind: QrKind,
        *,
        print_serial: str | None = None,
        print_index: int | None = None,
    ) -> LicenceClaims:
        now = self.clock().replace(microsecond=0)
        if (kind is QrKind.PRINT) != (print_serial is not None and print_index is not None):
            raise ValueError("a print's QR, and only a print's, names the print and its index")
        return LicenceClaims(
            identifier=licence.identifier,
            kind=kind,
            holder_name=qr_holder_name(licence),
            valid_from=licence.valid_from,
            valid_until=licence.valid_until,
            issued_at=now,
            status_index=licence.status_list_index if print_index is None else print_index,
            status_uri=self.status_list_uri,
            expires_at=now + self.dynamic_lifetime if kind is QrKind.DYNAMIC else None,
            print_serial=print_serial,
        )

    def sign(self, claims: LicenceClaims) -> bytes:
        """The COSE_Sign1 message of ``claims`` by the active licence-signing key."""
        signer = self.keys.signer(self.algorithm.purpose)
        chain = signer.certificate_chain()
        if not chain:
            raise LookupError("the licence-signing key has no certificate")
        return sign1(encode_claims(claims), cose_kid(chain[0]), signer)

    def qr_text(self, claims: LicenceClaims) -> str:
        return qr_text(self.sign(claims), self.url_base)

    # -- the three kinds, as the rest of the service asks for them -------------------------

    def electronic(self, licence: Licence) -> str:
        """The QR text of the electronic licence (its PDF)."""
        return self.qr_text(self.claims(licence, QrKind.ELECTRONIC))

    def printed(self, licence: Licence, print_serial: str, print_index: int) -> str:
        """The QR text of one paper print."""
        claims = self.claims(
            licence, QrKind.PRINT, print_serial=print_serial, print_index=print_index
        )
        return self.qr_text(claims)

    def dynamic(self, licence: Licence) -> tuple[str, datetime]:
        """A dynamic QR for the holder's phone (亮证) and when it stops verifying."""
        claims = self.claims(licence, QrKind.DYNAMIC)
        assert claims.expires_at is not None
        return self.qr_text(claims), claims.expires_at
