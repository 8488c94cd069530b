"""Revocation data for PAdES B-LT, fetched in process from govtrust's own CAs.

ETSI EN 319 142-1 §6.3 (level B-LT) puts the validation data of the signer's and the
time-stamp unit's certificates in the document security store (DSS, ISO 32000-2 §12.8.4.3):
OCSP responses (RFC 6960) and CRLs (RFC 5280 §5). pyHanko collects whatever its
certificate validator fetched; these fetchers answer the validator from
:class:`keys.revocation.Revocation` (the responder and CRL issuer behind the URLs in the
certificates) instead of over HTTP.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TypeAlias

from asn1crypto import cms, crl, ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.authority import Authority
from pyhanko_certvalidator.errors import CRLFetchError
from pyhanko_certvalidator.fetchers.api import (
    CertificateFetcher,
    CRLFetcher,
    Fetchers,
    OCSPFetcher,
)
from pyhanko_certvalidator.fetchers.common_utils import (
    format_ocsp_request,
    process_ocsp_response_data,
)
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.util import issuer_serial

from keys.registry import KeyInfo
from keys.revocation import Revocation
from seal.stamping.signer import to_asn1

Certificate: TypeAlias = asn1_x509.Certificate | cms.AttributeCertificateV2
IN_PROCESS = "in-process:govtrust"


def _key_identifier(certificate: x509.Certificate) -> bytes | None:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return None
    return extension.value.digest


class _CaDirectory:
    """govtrust's CA certificates, looked up by the name and key id an issued object cites."""

    def __init__(self, revocation: Revocation) -> None:
        self._revocation = revocation
        self._cas: list[KeyInfo] | None = None

    def issuers(self, name: asn1_x509.Name, key_id: bytes | None) -> list[KeyInfo]:
        if self._cas is None:
            self._cas = self._revocation.certificate_authorities()
        wanted = name.dump()
        return [
            ca
            for ca in self._cas
            if ca.certificate is not None
            and ca.certificate.subject.public_bytes() == wanted
            and (key_id is None or _key_identifier(ca.certificate) in (None, key_id))
        ]


class InProcessOcspFetcher(OCSPFetcher):
    """Asks govtrust's OCSP responder (RFC 6960 §4.1) with a SHA-256 CertID and a nonce."""

    def __init__(self, revocation: Revocation) -> None:
        self._revocation = revocation
        self._responses: dict[tuple[bytes, object], ocsp.OCSPResponse] = {}

    async def fetch(self, cert: Certificate, authority: Authority) -> ocsp.OCSPResponse:
        tag = (issuer_serial(cert), authority.hashable)
        if tag not in self._responses:
            request = format_ocsp_request(
                cert,
                authority,
                certid_hash_algo="sha256",
                request_nonces=True,
            )
            answer = self._revocation.responder().respond(request.dump())
            self._responses[tag] = process_ocsp_response_data(
                answer, ocsp_request=request, ocsp_url=IN_PROCESS
            )
        return self._responses[tag]

    def fetched_responses(self) -> Iterable[ocsp.OCSPResponse]:
        return list(self._responses.values())

    def fetched_responses_for_cert(self, cert: Certificate) -> Iterable[ocsp.OCSPResponse]:
        target = issuer_serial(cert)
        return [response for (subject, _), response in self._responses.items() if subject == target]


class InProcessCrlFetcher(CRLFetcher):
    """Gets a fresh CRL (RFC 5280 §5) of the certificate's issuer, once per issuer."""

    def __init__(self, revocation: Revocation, directory: _CaDirectory) -> None:
        self._revocation = revocation
        self._directory = directory
        self._by_issuer: dict[str, crl.CertificateList] = {}
        self._by_cert: dict[bytes, list[crl.CertificateList]] = {}

    async def fetch(
        self, cert: Certificate, *, use_deltas: bool | None = None
    ) -> Iterable[crl.CertificateList]:
        if not isinstance(cert, asn1_x509.Certificate):
            raise CRLFetchError("attribute certificates have no govtrust CRL")
        issuers = self._directory.issuers(cert.issuer, cert.authority_key_identifier)
        if not issuers:
            raise CRLFetchError(f"no govtrust CA issued {cert.subject.human_friendly}")
        lists = []
        for ca in issuers:
            if ca.kid not in self._by_issuer:
                der = self._revocation.crl(ca.kid).public_bytes(Encoding.DER)
                self._by_issuer[ca.kid] = crl.CertificateList.load(der)
            lists.append(self._by_issuer[ca.kid])
        self._by_cert[issuer_serial(cert)] = lists
        return lists

    def fetched_crls(self) -> Iterable[crl.CertificateList]:
        return list(self._by_issuer.values())

    def fetched_crls_for_cert(self, cert: Certificate) -> Iterable[crl.CertificateList]:
        return self._by_cert[issuer_serial(cert)]  # KeyError: not fetched yet (the API says)


class InProcessCertificateFetcher(CertificateFetcher):
    """Issuer certificates (what AIA caIssuers would serve, RFC 5280 §4.2.2.1)."""

    def __init__(self, directory: _CaDirectory) -> None:
        self._directory = directory
        self._fetched: dict[bytes, asn1_x509.Certificate] = {}

    async def _issuers(
        self, name: asn1_x509.Name, key_id: bytes | None
    ) -> AsyncGenerator[asn1_x509.Certificate, None]:
        for ca in self._directory.issuers(name, key_id):
            assert ca.certificate is not None
            certificate = to_asn1(ca.certificate)
            self._fetched[certificate.dump()] = certificate
            yield certificate

    def fetch_cert_issuers(self, cert: Certificate) -> AsyncGenerator[asn1_x509.Certificate, None]:
        if not isinstance(cert, asn1_x509.Certificate):
            return self._issuers(asn1_x509.Name(), None)
        return self._issuers(cert.issuer, cert.authority_key_identifier)

    def fetch_crl_issuers(
        self, certificate_list: crl.CertificateList
    ) -> AsyncGenerator[asn1_x509.Certificate, None]:
        return self._issuers(certificate_list.issuer, certificate_list.authority_key_identifier)

    def fetched_certs(self) -> Iterable[asn1_x509.Certificate]:
        return list(self._fetched.values())


def in_process_fetchers(revocation: Revocation) -> Fetchers:
    directory = _CaDirectory(revocation)
    return Fetchers(
        ocsp_fetcher=InProcessOcspFetcher(revocation),
        crl_fetcher=InProcessCrlFetcher(revocation, directory),
        cert_fetcher=InProcessCertificateFetcher(directory),
    )


# How much later than the context's moment revocation data may be dated. The moment is fixed
# when the context is made (pyhanko-certvalidator), the OCSP response and the CRL are dated
# when they are fetched, at the first signature; the library allows 1 s, which a loaded
# machine exceeds (CI: "OCSP response is too recent"). Two minutes, the clock skew the
# verifier allows too (verify/).
TIME_TOLERANCE = timedelta(minutes=2)


def validation_context(
    revocation: Revocation,
    trust_roots: Sequence[x509.Certificate],
    *,
    moment: datetime | None = None,
) -> ValidationContext:
    """A context that trusts ``trust_roots`` and *requires* an OCSP response and a CRL for
    every certificate below them (both go into the DSS, so a validator that only reads one
    kind still finds it), fetched in process. Reuse it for a batch of signatures: what it
    fetched is cached in it (and all of it goes into each DSS)."""
    both = RevocationCheckingRule.CRL_AND_OCSP_REQUIRED
    return ValidationContext(
        trust_roots=[to_asn1(root) for root in trust_roots],
        allow_fetching=True,
        fetchers=in_process_fetchers(revocation),
        revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy(both, both)),
        moment=moment,
        time_tolerance=TIME_TOLERANCE,
    )
