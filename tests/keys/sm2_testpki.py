"""A throwaway SM2 PKI for tests: root, seal CA, seal maker and signer certificates, made
with SM2 keys of the software key backend and :mod:`keys.sm2_certificates`."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509

from keys.algorithms import KeyType
from keys.backends.base import RawSigner
from keys.backends.software import SoftwareBackend
from keys.certificates import subject_name
from keys.master import MasterKeys
from keys.purposes import Purpose
from keys.sm2_certificates import Sm2Issuer, build_sm2_certificate

NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
DISTID = "distid:1234567812345678"

ROOT = Purpose("sm2-root", "SM2 Root CA", is_ca=True, certificate_lifetime=dt.timedelta(days=7300))
CA = Purpose("sm2-seal-ca", "SM2 Seal CA", is_ca=True, issuer="sm2-root")
LEAF = Purpose("sm2-seal", "SM2 seal", issuer="sm2-seal-ca", non_repudiation=True)

_backend = SoftwareBackend(MasterKeys(os.urandom(32)))


def sm2_signer(label: str = "test") -> RawSigner:
    return _backend.load(KeyType.SM2, _backend.generate(KeyType.SM2, label), label)


@dataclass
class Sm2Issued:
    certificate: asn1_x509.Certificate
    signer: RawSigner
    kid: str

    def pem(self) -> bytes:
        return bytes(pem.armor("CERTIFICATE", self.certificate.dump()))

    def write(self, path: Path) -> Path:
        path.write_bytes(self.pem())
        return path

    def as_issuer(self) -> Sm2Issuer:
        return Sm2Issuer(self.kid, self.certificate, self.signer)


def sm2_issue(
    common_name: str,
    issuer: Sm2Issued | None,
    purpose: Purpose = LEAF,
    *,
    now: dt.datetime = NOW,
    days: int = 365,
) -> Sm2Issued:
    signer = sm2_signer(common_name)
    certificate = build_sm2_certificate(
        subject=subject_name("govtrust test", common_name),
        public_key=signer.public_key(),  # type: ignore[arg-type]
        purpose=purpose,
        issuer=issuer.as_issuer() if issuer else None,
        self_signer=signer,
        now=now,
        lifetime=dt.timedelta(days=days),
    )
    return Sm2Issued(certificate, signer, common_name)


def sm2_pki() -> tuple[Sm2Issued, Sm2Issued]:
    """(root, seal CA)."""
    root = sm2_issue("SM2 Test Root", None, ROOT, days=7300)
    return root, sm2_issue("SM2 Test Seal CA", root, CA, days=3650)


def openssl(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=check)


def openssl_verify_sm2(tmp: Path, public_pem: bytes, signature: bytes, data: bytes) -> bool:
    """Debian's openssl: ``dgst -sm3 -verify pub.pem -sigopt distid:1234567812345678``."""
    (tmp / "pub.pem").write_bytes(public_pem)
    (tmp / "sig").write_bytes(signature)
    (tmp / "data").write_bytes(data)
    result = openssl(
        "dgst", "-sm3", "-verify", tmp / "pub.pem", "-sigopt", DISTID,
        "-signature", tmp / "sig", tmp / "data", check=False,
    )  # fmt: skip
    return result.returncode == 0 and "Verified OK" in result.stdout


def openssl_check_certificate(tmp: Path, certificate: Sm2Issued, issuer: Sm2Issued) -> bool:
    """The certificate's signature checked by openssl alone: TBSCertificate cut out by
    ``openssl asn1parse``, the issuer key by ``openssl x509 -pubkey``, verified by ``dgst``."""
    cert_pem = certificate.write(tmp / "cert.pem")
    issuer.write(tmp / "issuer.pem")
    pub = openssl("x509", "-in", tmp / "issuer.pem", "-noout", "-pubkey").stdout
    listing = openssl("asn1parse", "-in", cert_pem).stdout.splitlines()
    tbs_offset = listing[1].split(":")[0].strip()  # first child of the outer SEQUENCE
    openssl("asn1parse", "-in", cert_pem, "-strparse", tbs_offset, "-noout", "-out", tmp / "tbs")
    signature = certificate.certificate["signature_value"].native
    return openssl_verify_sm2(tmp, pub.encode(), signature, (tmp / "tbs").read_bytes())


__test__ = False
