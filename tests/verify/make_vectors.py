"""Write ``verify/testdata/``: the licence QR test vectors, in the manner of the EU DCC test
data (one JSON file per case with the payload at every stage and the expected result
flags), and ``context.json`` (the pinned root, the trust list and the status list they are
checked against). A throwaway PKI is made each time; its private keys are not kept.

The SM2 cases (``19-sm2-*``, ``20-sm2-*``) are signed in the SM2 family (COSE ``alg`` -65600,
JWS ``SM2SM3``) under a throwaway SM2 hierarchy and name their own context in
``TESTCTX.CONTEXT``: ``context-sm2.json``. A case without ``CONTEXT`` uses ``context.json``.

Run ``python -m tests.verify.make_vectors`` after a change of the format, then commit the
files; ``tests/verify/test_vectors.py`` checks every case. ``--sm2-only`` rewrites only the
SM2 context and cases and leaves the others as they are.
"""

from __future__ import annotations

import base64
import io
import json
import sys
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from PIL import Image

from certs.identifiers import licence_identifier
from certs.qr_symbol import qr_png
from tests.verify.conftest import LocalSigner, LocalSm2Signer, sm2_licence_pki
from verify.base45 import b45encode
from verify.cose import sign1
from verify.payload import LicenceClaims, QrKind, encode_claims
from verify.qr_text import PREFIX, payload_of, qr_text, verification_url_base
from verify.status_list import SIZE_STEP, Status, StatusList, pack, sign_status_list
from verify.trust_list import cose_kid, key_entry, sign_trust_list

OUT = Path(__file__).resolve().parents[2] / "verify" / "testdata"
CLOCK = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SERVICE = "https://zwfw.example.gov.cn"
STATUS_URI = f"{SERVICE}/verify/status-lists/1"
TYPE_CODE = "11100000MB0143028R001"
ISSUER = "11220000013544541J"
SM2_CONTEXT = "context-sm2.json"
STATUSES = [(1, Status.INVALID), (2, Status.SUSPENDED), (3, Status.SUPERSEDED)]
LIFETIME = int(timedelta(days=3650).total_seconds())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, key: Any, issuer: str, issuer_key: Any, ca: bool, start: datetime, years: int
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA256())


class Pki:
    def __init__(self) -> None:
        start = datetime(2026, 1, 1, tzinfo=UTC)
        root_key = ec.generate_private_key(ec.SECP256R1())
        ca_key = ec.generate_private_key(ec.SECP256R1())
        self.root = _certificate("Test Root", root_key, "Test Root", root_key, True, start, 20)
        self.ca = _certificate("Test Service CA", ca_key, "Test Root", root_key, True, start, 10)
        self.signer = LocalSigner("licence-test-1")
        self.leaf = _certificate(
            "Test Licence Signing",
            self.signer.private_key,
            "Test Service CA",
            ca_key,
            False,
            datetime(2026, 6, 1, tzinfo=UTC),
            5,
        )
        self.kid = cose_kid(self.leaf)


def _claims(**changes: Any) -> LicenceClaims:
    base = LicenceClaims(
        identifier=licence_identifier(TYPE_CODE, ISSUER, "0000001", 1),
        kind=QrKind.ELECTRONIC,
        holder_name="长春示例科技有限公司",
        valid_from=date(2026, 11, 1),
        valid_until=None,
        issued_at=CLOCK - timedelta(days=1),
        status_index=0,
        status_uri=STATUS_URI,
    )
    return replace(base, **changes)


def _stages(text: str) -> dict[str, Any]:
    """The payload at each stage, as far as it decodes."""
    stages: dict[str, Any] = {"QR_TEXT": text}
    try:
        cose = payload_of(text)
    except ValueError:
        return stages
    stages["BASE45"] = b45encode(cose)
    stages["PREFIX"] = PREFIX + stages["BASE45"]
    stages["COSE"] = cose.hex()
    try:
        item = cbor2.loads(cose)
        stages["CBOR"] = bytes(item.value[2]).hex()
    except Exception:
        pass
    return stages


def _expected(
    verdict: str,
    decode: bool,
    signature: bool | None = None,
    expiry: bool | None = None,
    status: bool | None = None,
) -> dict[str, Any]:
    return {
        "EXPECTEDVERDICT": verdict,
        "EXPECTEDDECODE": decode,
        "EXPECTEDVERIFY": signature,
        "EXPECTEDEXPIRATIONCHECK": expiry,
        "EXPECTEDSTATUS": status,
    }


def _forged(genuine: str, url: str) -> str:
    """``genuine`` with the holder name changed after signing (signature kept)."""
    edited = cbor2.loads(payload_of(genuine)).value
    forged_payload = encode_claims(_claims(holder_name="冒名顶替有限公司"))
    return qr_text(cbor2.dumps(cbor2.CBORTag(18, [edited[0], {}, forged_payload, edited[3]])), url)


def _context(
    root: x509.Certificate,
    signer: LocalSigner | LocalSm2Signer,
    chain: list[x509.Certificate],
) -> dict[str, Any]:
    """The pinned root, a trust list with the one key of ``chain`` and a status list with
    entries 1-3 revoked, suspended and superseded, both signed by ``signer``."""
    status_token = sign_status_list(
        StatusList(2, pack(STATUSES, SIZE_STEP)),
        STATUS_URI,
        signer,
        CLOCK - timedelta(minutes=10),
        LIFETIME,
        300,
    )
    trust_token = sign_trust_list(
        SERVICE,
        [key_entry(signer.kid, "active", chain)],
        [STATUS_URI],
        {TYPE_CODE: "营业执照"},
        {ISSUER: "吉林省市场监督管理厅"},
        signer,
        chain,
        CLOCK - timedelta(minutes=10),
        LIFETIME,
    )
    return {
        "VALIDATIONCLOCK": CLOCK.isoformat(),
        "ROOT_PEM": root.public_bytes(Encoding.PEM).decode(),
        "TRUST_LIST": trust_token,
        "STATUS_LISTS": {STATUS_URI: status_token},
        "SKEW_SECONDS": 120,
    }


def _write(name: str, data: dict[str, Any]) -> None:
    (OUT / name).write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _write_case(
    name: str, description: str, text: str, expected: dict[str, Any], context: str | None = None
) -> None:
    testctx: dict[str, Any] = {"DESCRIPTION": description, "VERSION": 1}
    if context is not None:
        testctx["CONTEXT"] = context
    body = {"TESTCTX": testctx, **_stages(text), "EXPECTEDRESULTS": expected}
    if name in ("01-valid-electronic", "19-sm2-valid-electronic"):
        body["IMAGE_PNG"] = base64.b64encode(qr_png(text, scale=3)).decode()
    _write(f"{name}.json", body)


def sm2_vectors() -> None:
    """``context-sm2.json`` and the SM2 cases: a genuine electronic licence and a forgery."""
    pki = sm2_licence_pki(kid="sm2-licence-test-1")
    url = verification_url_base(SERVICE)
    genuine = qr_text(sign1(encode_claims(_claims()), cose_kid(pki.leaf), pki.signer), url)
    _write(SM2_CONTEXT, _context(pki.root, pki.signer, [pki.leaf, pki.ca]))
    _write_case(
        "19-sm2-valid-electronic",
        "a genuine electronic licence in force, signed SM2 with SM3 (COSE alg -65600)",
        genuine,
        _expected("valid", True, True, True, True),
        SM2_CONTEXT,
    )
    _write_case(
        "20-sm2-bad-signature",
        "an SM2-signed licence whose holder name was changed after signing",
        _forged(genuine, url),
        _expected("not_genuine", True, False),
        SM2_CONTEXT,
    )


def main() -> None:
    pki = Pki()
    url = verification_url_base(SERVICE)

    def signed(
        claims: LicenceClaims, signer: LocalSigner | None = None, kid: bytes | None = None
    ) -> str:
        message = sign1(
            encode_claims(claims), pki.kid if kid is None else kid, signer or pki.signer
        )
        return qr_text(message, url)

    genuine = signed(_claims())
    forged = _forged(genuine, url)
    cases: dict[str, tuple[str, str, dict[str, Any]]] = {
        "01-valid-electronic": (
            "a genuine electronic licence in force",
            genuine,
            _expected("valid", True, True, True, True),
        ),
        "02-valid-print": (
            "a genuine paper print in force",
            signed(_claims(kind=QrKind.PRINT, print_serial="0123456789ABCDEF", status_index=5)),
            _expected("valid", True, True, True, True),
        ),
        "03-valid-dynamic": (
            "a dynamic QR (亮证) shown a minute ago",
            signed(
                _claims(
                    kind=QrKind.DYNAMIC,
                    issued_at=CLOCK - timedelta(minutes=1),
                    expires_at=CLOCK + timedelta(minutes=2),
                )
            ),
            _expected("valid", True, True, True, True),
        ),
        "04-expired-dynamic": (
            "a dynamic QR shown an hour ago (a screenshot replayed)",
            signed(
                _claims(
                    kind=QrKind.DYNAMIC,
                    issued_at=CLOCK - timedelta(hours=1),
                    expires_at=CLOCK - timedelta(minutes=57),
                )
            ),
            _expected("expired", True, True, False, True),
        ),
        "05-expired-validity": (
            "a licence whose last valid day has passed",
            signed(_claims(valid_from=date(2021, 11, 1), valid_until=date(2026, 10, 31))),
            _expected("expired", True, True, False, True),
        ),
        "06-not-yet-valid": (
            "a licence valid from next month",
            signed(_claims(valid_from=date(2026, 12, 20))),
            _expected("not_yet_valid", True, True, False, True),
        ),
        "07-revoked": (
            "a revoked licence (status 1)",
            signed(_claims(status_index=1)),
            _expected("revoked", True, True, True, False),
        ),
        "08-suspended": (
            "a suspended licence (status 2)",
            signed(_claims(status_index=2)),
            _expected("suspended", True, True, True, False),
        ),
        "09-superseded": (
            "an older version (status 3)",
            signed(_claims(status_index=3)),
            _expected("superseded", True, True, True, False),
        ),
        "10-bad-base45": (
            "base45 with a character outside the alphabet",
            "GT1:" + "ab" + b45encode(b"x"),
            _expected("unreadable", False),
        ),
        "11-bad-cbor": (
            "base45 of bytes that are not CBOR",
            "GT1:" + b45encode(b"\xff\xfe\xfd"),
            _expected("unreadable", False),
        ),
        "12-bad-claims": (
            "a COSE_Sign1 whose payload is not a licence claims set",
            qr_text(sign1(cbor2.dumps({1: "x"}), pki.kid, pki.signer), url),
            _expected("unreadable", False),
        ),
        "13-bad-signature": (
            "the holder name changed after signing",
            forged,
            _expected("not_genuine", True, False),
        ),
        "14-unknown-key": (
            "signed by a key the trust list does not have",
            signed(_claims(), LocalSigner(), b"\x01" * 8),
            _expected("not_genuine", True, False),
        ),
        "15-foreign-key": (
            "signed by another key that claims the genuine key's id",
            signed(_claims(), LocalSigner()),
            _expected("not_genuine", True, False),
        ),
        "16-wrong-prefix": (
            "an EU DCC (HC1:), not a licence",
            "HC1:6BFOXN%TS3DH0YOJ58S S-W5HDC *M0II5XHC9B5G2+$N",
            _expected("unreadable", False),
        ),
        "17-signed-before-key": (
            "signed before the signing key's certificate was valid",
            signed(_claims(issued_at=datetime(2026, 3, 1, tzinfo=UTC))),
            _expected("not_genuine", True, False),
        ),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.json"):
        old.unlink()
    _write("context.json", _context(pki.root, pki.signer, [pki.leaf, pki.ca]))
    for name, (description, text, expected) in cases.items():
        _write_case(name, description, text, expected)
    blank = io.BytesIO()
    Image.new("L", (240, 240), 255).save(blank, "PNG")
    unreadable = {
        "TESTCTX": {"DESCRIPTION": "a photo with no readable code in it", "VERSION": 1},
        "IMAGE_PNG": base64.b64encode(blank.getvalue()).decode(),
        "EXPECTEDRESULTS": _expected("unreadable", False),
    }
    (OUT / "18-unreadable-image.json").write_text(json.dumps(unreadable, indent=2) + "\n")
    sm2_vectors()


if __name__ == "__main__":
    if sys.argv[1:] == ["--sm2-only"]:
        sm2_vectors()
    else:
        main()
