"""keys.tsa against Debian's ``openssl ts`` as the independent client and verifier."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from keys.algorithms import KeyType, verify_signature
from keys.tsa import PLACEHOLDER_POLICY_OID, TimeStampAuthority, TsaConfig, check_tsa_certificate
from tests.keys.testpki import TIME_STAMPING, Issued, issue
from tests.keys.testpki import test_pki as make_pki

# A frozen clock, deliberately not in UTC: genTime must be this instant expressed in UTC.
FROZEN = dt.datetime(2026, 11, 27, 17, 30, 15, tzinfo=dt.timezone(dt.timedelta(hours=8)))
FROZEN_UTC = dt.datetime(2026, 11, 27, 9, 30, 15, tzinfo=dt.UTC)
KEY_TYPES = [KeyType.EC_P256, KeyType.RSA_2048, KeyType.ED25519]
# OpenSSL 3.0's `ts -verify` goes through its PKCS7 code, which has no Ed25519 support
# ("operation not supported for this keytype"); its CMS code (3.0) cannot do Ed25519 with
# signed attributes either. Ed25519 tokens are checked by `ts -reply` (parsing) and by
# `python_verify` below; the openssl verification runs as soon as openssl can do it.
ED25519_UNSUPPORTED = "not supported for this keytype"


@dataclass
class Tsa:
    root: Issued
    ca: Issued
    leaf: Issued
    authority: TimeStampAuthority
    dir: Path

    def respond_file(self, request: Path, name: str = "resp.tsr") -> Path:
        out = self.dir / name
        out.write_bytes(self.authority.respond(request.read_bytes()))
        return out


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)


def make_tsa(
    tmp_path: Path, key_type: KeyType = KeyType.EC_P256, config: TsaConfig | None = None
) -> Tsa:
    root, ca = make_pki(key_type)
    leaf = issue("Test TSA", ca, eku=[TIME_STAMPING], critical_eku=True, key_type=key_type)
    authority = TimeStampAuthority(
        leaf.signer,
        leaf.certificate,
        [ca.certificate],
        config or TsaConfig(),
        clock=lambda: FROZEN,
        serial=lambda: 0x1234_5678_9ABC,
    )
    root.write(tmp_path / "root.pem")
    ca.write(tmp_path / "chain.pem")
    (tmp_path / "data.txt").write_bytes(b"the licence, as issued\n")
    (tmp_path / "other.txt").write_bytes(b"the licence, as altered\n")
    return Tsa(root, ca, leaf, authority, tmp_path)


def query(tsa: Tsa, *options: str, name: str = "req.tsq") -> Path:
    out = tsa.dir / name
    done = openssl("ts", "-query", "-data", tsa.dir / "data.txt", *options, "-out", out)
    assert done.returncode == 0, done.stderr
    return out


def ts_verify(
    tsa: Tsa, response: Path, data: str = "data.txt", untrusted: str = "chain.pem"
) -> subprocess.CompletedProcess[str]:
    return openssl(
        "ts",
        "-verify",
        "-data",
        tsa.dir / data,
        "-in",
        response,
        "-CAfile",
        tsa.dir / "root.pem",
        "-untrusted",
        tsa.dir / untrusted,
    )


class TimeStampResp(core.Sequence):  # type: ignore[misc]
    """RFC 3161 §2.4.2; asn1crypto's tsp.TimeStampResp wrongly requires timeStampToken."""

    _fields = [  # noqa: RUF012 (asn1crypto schema convention)
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def load(response: bytes) -> Any:
    return TimeStampResp.load(response, strict=True)


def signed_data(response: bytes) -> cms.SignedData:
    return load(response)["time_stamp_token"]["content"]


def tst_info(response: bytes) -> tsp.TSTInfo:
    return signed_data(response)["encap_content_info"]["content"].parsed


def python_verify(response: bytes, data: bytes, tsa: Tsa) -> None:
    """A second verifier (asn1crypto + cryptography) that also covers Ed25519."""
    content = signed_data(response)
    signer = content["signer_infos"][0]
    econtent = content["encap_content_info"]["content"].contents
    digest = signer["digest_algorithm"]["algorithm"].native
    attrs = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    assert attrs["content_type"].native == "tst_info"
    assert attrs["message_digest"].native == hashlib.new(digest, econtent).digest()
    cert_der = tsa.leaf.certificate.public_bytes(Encoding.DER)
    ess = attrs["signing_certificate_v2"]["certs"][0]
    assert ess["cert_hash"].native == hashlib.sha256(cert_der).digest()
    imprint = tsp.TSTInfo.load(econtent)["message_imprint"]["hashed_message"].native
    assert imprint == hashlib.sha256(data).digest()
    signed = b"\x31" + signer["signed_attrs"].dump()[1:]  # [0] IMPLICIT -> SET OF (RFC 5652 §5.4)
    verify_signature(tsa.leaf.certificate.public_key(), signer["signature"].native, signed)


def rejection(response: bytes) -> set[str]:
    status = load(response)["status"]
    assert status["status"].native == "rejection"
    assert load(response)["time_stamp_token"].native is None
    return set(status["fail_info"].native)


def write(tmp_path: Path, data: bytes) -> Path:
    (tmp_path / "out.tsr").write_bytes(data)
    return tmp_path / "out.tsr"


def flip_signature(response: bytes) -> bytes:
    signature = signed_data(response)["signer_infos"][0]["signature"].native
    at = response.index(signature) + len(signature) - 1
    return response[:at] + bytes([response[at] ^ 0x01]) + response[at + 1 :]


@pytest.mark.parametrize("key_type", KEY_TYPES)
@pytest.mark.parametrize("nonce", ["", "-no_nonce"])
def test_openssl_reads_and_verifies_token(tmp_path: Path, key_type: KeyType, nonce: str) -> None:
    tsa = make_tsa(tmp_path, key_type)
    request = query(tsa, "-sha256", "-cert", *filter(None, [nonce]))
    response = tsa.respond_file(request)
    text = openssl("ts", "-reply", "-in", response, "-text")
    assert text.returncode == 0, text.stderr
    assert "Status: Granted." in text.stdout
    assert f"Policy OID: {PLACEHOLDER_POLICY_OID}" in text.stdout
    assert "Time stamp: Nov 27 09:30:15 2026 GMT" in text.stdout
    assert "TSA: DirName:/C=CN/O=govtrust test/CN=Test TSA" in text.stdout
    asked = re.search(r"Nonce: (\S+)", openssl("ts", "-query", "-in", request, "-text").stdout)
    assert asked is not None
    assert f"Nonce: {asked[1]}" in text.stdout
    assert (asked[1] == "unspecified") is (nonce == "-no_nonce")
    python_verify(response.read_bytes(), b"the licence, as issued\n", tsa)
    result = ts_verify(tsa, response)
    if key_type is KeyType.ED25519 and ED25519_UNSUPPORTED in result.stderr:
        pytest.skip("openssl 3.0 `ts -verify` (PKCS7 code) cannot verify Ed25519 signatures")
    assert "Verification: OK" in result.stdout, result.stderr


@pytest.mark.parametrize("key_type", [KeyType.EC_P256, KeyType.RSA_2048])
def test_openssl_refuses_other_data_and_flipped_signature(
    tmp_path: Path, key_type: KeyType
) -> None:
    tsa = make_tsa(tmp_path, key_type)
    response = tsa.respond_file(query(tsa, "-sha256", "-cert"))
    assert "Verification: OK" in ts_verify(tsa, response).stdout
    assert "Verification: FAILED" in ts_verify(tsa, response, data="other.txt").stdout
    flipped = tsa.dir / "flipped.tsr"
    flipped.write_bytes(flip_signature(response.read_bytes()))
    assert "Verification: FAILED" in ts_verify(tsa, flipped).stdout


def test_ed25519_other_data_and_flipped_signature_fail(tmp_path: Path) -> None:
    tsa = make_tsa(tmp_path, KeyType.ED25519)
    response = tsa.respond_file(query(tsa, "-sha256", "-cert")).read_bytes()
    python_verify(response, b"the licence, as issued\n", tsa)
    with pytest.raises(AssertionError):
        python_verify(response, b"the licence, as altered\n", tsa)
    with pytest.raises(InvalidSignature):
        python_verify(flip_signature(response), b"the licence, as issued\n", tsa)


def test_cms_structure(tmp_path: Path) -> None:
    tsa = make_tsa(tmp_path)
    response = tsa.respond_file(query(tsa, "-sha256", "-cert")).read_bytes()
    content = signed_data(response)
    assert content["version"].native == "v3"
    signer = content["signer_infos"][0]
    assert signer["version"].native == "v1"
    assert signer["sid"].name == "issuer_and_serial_number"
    assert signer["sid"].chosen["serial_number"].native == tsa.leaf.certificate.serial_number
    assert signer["digest_algorithm"].dump().hex() == "300b0609608648016503040201"  # no NULL
    assert signer["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    assert [a["type"].native for a in signer["signed_attrs"]] == [
        "content_type",
        "message_digest",
        "signing_certificate_v2",
    ]
    ess = next(a for a in signer["signed_attrs"] if a["type"].native == "signing_certificate_v2")
    # RFC 5816 §2.2.1: sha256 is the default hashAlgorithm, so it is left out: the
    # ESSCertIDv2 is SEQUENCE { OCTET STRING (32) } and nothing else.
    assert ess["values"][0]["certs"][0].dump()[:4] == bytes.fromhex("30220420")
    (tmp_path / "ed").mkdir()
    ed_tsa = make_tsa(tmp_path / "ed", KeyType.ED25519)
    ed_response = ed_tsa.respond_file(query(ed_tsa, "-sha256")).read_bytes()
    ed_signer = signed_data(ed_response)["signer_infos"][0]
    # RFC 8419 §3.1: with Ed25519 the digestAlgorithm MUST be id-sha512, parameters absent.
    assert ed_signer["digest_algorithm"].dump().hex() == "300b0609608648016503040203"
    assert ed_signer["signature_algorithm"]["algorithm"].native == "ed25519"


def test_tst_info_fields(tmp_path: Path) -> None:
    tsa = make_tsa(tmp_path)
    request = query(tsa, "-sha384")
    response = tsa.respond_file(request).read_bytes()
    asked = tsp.TimeStampReq.load(request.read_bytes())
    info = tst_info(response)
    assert info["version"].native == "v1"
    assert info["policy"].dotted == PLACEHOLDER_POLICY_OID
    assert info["message_imprint"].dump() == asked["message_imprint"].dump()
    assert info["serial_number"].native == 0x1234_5678_9ABC
    assert info["gen_time"].native == FROZEN_UTC
    assert info["gen_time"].contents == b"20261127093015Z"
    assert info["accuracy"].native == {"seconds": 1, "millis": None, "micros": None}
    assert info["ordering"].native is False
    assert info["nonce"].native == asked["nonce"].native
    assert info["tsa"].name == "directory_name"
    subject = asn1_x509.Name.load(tsa.leaf.certificate.subject.public_bytes())
    assert info["tsa"].chosen.native == subject.native
    assert info["extensions"].native is None


def test_certificates_only_on_cert_req(tmp_path: Path) -> None:
    tsa = make_tsa(tmp_path)
    with_certs = signed_data(tsa.respond_file(query(tsa, "-sha256", "-cert")).read_bytes())
    included = {c.chosen.dump() for c in with_certs["certificates"]}
    assert included == {x.certificate.public_bytes(Encoding.DER) for x in (tsa.leaf, tsa.ca)}
    bare_file = tsa.respond_file(query(tsa, "-sha256", name="nocert.tsq"), "nocert.tsr")
    assert not signed_data(bare_file.read_bytes())["certificates"].native
    # Without the certificate in the token, openssl needs it from -untrusted.
    assert "Verification: FAILED" in ts_verify(tsa, bare_file).stdout
    both = tsa.dir / "both.pem"
    both.write_bytes(tsa.leaf.pem() + tsa.ca.pem())
    assert "Verification: OK" in ts_verify(tsa, bare_file, untrusted="both.pem").stdout


@pytest.mark.parametrize(
    ("options", "config", "granted"),
    [
        (["-sha1"], TsaConfig(), False),
        (["-sha512"], TsaConfig(), True),
        (["-sha384"], TsaConfig(accepted_hashes=frozenset({"sha256"})), False),
        (["-sha256"], TsaConfig(accepted_hashes=frozenset({"sha256"})), True),
    ],
)
def test_hash_algorithm(
    tmp_path: Path, options: list[str], config: TsaConfig, granted: bool
) -> None:
    tsa = make_tsa(tmp_path, config=config)
    response = tsa.authority.respond(query(tsa, *options).read_bytes())
    if granted:
        assert load(response)["status"]["status"].native == "granted"
    else:
        assert rejection(response) == {"bad_alg"}


def request_der(**changes: object) -> bytes:
    fields: dict[str, object] = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": {"algorithm": "sha256"},
            "hashed_message": hashlib.sha256(b"x").digest(),
        },
        "cert_req": True,
    }
    fields.update(changes)
    return bytes(tsp.TimeStampReq(fields).dump())


def test_hand_built_request_is_granted(tmp_path: Path) -> None:
    # The control for the malformed requests below: the same builder, unchanged.
    response = make_tsa(tmp_path).authority.respond(request_der())
    assert load(response)["status"]["status"].native == "granted"


@pytest.mark.parametrize(
    ("request_bytes", "fail_info"),
    [
        (b"", "bad_data_format"),
        (b"\x00garbage\xff" * 8, "bad_data_format"),
        (request_der()[:-3], "bad_data_format"),
        (request_der() + b"\x00", "bad_data_format"),
        # the hash algorithm OID re-tagged as an OCTET STRING: only a deep parse sees it
        (request_der().replace(bytes.fromhex("0609"), bytes.fromhex("0409"), 1), "bad_data_format"),
        (request_der(version=2), "bad_request"),
        (
            request_der(
                message_imprint={
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": b"\x00" * 20,
                }
            ),
            "bad_alg",
        ),
        (request_der(req_policy="1.2.3.4"), "unaccepted_policy"),
        (
            request_der(extensions=[{"extn_id": "1.2.3.5", "extn_value": b"\x05\x00"}]),
            "unaccepted_extensions",
        ),
    ],
    ids=[
        "empty",
        "garbage",
        "truncated",
        "trailing-byte",
        "inner-tag",
        "version-2",
        "short-digest",
        "foreign-policy",
        "extensions",
    ],
)
def test_rejections(tmp_path: Path, request_bytes: bytes, fail_info: str) -> None:
    response = make_tsa(tmp_path).authority.respond(request_bytes)
    assert rejection(response) == {fail_info}
    assert openssl("ts", "-reply", "-in", write(tmp_path, response), "-text").returncode == 0


def test_req_policy_via_openssl(tmp_path: Path) -> None:
    tsa = make_tsa(tmp_path)
    ours = tsa.respond_file(query(tsa, "-sha256", "-tspolicy", PLACEHOLDER_POLICY_OID))
    assert "Status: Granted." in openssl("ts", "-reply", "-in", ours, "-text").stdout
    unknown = tsa.authority.respond(query(tsa, "-sha256", "-tspolicy", "1.2.3.4.5").read_bytes())
    assert rejection(unknown) == {"unaccepted_policy"}
    text = openssl("ts", "-reply", "-in", write(tmp_path, unknown), "-text").stdout
    assert "Status: Rejected." in text
    assert "Failure info: the requested TSA policy is not supported" in text


class BrokenSigner:
    def __init__(self, inner: object) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def sign(self, data: bytes) -> bytes:
        raise RuntimeError("HSM unplugged")


def test_signer_failure_is_system_failure(tmp_path: Path) -> None:
    tsa = make_tsa(tmp_path)
    broken = TimeStampAuthority(
        BrokenSigner(tsa.leaf.signer),  # type: ignore[arg-type]
        tsa.leaf.certificate,
        [],
        TsaConfig(),
        clock=lambda: FROZEN,
    )
    assert rejection(broken.respond(request_der())) == {"system_failure"}
    naive = TimeStampAuthority(
        tsa.leaf.signer,
        tsa.leaf.certificate,
        [],
        TsaConfig(),
        clock=lambda: dt.datetime(2026, 1, 1),
    )
    assert rejection(naive.respond(request_der())) == {"system_failure"}


def test_default_serials_are_random_and_positive(tmp_path: Path) -> None:
    tsa = make_tsa(tmp_path)
    authority = TimeStampAuthority(
        tsa.leaf.signer, tsa.leaf.certificate, [], TsaConfig(), clock=lambda: FROZEN
    )
    serials = {tst_info(authority.respond(request_der()))["serial_number"].native for _ in range(8)}
    assert len(serials) == 8
    assert all(0 < s < 2**127 for s in serials)


@pytest.mark.parametrize(
    ("eku", "critical", "message"),
    [
        (None, False, "no extendedKeyUsage"),
        ([TIME_STAMPING], False, "must be critical"),
        ([TIME_STAMPING, ExtendedKeyUsageOID.SERVER_AUTH], True, "id-kp-timeStamping only"),
        ([ExtendedKeyUsageOID.CODE_SIGNING], True, "id-kp-timeStamping only"),
    ],
)
def test_unfit_tsa_certificate_is_refused(
    eku: list[object] | None, critical: bool, message: str
) -> None:
    _, ca = make_pki()
    leaf = issue("Not a TSA", ca, eku=eku, critical_eku=critical)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        check_tsa_certificate(leaf.certificate)
    with pytest.raises(ValueError, match=message):
        TimeStampAuthority(leaf.signer, leaf.certificate, [], TsaConfig(), clock=lambda: FROZEN)


def test_fit_certificate_with_foreign_key_is_refused() -> None:
    _, ca = make_pki()
    leaf = issue("TSA", ca, eku=[TIME_STAMPING], critical_eku=True)
    check_tsa_certificate(leaf.certificate)
    other = issue("TSA", ca, eku=[TIME_STAMPING], critical_eku=True)
    with pytest.raises(ValueError, match="not the TSA certificate's key"):
        TimeStampAuthority(other.signer, leaf.certificate, [], TsaConfig(), clock=lambda: FROZEN)
