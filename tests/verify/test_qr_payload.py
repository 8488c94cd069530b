"""The licence QR format (verify/FORMAT.md): CWT claims, COSE_Sign1, the GT1: text inside the
verification URL, and what the printed symbol costs (QR version at error correction M)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import cbor2
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from certs.identifiers import licence_identifier
from certs.qr_symbol import MAX_PRINTED_VERSION, make_qr
from tests.verify.conftest import LocalSigner, LocalSm2Signer
from verify.base45 import b45encode
from verify.cose import (
    CoseError,
    CoseSignatureError,
    decode_sign1,
    sign1,
    verify_sign1,
)
from verify.payload import LicenceClaims, PayloadError, QrKind, decode_claims, encode_claims
from verify.qr_text import QrTextError, payload_of, qr_text, verification_url_base

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
IDENTIFIER = licence_identifier("11100000MB0143028R001", "11220000013544541J", "0000001", 3)
SERVICE = "https://zwfw.jl.gov.cn"
CLAIMS = LicenceClaims(
    identifier=IDENTIFIER,
    kind=QrKind.ELECTRONIC,
    holder_name="长春示例科技有限公司",
    valid_from=date(2026, 11, 27),
    valid_until=date(2031, 11, 26),
    issued_at=NOW,
    status_index=1234567,
    status_uri=f"{SERVICE}/verify/status-lists/1",
)
PRINTED = replace(CLAIMS, kind=QrKind.PRINT, print_serial="0123456789ABCDEF")
DYNAMIC = replace(CLAIMS, kind=QrKind.DYNAMIC, expires_at=NOW + timedelta(minutes=3))
LONG_TERM = replace(CLAIMS, valid_until=None)


@pytest.mark.parametrize("claims", [CLAIMS, PRINTED, DYNAMIC, LONG_TERM])
def test_claims_round_trip(claims: LicenceClaims) -> None:
    decoded = decode_claims(encode_claims(claims))
    assert decoded == claims
    assert decoded.version == 3
    assert decoded.type_code == "11100000MB0143028R001"
    assert decoded.issuer_uscc == "11220000013544541J"


def _cwt(**changes: object) -> bytes:
    cwt = dict(cbor2.loads(encode_claims(PRINTED)))
    licence = dict(cwt[-65537])
    for key, value in changes.items():
        if key.startswith("licence_"):
            number = int(key.removeprefix("licence_"))
            if value is None:
                licence.pop(number, None)
            else:
                licence[number] = value
        elif value is None:
            cwt.pop(int(key.removeprefix("claim_")), None)
        else:
            cwt[int(key.removeprefix("claim_"))] = value
    if -65537 in cwt:
        cwt[-65537] = licence
    return cbor2.dumps(cwt)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\x00", "not CBOR"),
        (cbor2.dumps([1, 2]), "not a CWT"),
        (_cwt(**{"claim_-65537": None}), "licence claim"),
        (_cwt(claim_65535={"status_list": {"uri": "x"}}), "status list index"),
        (_cwt(claim_65535={"status_list": {"idx": -1, "uri": "x"}}), "negative"),
        (_cwt(licence_1="11100000MB0143028R001.11220000013544541J.0000001.003.4"), "check"),
        (_cwt(licence_2=7), "kind is unknown"),
        (_cwt(licence_2=True), "kind"),
        (_cwt(licence_6=None), "print serial"),
        (_cwt(licence_6=b"short"), "print serial"),
        (_cwt(licence_2=0), "only a print"),
        (_cwt(licence_2=2, licence_6=None), "dynamic QR's expiry"),
        (_cwt(claim_4=1), "only a dynamic QR"),
        (_cwt(licence_3=None), "holder name"),
        (_cwt(licence_5="2031-11-26"), "end of validity"),
        (_cwt(claim_6="yesterday"), "signing time"),
        (_cwt(licence_4=10**12), "out of range"),
    ],
)
def test_malformed_claims_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        decode_claims(data)


def test_cose_sign1_verifies_and_refuses_what_was_changed() -> None:
    signer = LocalSigner()
    key = signer.private_key.public_key()
    message = sign1(encode_claims(CLAIMS), b"kid-0001", signer)
    parsed = decode_sign1(message)
    assert parsed.kid == b"kid-0001"
    assert parsed.algorithm == -7
    verify_sign1(parsed, key)
    assert decode_claims(parsed.payload) == CLAIMS

    edited = replace(parsed, payload=encode_claims(replace(CLAIMS, holder_name="别的公司")))
    with pytest.raises(CoseSignatureError, match="does not verify"):
        verify_sign1(edited, key)
    with pytest.raises(CoseSignatureError, match="does not verify"):
        verify_sign1(parsed, LocalSigner().private_key.public_key())
    with pytest.raises(CoseSignatureError, match="algorithm"):
        verify_sign1(parsed, ed25519.Ed25519PrivateKey.generate().public_key())
    with pytest.raises(CoseSignatureError, match="64 bytes"):
        verify_sign1(replace(parsed, signature=parsed.signature[:-1]), key)


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (b"\xff\xff", "not CBOR"),
        (cbor2.dumps(cbor2.CBORTag(17, [b"", {}, b"", b""])), "not COSE_Sign1"),
        (cbor2.dumps([b"", {}, b""]), "four items"),
        (cbor2.dumps([b"", {}, "text", b""]), "byte strings"),
        (cbor2.dumps([b"\xff", {}, b"", b""]), "protected header"),
        (cbor2.dumps([cbor2.dumps({1: "ES256"}), {}, b"", b""]), "alg is an integer"),
        (cbor2.dumps([cbor2.dumps({4: "text"}), {}, b"", b""]), "kid is a byte string"),
        (cbor2.dumps([b"", [], b"", b""]), "header is a map"),
    ],
)
def test_malformed_cose_is_refused(message: bytes, problem: str) -> None:
    with pytest.raises(CoseError, match=problem):
        decode_sign1(message)


def test_the_qr_text_is_an_upper_case_url_around_the_payload() -> None:
    message = sign1(encode_claims(CLAIMS), b"kid-0001", LocalSigner())
    text = qr_text(message, verification_url_base(SERVICE))
    assert text.startswith("HTTPS://ZWFW.JL.GOV.CN/V/GT1:")
    assert " " not in text and "/" not in text.removeprefix("HTTPS://ZWFW.JL.GOV.CN/V/")
    assert payload_of(text) == message
    assert payload_of("GT1:" + b45encode(message)) == message
    assert payload_of(text.lower().replace("gt1:", "GT1:")[:29] + text[29:]) == message
    assert make_qr(text).mode == "alphanumeric"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("HC1:NCFOXN%TS3DH", "unknown prefix 'HC1'"),
        ("GT2:NCFOXN", "unknown prefix 'GT2'"),
        ("just some text", "unknown prefix"),
        ("https://example.com/licence/123", "not a licence verification URL"),
        ("GT1:GGW", "bad base45"),
        ("HTTPS://ZWFW.JL.GOV.CN/V/GT1:ab", "bad base45"),
    ],
)
def test_foreign_or_broken_texts_are_refused(text: str, problem: str) -> None:
    with pytest.raises(QrTextError, match=problem):
        payload_of(text)


LONG_NAME = "中国石油天然气股份有限公司吉林油田分公司"  # 20 characters


@pytest.mark.parametrize("signer", [LocalSigner, LocalSm2Signer], ids=["ES256", "SM2"])
@pytest.mark.parametrize(
    "claims",
    [CLAIMS, PRINTED, DYNAMIC, replace(PRINTED, holder_name=LONG_NAME)],
    ids=["electronic", "print", "dynamic", "print-long-name"],
)
def test_a_printed_qr_fits_version_15_at_level_m(
    claims: LicenceClaims, signer: type[LocalSigner | LocalSm2Signer]
) -> None:
    text = qr_text(
        sign1(encode_claims(claims), b"\x00" * 8, signer()), verification_url_base(SERVICE)
    )
    symbol = make_qr(text)
    assert symbol.error == "M"
    assert symbol.version <= MAX_PRINTED_VERSION, (len(text), symbol.version)


def test_a_qr_longer_than_version_15_is_measured_as_such() -> None:
    """The size test above can fail: a 40-character holder name does not fit."""
    claims = replace(PRINTED, holder_name=LONG_NAME * 2)
    text = qr_text(
        sign1(encode_claims(claims), b"\x00" * 8, LocalSm2Signer()),
        verification_url_base(SERVICE),
    )
    assert make_qr(text).version > MAX_PRINTED_VERSION
