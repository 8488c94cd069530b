"""GB/T 38540-2020 seals and electronic signatures: round trips, the eight checks, a tamper
case for every field of SES_Seal and SES_Signature, and openssl checking the SM2 signatures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import tsp

from keys.sm2 import sm3
from keys.tsa import TimeStampAuthority, TsaConfig
from seal.ses.asn1 import SES_Seal, SES_Signature
from seal.ses.make import SealPicture, SealSpec, make_seal, sign_data
from seal.ses.timestamp import timestamp_request_digest
from seal.ses.verify import CHECKS, RevocationStatus, SesTrust, verify_ses_signature
from tests.keys.sm2_testpki import (
    NOW,
    Sm2Issued,
    openssl,
    openssl_verify_sm2,
    sm2_issue,
    sm2_pki,
    sm2_signer,
)
from tests.keys.testpki import TIME_STAMPING, issue
from tests.keys.testpki import test_pki as ecdsa_pki

DATA = b"<ofd:Signature>approval result 2026-11-27</ofd:Signature>"
PROPERTY = "/Doc_0/Signs/Sign_0/Signature.xml"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


@dataclass
class World:
    root: Sm2Issued
    ca: Sm2Issued
    maker: Sm2Issued
    signer: Sm2Issued
    trust: SesTrust

    def spec(self, **changes: Any) -> SealSpec:
        values: dict[str, Any] = {
            "es_id": "44010000000001",
            "seal_type": 1,
            "name": "某某市政务服务管理局审批专用章",
            "signer_certificates": [self.signer.certificate],
            "created": NOW - dt.timedelta(days=30),
            "valid_start": NOW - dt.timedelta(days=30),
            "valid_end": NOW + dt.timedelta(days=365),
            "picture": SealPicture("PNG", PNG, 42, 42),
        }
        values.update(changes)
        return SealSpec(**values)

    def seal(self, **changes: Any) -> SES_Seal:
        return make_seal(self.spec(**changes), self.maker.certificate, self.maker.signer)

    def sign(self, seal: SES_Seal | None = None, **kwargs: Any) -> bytes:
        arguments: dict[str, Any] = {
            "data": DATA,
            "property_info": PROPERTY,
            "signer_certificate": self.signer.certificate,
            "signer": self.signer.signer,
            "now": NOW,
        }
        arguments.update(kwargs)
        return bytes(sign_data(seal or self.seal(), **arguments).dump())


@pytest.fixture(scope="module")
def world() -> World:
    root, ca = sm2_pki()
    maker = sm2_issue("制章人 seal maker", ca, days=3650)
    signer = sm2_issue("签章人 approver", ca)
    return World(
        root, ca, maker, signer, SesTrust(roots=[root.certificate], intermediates=[ca.certificate])
    )


def test_round_trip_verifies(world: World) -> None:
    signed = world.sign()
    decoded = SES_Signature.load(signed)
    assert decoded.dump(force=True) == signed  # DER in, DER out
    assert decoded["to_sign"]["eseal"]["e_seal_info"]["header"].native == {
        "id": "ES", "version": 4, "vid": "govtrust",
    }  # fmt: skip
    assert decoded["to_sign"]["data_hash"].native == sm3(DATA)
    result = verify_ses_signature(signed, DATA, world.trust)
    assert result.valid, result.summary
    assert result.failed_checks == ()
    assert (result.format_ok, result.signature_valid, result.signer_trusted) == (True,) * 3
    assert result.seal_signature_valid and result.seal_maker_trusted
    assert result.signed_within_seal_validity and result.signer_in_seal and result.data_hash_ok
    assert result.timestamp == "absent"
    assert result.signer_revocation is RevocationStatus.UNKNOWN  # no revocation source given
    assert result.signing_time == NOW and result.seal_id == "44010000000001"
    assert result.seal_name == "某某市政务服务管理局审批专用章"


def test_seal_round_trip(world: World) -> None:
    seal = world.seal(ext_datas=[("1.2.156.1", False, b"x")])
    again = SES_Seal.load(seal.dump())
    assert again.dump(force=True) == seal.dump()
    assert again["e_seal_info"]["picture"]["data"].native == PNG
    assert again["e_seal_info"]["ext_datas"][0]["extn_value"].native == b"x"


def test_openssl_checks_both_signatures(world: World, tmp_path: Path) -> None:
    signed = world.sign()
    (tmp_path / "ses.der").write_bytes(signed)
    assert (
        "SM2-with-SM3" in openssl("asn1parse", "-inform", "DER", "-in", tmp_path / "ses.der").stdout
    )
    decoded = SES_Signature.load(signed)
    to_sign = decoded["to_sign"]
    seal = to_sign["eseal"]
    (tmp_path / "signer.der").write_bytes(decoded["cert"].native)
    (tmp_path / "maker.der").write_bytes(seal["cert"].native)
    signer_pub = openssl(
        "x509", "-inform", "DER", "-in", tmp_path / "signer.der", "-noout", "-pubkey"
    )
    maker_pub = openssl(
        "x509", "-inform", "DER", "-in", tmp_path / "maker.der", "-noout", "-pubkey"
    )
    assert openssl_verify_sm2(
        tmp_path, signer_pub.stdout.encode(), decoded["signature"].native, to_sign.dump()
    )
    assert openssl_verify_sm2(
        tmp_path, maker_pub.stdout.encode(), seal["signed_value"].native,
        seal["e_seal_info"].dump(),
    )  # fmt: skip
    assert not openssl_verify_sm2(
        tmp_path, signer_pub.stdout.encode(), decoded["signature"].native, DATA
    )


def test_cert_digest_list(world: World) -> None:
    signed = world.sign(world.seal(cert_digests=True))
    result = verify_ses_signature(signed, DATA, world.trust)
    assert result.valid, result.summary
    other = sm2_issue("someone else", world.ca)
    signed = world.sign(world.seal(cert_digests=True, signer_certificates=[other.certificate]))
    assert verify_ses_signature(signed, DATA, world.trust).failed_checks == ("signer_in_seal",)


# -- negative cases ------------------------------------------------------------------------


def test_wrong_data(world: World) -> None:
    result = verify_ses_signature(world.sign(), DATA + b" ", world.trust)
    assert result.failed_checks == ("data_hash",) and not result.data_hash_ok


def test_signer_not_in_seal(world: World) -> None:
    other = sm2_issue("not on the seal", world.ca)
    signed = world.sign(signer_certificate=other.certificate, signer=other.signer)
    result = verify_ses_signature(signed, DATA, world.trust)
    assert result.failed_checks == ("signer_in_seal",) and result.signature_valid


def test_expired_seal(world: World) -> None:
    seal = world.seal(valid_end=NOW - dt.timedelta(days=1))
    result = verify_ses_signature(world.sign(seal), DATA, world.trust)
    assert result.failed_checks == ("seal_validity",)
    assert not result.signed_within_seal_validity


def test_seal_not_yet_valid(world: World) -> None:
    seal = world.seal(valid_start=NOW + dt.timedelta(days=1))
    assert verify_ses_signature(world.sign(seal), DATA, world.trust).failed_checks == (
        "seal_validity",
    )


def test_wrong_signer_key(world: World) -> None:
    signed = world.sign(signer=sm2_signer("intruder"))
    result = verify_ses_signature(signed, DATA, world.trust)
    assert result.failed_checks == ("signature",) and not result.signature_valid


def test_wrong_seal_maker_key(world: World) -> None:
    seal = make_seal(world.spec(), world.maker.certificate, sm2_signer("intruder"))
    result = verify_ses_signature(world.sign(seal), DATA, world.trust)
    assert result.failed_checks == ("seal_signature",) and result.seal_maker_trusted


def test_untrusted_chain(world: World) -> None:
    other_root, other_ca = sm2_pki()
    outsider = sm2_issue("outsider", other_ca)
    seal = world.seal(signer_certificates=[outsider.certificate])
    signed = world.sign(seal, signer_certificate=outsider.certificate, signer=outsider.signer)
    result = verify_ses_signature(signed, DATA, world.trust)
    assert result.failed_checks == ("signer_certificate",) and not result.signer_trusted
    trusting = SesTrust(
        roots=[world.root.certificate, other_root.certificate],
        intermediates=[world.ca.certificate, other_ca.certificate],
    )
    assert verify_ses_signature(signed, DATA, trusting).valid


def test_seal_maker_untrusted(world: World) -> None:
    _, other_ca = sm2_pki()
    maker = sm2_issue("rogue maker", other_ca)
    seal = make_seal(world.spec(), maker.certificate, maker.signer)
    result = verify_ses_signature(world.sign(seal), DATA, world.trust)
    assert result.failed_checks == ("seal_signature",)
    assert result.seal_signature_valid and not result.seal_maker_trusted


def test_signer_certificate_expired_at_signing(world: World) -> None:
    old = sm2_issue("old signer", world.ca, now=NOW - dt.timedelta(days=400), days=30)
    seal = world.seal(signer_certificates=[old.certificate])
    signed = world.sign(seal, signer_certificate=old.certificate, signer=old.signer)
    assert verify_ses_signature(signed, DATA, world.trust).failed_checks == ("signer_certificate",)


def test_revocation(world: World) -> None:
    signed = world.sign()
    serial = world.signer.certificate.serial_number

    def revoked(cert: Any, issuer: Any) -> RevocationStatus:
        return RevocationStatus.REVOKED if cert.serial_number == serial else RevocationStatus.GOOD

    def good(cert: Any, issuer: Any) -> RevocationStatus:
        return RevocationStatus.GOOD

    trust = SesTrust(world.trust.roots, world.trust.intermediates, revocation=revoked)
    result = verify_ses_signature(signed, DATA, trust)
    assert result.failed_checks == ("signer_certificate",)
    assert result.signer_revocation is RevocationStatus.REVOKED
    trust = SesTrust(world.trust.roots, world.trust.intermediates, revocation=good)
    result = verify_ses_signature(signed, DATA, trust)
    assert result.valid and result.signer_revocation is RevocationStatus.GOOD


@pytest.mark.parametrize("garbage", [b"", b"\x30\x00", b"not der", bytes(100)])
def test_garbage_is_a_format_failure(world: World, garbage: bytes) -> None:
    result = verify_ses_signature(garbage, DATA, world.trust)
    assert result.failed_checks == ("format",) and not result.format_ok


def test_ecdsa_certificates_are_a_format_failure(world: World) -> None:
    root, _ = ecdsa_pki()
    signed = SES_Signature.load(world.sign())
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding

    signed["cert"] = asn1_x509.Certificate.load(root.certificate.public_bytes(Encoding.DER)).dump()
    result = verify_ses_signature(signed.dump(force=True), DATA, world.trust)
    assert result.failed_checks == ("format",)


# -- timestamps ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tsa() -> tuple[Callable[[bytes], bytes], Any]:
    _, ca = ecdsa_pki()
    leaf = issue("Test TSA", ca, eku=[TIME_STAMPING], critical_eku=True)
    authority = TimeStampAuthority(
        leaf.signer, leaf.certificate, [ca.certificate], TsaConfig(), clock=lambda: NOW
    )

    def stamp(signature: bytes) -> bytes:
        request = tsp.TimeStampReq(
            {
                "version": "v1",
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": timestamp_request_digest(signature),
                },
                "cert_req": True,
            }
        )
        response = tsp.TimeStampResp.load(authority.respond(request.dump()))
        return bytes(response["time_stamp_token"].dump())

    return stamp, leaf.certificate


def test_timestamp(world: World, tsa: tuple[Callable[[bytes], bytes], Any]) -> None:
    stamp, tsa_certificate = tsa
    signed = world.sign(timestamper=stamp)
    trust = SesTrust(world.trust.roots, world.trust.intermediates, [tsa_certificate])
    result = verify_ses_signature(signed, DATA, trust)
    assert result.valid, result.summary
    assert result.timestamp == "valid" and result.timestamp_time == NOW
    untrusted = verify_ses_signature(signed, DATA, world.trust)  # TSA not pinned
    assert untrusted.failed_checks == ("timestamp",) and untrusted.timestamp == "invalid"
    # a token over another signature value
    other = SES_Signature.load(world.sign(timestamper=stamp))
    moved = SES_Signature.load(signed)
    moved["time_stamp"] = other["time_stamp"].native
    result = verify_ses_signature(moved.dump(force=True), DATA, trust)
    assert result.failed_checks == ("timestamp",)


# -- tamper every field --------------------------------------------------------------------

_SEAL = ("to_sign", "eseal")
_INFO = (*_SEAL, "e_seal_info")
_PROP = (*_INFO, "property")
_PIC = (*_INFO, "picture")

TAMPER: list[tuple[tuple[str, ...], Callable[[Any, World], Any], str]] = [
    # SES_Seal / SES_SealInfo
    ((*_INFO, "header", "id"), lambda v, w: "XX", "format"),
    ((*_INFO, "header", "version"), lambda v, w: 3, "format"),
    ((*_INFO, "header", "vid"), lambda v, w: "other", "seal_signature"),
    ((*_INFO, "es_id"), lambda v, w: "44010000000002", "seal_signature"),
    ((*_PROP, "type"), lambda v, w: 2, "seal_signature"),
    ((*_PROP, "name"), lambda v, w: "伪造章", "seal_signature"),
    ((*_PROP, "cert_list_type"), lambda v, w: 7, "format"),
    ((*_PROP, "create_date"), lambda v, w: NOW - dt.timedelta(days=1), "seal_signature"),
    ((*_PROP, "valid_start"), lambda v, w: NOW - dt.timedelta(days=99), "seal_signature"),
    ((*_PROP, "valid_end"), lambda v, w: NOW + dt.timedelta(days=9999), "seal_signature"),
    ((*_PIC, "type"), lambda v, w: "JPG", "seal_signature"),
    ((*_PIC, "data"), lambda v, w: PNG + b"!", "seal_signature"),
    ((*_PIC, "width"), lambda v, w: 50, "seal_signature"),
    ((*_PIC, "height"), lambda v, w: 50, "seal_signature"),
    ((*_SEAL, "cert"), lambda v, w: w.signer.certificate.dump(), "seal_signature"),
    ((*_SEAL, "sign_alg_id"), lambda v, w: "1.2.840.10045.4.3.2", "format"),
    ((*_SEAL, "signed_value"), lambda v, w: bytes(reversed(v)), "seal_signature"),
    # SES_Signature / TBS_Sign
    (("to_sign", "version"), lambda v, w: 2, "format"),
    (("to_sign", "time_info"), lambda v, w: NOW + dt.timedelta(seconds=1), "signature"),
    (("to_sign", "data_hash"), lambda v, w: sm3(b"other"), "signature"),
    (("to_sign", "property_info"), lambda v, w: "/Doc_0/Other.xml", "signature"),
    (("cert",), lambda v, w: w.maker.certificate.dump(), "signature"),
    (("signature_algorithm",), lambda v, w: "1.2.840.10045.4.3.2", "format"),
    (("signature",), lambda v, w: bytes(reversed(v)), "signature"),
    (("time_stamp",), lambda v, w: b"\x30\x03\x02\x01\x00", "timestamp"),
]


def _tamper_seal_list(signature: Any, world: World) -> None:
    prop = signature["to_sign"]["eseal"]["e_seal_info"]["property"]
    from seal.ses.asn1 import CertInfoList

    prop["cert_list"] = CertInfoList([world.maker.certificate.dump()])


@pytest.mark.parametrize(
    ("path", "change", "expected"), TAMPER, ids=[".".join(item[0][-2:]) for item in TAMPER]
)
def test_tampering_names_the_check(
    world: World, path: tuple[str, ...], change: Callable[[Any, World], Any], expected: str
) -> None:
    signature = SES_Signature.load(world.sign())
    parent = signature
    for name in path[:-1]:
        parent = parent[name]
    parent[path[-1]] = change(parent[path[-1]].native, world)
    result = verify_ses_signature(signature.dump(force=True), DATA, world.trust)
    assert expected in result.failed_checks, result.summary
    assert not result.valid
    assert set(result.failed_checks) <= set(CHECKS)


def test_tampering_the_cert_list(world: World) -> None:
    signature = SES_Signature.load(world.sign())
    _tamper_seal_list(signature, world)
    result = verify_ses_signature(signature.dump(force=True), DATA, world.trust)
    assert {"seal_signature", "signer_in_seal"} <= set(result.failed_checks)
