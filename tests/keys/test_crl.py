"""keys.crl: CRLs checked by Debian's ``openssl`` as an independent relying party.

Certificates and CRLs are dated from ``testpki.NOW``, so every ``openssl verify`` runs with
``-attime`` at that instant: the tests mean the same thing on any day they run.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from keys.algorithms import KeyType
from keys.crl import RevokedCertificate, build_crl
from tests.keys.testpki import NOW, Issued, issue
from tests.keys.testpki import test_pki as make_pki

THIS_UPDATE = NOW
NEXT_UPDATE = NOW + timedelta(days=7)
VERIFY_AT = str(int((NOW + timedelta(hours=1)).timestamp()))
REVOKED_AT = NOW - timedelta(hours=2)


def openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False
    )


@dataclass
class Pki:
    root: Issued
    ca: Issued
    revoked_leaf: Issued
    good_leaf: Issued
    dir: Path

    def write_crl(self, crl: x509.CertificateRevocationList, name: str = "crl.pem") -> Path:
        path = self.dir / name
        path.write_bytes(crl.public_bytes(Encoding.PEM))
        return path

    def crl(
        self, revoked: list[RevokedCertificate], number: int = 1
    ) -> x509.CertificateRevocationList:
        return build_crl(
            self.ca.certificate,
            self.ca.signer,
            revoked,
            number=number,
            this_update=THIS_UPDATE,
            next_update=NEXT_UPDATE,
        )


@pytest.fixture(params=[KeyType.EC_P256, KeyType.RSA_2048], ids=lambda k: k.value)
def pki(request: pytest.FixtureRequest, tmp_path: Path) -> Pki:
    root, ca = make_pki(request.param)
    revoked_leaf = issue("revoked leaf", ca, key_type=request.param)
    good_leaf = issue("good leaf", ca, key_type=request.param)
    (tmp_path / "ca_chain.pem").write_bytes(root.pem() + ca.pem())
    revoked_leaf.write(tmp_path / "revoked.pem")
    good_leaf.write(tmp_path / "good.pem")
    return Pki(root, ca, revoked_leaf, good_leaf, tmp_path)


def revoke(leaf: Issued, reason: x509.ReasonFlags | None = None) -> RevokedCertificate:
    return RevokedCertificate(leaf.certificate.serial_number, REVOKED_AT, reason)


def crl_verify(pki: Pki, crl_path: Path) -> subprocess.CompletedProcess[str]:
    return openssl(
        "crl", "-in", crl_path, "-CAfile", "ca_chain.pem", "-noout", "-verify", cwd=pki.dir
    )


def verify_leaf(pki: Pki, crl_path: Path, leaf: str) -> subprocess.CompletedProcess[str]:
    return openssl(
        "verify", "-crl_check", "-CRLfile", crl_path, "-CAfile", "ca_chain.pem",
        "-attime", VERIFY_AT, leaf, cwd=pki.dir,
    )  # fmt: skip


def test_openssl_verifies_the_crl_signature(pki: Pki) -> None:
    result = crl_verify(pki, pki.write_crl(pki.crl([revoke(pki.revoked_leaf)])))
    assert result.returncode == 0, result.stderr
    assert "verify OK" in result.stdout + result.stderr
    assert "verify failure" not in result.stdout + result.stderr


def test_openssl_rejects_the_revoked_leaf_and_accepts_the_good_one(pki: Pki) -> None:
    crl_path = pki.write_crl(pki.crl([revoke(pki.revoked_leaf, x509.ReasonFlags.key_compromise)]))

    revoked = verify_leaf(pki, crl_path, "revoked.pem")
    assert revoked.returncode != 0
    assert "certificate revoked" in revoked.stdout + revoked.stderr

    good = verify_leaf(pki, crl_path, "good.pem")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "good.pem: OK" in good.stdout


def test_an_empty_crl_is_valid_and_revokes_nothing(pki: Pki) -> None:
    crl = pki.crl([])
    assert len(crl) == 0
    crl_path = pki.write_crl(crl)
    assert "verify OK" in (result := crl_verify(pki, crl_path)).stdout + result.stderr
    text = openssl("crl", "-in", crl_path, "-noout", "-text", cwd=pki.dir).stdout
    assert "No Revoked Certificates." in text
    for leaf in ("good.pem", "revoked.pem"):
        assert verify_leaf(pki, crl_path, leaf).returncode == 0


def test_crl_number_authority_key_id_and_entry_reasons(pki: Pki) -> None:
    other = issue("unspecified leaf", pki.ca)
    crl = pki.crl(
        [
            revoke(pki.revoked_leaf, x509.ReasonFlags.key_compromise),
            revoke(pki.good_leaf),
            revoke(other, x509.ReasonFlags.unspecified),
        ],
        number=42,
    )
    assert crl.is_signature_valid(pki.ca.certificate.public_key())  # type: ignore[arg-type]
    assert crl.issuer == pki.ca.certificate.subject
    assert crl.last_update_utc == THIS_UPDATE
    assert crl.next_update_utc == NEXT_UPDATE
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 42
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = pki.ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki.key_identifier == ski.value.digest

    entry = crl.get_revoked_certificate_by_serial_number(pki.revoked_leaf.certificate.serial_number)
    assert entry is not None
    assert entry.revocation_date_utc == REVOKED_AT
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise
    )
    # no reason given, and "unspecified" (RFC 5280 §5.3.1: SHOULD be absent): no reasonCode
    for leaf in (pki.good_leaf, other):
        entry = crl.get_revoked_certificate_by_serial_number(leaf.certificate.serial_number)
        assert entry is not None
        assert len(entry.extensions) == 0


def test_naive_times_are_utc_and_fractions_dropped() -> None:
    _, ca = make_pki()
    china = timezone(timedelta(hours=8))
    crl = build_crl(
        ca.certificate,
        ca.signer,
        [RevokedCertificate(7, REVOKED_AT.replace(tzinfo=None, microsecond=999))],
        number=1,
        this_update=THIS_UPDATE.astimezone(china).replace(microsecond=123456),
        next_update=NEXT_UPDATE.replace(tzinfo=None),
    )
    assert crl.last_update_utc == THIS_UPDATE
    assert crl.next_update_utc == NEXT_UPDATE
    entry = crl.get_revoked_certificate_by_serial_number(7)
    assert entry is not None
    assert entry.revocation_date_utc == REVOKED_AT


def test_a_tampered_crl_fails_verification(pki: Pki) -> None:
    crl = pki.crl([revoke(pki.revoked_leaf)])
    der = bytearray(crl.public_bytes(Encoding.DER))
    serial = pki.revoked_leaf.certificate.serial_number
    serial_bytes = serial.to_bytes((serial.bit_length() + 8) // 8, "big")
    at = bytes(der).index(serial_bytes) + len(serial_bytes) - 1
    der[at] ^= 0x01
    tampered = x509.load_der_x509_crl(bytes(der))
    assert tampered.get_revoked_certificate_by_serial_number(serial) is None
    assert not tampered.is_signature_valid(pki.ca.certificate.public_key())  # type: ignore[arg-type]

    # openssl 3.0's ``crl -verify`` exits 0 even when the signature is bad: read its words
    result = crl_verify(pki, pki.write_crl(tampered, "tampered.pem"))
    assert "verify OK" not in result.stdout + result.stderr
    assert "verify failure" in result.stdout + result.stderr


@pytest.mark.parametrize("next_update", [THIS_UPDATE, THIS_UPDATE - timedelta(seconds=1)])
def test_next_update_must_follow_this_update(pki: Pki, next_update: datetime) -> None:
    with pytest.raises(ValueError, match="next_update"):
        build_crl(
            pki.ca.certificate,
            pki.ca.signer,
            [],
            number=1,
            this_update=THIS_UPDATE,
            next_update=next_update,
        )


def test_a_signer_without_the_issuers_key_is_refused(pki: Pki) -> None:
    with pytest.raises(ValueError, match="public key"):
        build_crl(
            pki.ca.certificate,
            pki.root.signer,
            [],
            number=1,
            this_update=THIS_UPDATE,
            next_update=NEXT_UPDATE,
        )


def test_other_bad_input_is_refused() -> None:
    _, ca = make_pki()
    leaf = issue("not a CA", ca)
    good = {"number": 1, "this_update": THIS_UPDATE, "next_update": NEXT_UPDATE}
    with pytest.raises(ValueError, match="cRLSign"):
        build_crl(leaf.certificate, leaf.signer, [], **good)  # type: ignore[arg-type]
    twice = [revoke(leaf), revoke(leaf)]
    with pytest.raises(ValueError, match="twice"):
        build_crl(ca.certificate, ca.signer, twice, **good)  # type: ignore[arg-type]
    delta_only = [revoke(leaf, x509.ReasonFlags.remove_from_crl)]
    with pytest.raises(ValueError, match="delta"):
        build_crl(ca.certificate, ca.signer, delta_only, **good)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="CRL number"):
        build_crl(ca.certificate, ca.signer, [], **{**good, "number": -1})  # type: ignore[arg-type]
