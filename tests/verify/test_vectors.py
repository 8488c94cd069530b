"""The test vectors of ``verify/testdata/`` (EU DCC style: the payload at each stage and the
expected flags), checked against the context they ship with: ``context.json`` (ES256), or
the one a case names in ``TESTCTX.CONTEXT`` (``context-sm2.json`` for the SM2 cases). Another
implementation of the format can run the same files."""

from __future__ import annotations

import base64
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from PIL import Image

from verify.base45 import b45decode
from verify.cose import decode_sign1
from verify.qr_image import decode_image
from verify.status_list import read_status_list
from verify.status_sources import StatusListStatus
from verify.trust_list import read_trust_list
from verify.verdict import Check
from verify.verifier import verify_qr_text

TESTDATA = Path(__file__).resolve().parents[2] / "verify" / "testdata"
CASES = sorted(path for path in TESTDATA.glob("*.json") if not path.name.startswith("context"))
DEFAULT_CONTEXT = "context.json"
FLAGS = {
    "EXPECTEDDECODE": Check.DECODE,
    "EXPECTEDVERIFY": Check.SIGNATURE,
    "EXPECTEDEXPIRATIONCHECK": Check.EXPIRY,
    "EXPECTEDSTATUS": Check.STATUS,
}


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _context(name: str) -> dict[str, Any]:
    data = _load(TESTDATA / name)
    trust = read_trust_list(
        data["TRUST_LIST"], x509.load_pem_x509_certificate(data["ROOT_PEM"].encode())
    )
    lists = {
        uri: read_status_list(token, trust.jws_keys())
        for uri, token in data["STATUS_LISTS"].items()
    }
    return {
        "trust": trust,
        "status": StatusListStatus(lists),
        "clock": datetime.fromisoformat(data["VALIDATIONCLOCK"]),
        "skew": timedelta(seconds=data["SKEW_SECONDS"]),
    }


@pytest.fixture(scope="module")
def contexts() -> dict[str, dict[str, Any]]:
    names = {_load(path)["TESTCTX"].get("CONTEXT", DEFAULT_CONTEXT) for path in CASES}
    return {name: _context(name) for name in names | {DEFAULT_CONTEXT}}


def test_there_is_a_case_of_every_kind() -> None:
    verdicts = {_load(path)["EXPECTEDRESULTS"]["EXPECTEDVERDICT"] for path in CASES}
    assert verdicts == {
        "valid",
        "expired",
        "not_yet_valid",
        "revoked",
        "suspended",
        "superseded",
        "unreadable",
        "not_genuine",
    }


def test_the_sm2_cases_are_signed_with_sm2_and_fail_under_the_es256_context(
    contexts: dict[str, dict[str, Any]],
) -> None:
    """The SM2 cases are marked as SM2 (COSE alg -65600) and depend on their own context: the
    ES256 trust list does not vouch for them."""
    sm2_cases = [path for path in CASES if _load(path)["TESTCTX"].get("CONTEXT")]
    assert [path.stem for path in sm2_cases] == ["19-sm2-valid-electronic", "20-sm2-bad-signature"]
    for path in sm2_cases:
        case = _load(path)
        assert decode_sign1(bytes.fromhex(case["COSE"])).algorithm == -65600
        es256 = contexts[DEFAULT_CONTEXT]
        result = verify_qr_text(
            case["QR_TEXT"], es256["trust"], es256["status"], es256["clock"], es256["skew"]
        )
        assert result.verdict.value == "not_genuine"
    assert {key.algorithm for key in contexts["context-sm2.json"]["trust"].keys} == {"SM2SM3"}


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_vector(path: Path, contexts: dict[str, dict[str, Any]]) -> None:
    case = _load(path)
    context = contexts[case["TESTCTX"].get("CONTEXT", DEFAULT_CONTEXT)]
    expected = case["EXPECTEDRESULTS"]
    texts = [case["QR_TEXT"]] if "QR_TEXT" in case else []
    if "IMAGE_PNG" in case:
        with Image.open(io.BytesIO(base64.b64decode(case["IMAGE_PNG"]))) as image:
            decoded = decode_image(image)
        assert decoded == texts, "the image holds the case's QR text"
        if not decoded:
            assert expected["EXPECTEDDECODE"] is False
            return
    if "BASE45" in case:  # the stages agree with each other
        assert case["PREFIX"] == "GT1:" + case["BASE45"]
        assert b45decode(case["BASE45"]).hex() == case["COSE"]
        if "CBOR" in case:
            assert decode_sign1(bytes.fromhex(case["COSE"])).payload.hex() == case["CBOR"]
    result = verify_qr_text(
        texts[0], context["trust"], context["status"], context["clock"], context["skew"]
    )
    assert result.verdict.value == expected["EXPECTEDVERDICT"], result.reasons
    for flag, check in FLAGS.items():
        assert result.checks.get(check) == expected[flag], (flag, result.checks)
