"""Compact JWS (RFC 7515 §7.1): each token's protected header names its own key and type,
also now that the plain header is encoded once per key and type, and verification takes
the algorithm from our key, never from the header (RFC 8725 §3.1)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from keys.algorithms import ECDSA_SHA256, KeyType, der_to_raw_ecdsa
from keys.jws import InvalidJws, b64url, b64url_decode, sign, unverified_header, verify


@dataclass
class Signer:
    kid: str
    key: ec.EllipticCurvePrivateKey
    key_type: KeyType = KeyType.EC_P256

    def sign_jws(self, data: bytes) -> bytes:
        return der_to_raw_ecdsa(self.key.sign(data, ECDSA_SHA256))


@pytest.fixture
def signers() -> tuple[Signer, Signer]:
    return (
        Signer("key-one", ec.generate_private_key(ec.SECP256R1())),
        Signer("key-two", ec.generate_private_key(ec.SECP256R1())),
    )


def test_each_token_names_its_own_key_and_type(signers: tuple[Signer, Signer]) -> None:
    one, two = signers
    keys = {one.kid: one.key.public_key(), two.kid: two.key.public_key()}
    for signer, typ in ((one, "JWT"), (two, "JWT"), (one, "at+jwt"), (two, "at+jwt"), (one, "JWT")):
        token = sign({"sub": "s", "n": 1}, signer, typ=typ)
        assert unverified_header(token) == {"alg": "ES256", "kid": signer.kid, "typ": typ}
        assert verify(token, keys, typ=typ) == {"sub": "s", "n": 1}


def test_an_extra_header_is_in_that_token_only(signers: tuple[Signer, Signer]) -> None:
    one, _ = signers
    with_extra = sign({"a": 1}, one, typ="JWT", extra_header={"x5t#S256": "abc"})
    plain = sign({"a": 1}, one, typ="JWT")
    assert unverified_header(with_extra) == {
        "alg": "ES256",
        "kid": one.kid,
        "typ": "JWT",
        "x5t#S256": "abc",
    }
    assert unverified_header(plain) == {"alg": "ES256", "kid": one.kid, "typ": "JWT"}
    assert verify(with_extra, {one.kid: one.key.public_key()}) == {"a": 1}


def test_a_token_of_another_key_type_or_tampered_is_refused(
    signers: tuple[Signer, Signer],
) -> None:
    one, two = signers
    token = sign({"a": 1}, one, typ="at+jwt")
    with pytest.raises(InvalidJws, match="unknown signing key"):
        verify(token, {two.kid: two.key.public_key()})
    with pytest.raises(InvalidJws, match="unexpected token type"):
        verify(token, {one.kid: one.key.public_key()}, typ="JWT")
    head, payload, signature = token.split(".")
    forged = b64url(json.dumps({"a": 2}).encode())
    with pytest.raises(InvalidJws, match="does not verify"):
        verify(f"{head}.{forged}.{signature}", {one.kid: one.key.public_key()})
    none_header = b64url(json.dumps({"alg": "none", "kid": one.kid}).encode())
    with pytest.raises(InvalidJws, match="unexpected algorithm"):
        verify(f"{none_header}.{payload}.", {one.kid: one.key.public_key()})
    assert len(b64url_decode(signature)) == 64  # r || s (RFC 7518 §3.4)
