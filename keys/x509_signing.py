"""Sign X.509 structures with a key that never leaves its backend.

``cryptography``'s builders sign only with an in-memory private key. To sign with an HSM
key we let the builder produce the structure with a throwaway key *of the same type* (so
the signature AlgorithmIdentifier is the one the real key uses), then replace the signature
over the unchanged to-be-signed bytes with one made by the real signer:

- certificates: ``tbsCertificate`` (RFC 5280 §4.1.1.1)
- CRLs: ``tbsCertList`` (RFC 5280 §5.1.1.1)

OCSP responses need the responder's certificate in the draft too: see
:mod:`keys.ocsp_responder`.
"""

from __future__ import annotations

from functools import cache

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding

from keys.algorithms import KeyType, generate_private_key
from keys.backends.base import RawSigner


@cache
def _throwaway(key_type: KeyType) -> PrivateKeyTypes:
    """One stand-in key per type and process: it only fixes the algorithm identifier."""
    return generate_private_key(key_type)


def _hash(key_type: KeyType) -> hashes.SHA256 | None:
    return None if key_type is KeyType.ED25519 else hashes.SHA256()


def sign_certificate(builder: x509.CertificateBuilder, signer: RawSigner) -> x509.Certificate:
    draft = builder.sign(_throwaway(signer.key_type), _hash(signer.key_type))  # type: ignore[arg-type]
    parsed = asn1_x509.Certificate.load(draft.public_bytes(Encoding.DER))
    parsed["signature_value"] = signer.sign(parsed["tbs_certificate"].dump())
    return x509.load_der_x509_certificate(parsed.dump(force=True))


def sign_crl(
    builder: x509.CertificateRevocationListBuilder, signer: RawSigner
) -> x509.CertificateRevocationList:
    draft = builder.sign(_throwaway(signer.key_type), _hash(signer.key_type))  # type: ignore[arg-type]
    parsed = asn1_crl.CertificateList.load(draft.public_bytes(Encoding.DER))
    parsed["signature"] = signer.sign(parsed["tbs_cert_list"].dump())
    return x509.load_der_x509_crl(parsed.dump(force=True))
