"""Blind index and AES-256-GCM protection of identifiers."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from core.identifiers.errors import IdentifierDecryptionError
from core.identifiers.protection import IdentifierProtector

RID = "11010519491231002X"
USCC = "91350100M000100Y43"
INDEX_KEY = bytes(range(32))
OLD_KEY = b"\x01" * 32
NEW_KEY = b"\x02" * 32
SECRET = b"s" * 32


@pytest.fixture
def protector() -> IdentifierProtector:
    return IdentifierProtector(INDEX_KEY, {1: OLD_KEY}, current_key_id=1)


def test_round_trip(protector: IdentifierProtector) -> None:
    blob = protector.encrypt("resident_id", RID)
    assert protector.decrypt("resident_id", blob) == RID
    assert RID.encode() not in blob


def test_blob_layout(protector: IdentifierProtector) -> None:
    blob = protector.encrypt("uscc", USCC)
    assert blob[0] == 1 and blob[1] == 1
    assert len(blob) == 2 + 12 + len(USCC) + 16


@settings(max_examples=50)
@given(st.sampled_from(["resident_id", "uscc", "other"]), st.text(max_size=64))
def test_round_trip_property(kind: str, value: str) -> None:
    p = IdentifierProtector(INDEX_KEY, {1: OLD_KEY}, current_key_id=1)
    assert p.decrypt(kind, p.encrypt(kind, value)) == value


def test_ciphertext_differs_each_time(protector: IdentifierProtector) -> None:
    blobs = {protector.encrypt("resident_id", RID) for _ in range(20)}
    assert len(blobs) == 20
    assert len({b[2:14] for b in blobs}) == 20  # fresh nonces


def test_blind_index_stable_and_matches_definition(protector: IdentifierProtector) -> None:
    index = protector.blind_index("resident_id", RID)
    assert index == protector.blind_index("resident_id", RID)
    expected = hmac.new(INDEX_KEY, b"resident_id\x00" + RID.encode(), hashlib.sha256).hexdigest()
    assert index == expected
    assert len(index) == 64 and RID not in index


def test_blind_index_differs_by_kind_value_and_key(protector: IdentifierProtector) -> None:
    base = protector.blind_index("resident_id", USCC)
    assert base != protector.blind_index("uscc", USCC)
    assert base != protector.blind_index("resident_id", RID)
    other = IdentifierProtector(b"\x09" * 32, {1: OLD_KEY}, current_key_id=1)
    assert base != other.blind_index("resident_id", USCC)


@pytest.mark.parametrize("kind", ["", "a\x00b"])
def test_kind_must_be_clean(protector: IdentifierProtector, kind: str) -> None:
    with pytest.raises(ValueError):
        protector.blind_index(kind, RID)
    with pytest.raises(ValueError):
        protector.encrypt(kind, RID)


def test_every_tampered_byte_is_rejected(protector: IdentifierProtector) -> None:
    blob = protector.encrypt("resident_id", RID)
    for i in range(len(blob)):
        tampered = bytearray(blob)
        tampered[i] ^= 0x01
        with pytest.raises(IdentifierDecryptionError):
            protector.decrypt("resident_id", bytes(tampered))


def test_truncated_and_extended_blobs_are_rejected(protector: IdentifierProtector) -> None:
    blob = protector.encrypt("resident_id", RID)
    for bad in (b"", blob[:2], blob[:29], blob[:-1], blob + b"\x00"):
        with pytest.raises(IdentifierDecryptionError):
            protector.decrypt("resident_id", bad)


def test_wrong_kind_is_rejected(protector: IdentifierProtector) -> None:
    blob = protector.encrypt("resident_id", RID)
    with pytest.raises(IdentifierDecryptionError):
        protector.decrypt("uscc", blob)


def test_unknown_version_and_key_id(protector: IdentifierProtector) -> None:
    blob = protector.encrypt("resident_id", RID)
    with pytest.raises(IdentifierDecryptionError, match="version"):
        protector.decrypt("resident_id", b"\x03" + blob[1:])
    with pytest.raises(IdentifierDecryptionError, match="key"):
        protector.decrypt("resident_id", blob[:1] + b"\x07" + blob[2:])
    with pytest.raises(IdentifierDecryptionError):
        protector.needs_reencryption(b"\x03" + blob[1:])


def test_key_id_is_authenticated() -> None:
    # Same key under two ids: relabelling the key id must still fail (AAD binds it).
    p = IdentifierProtector(INDEX_KEY, {1: OLD_KEY, 2: OLD_KEY}, current_key_id=1)
    blob = p.encrypt("resident_id", RID)
    with pytest.raises(IdentifierDecryptionError):
        p.decrypt("resident_id", blob[:1] + b"\x02" + blob[2:])


def test_rotation() -> None:
    old = IdentifierProtector(INDEX_KEY, {1: OLD_KEY}, current_key_id=1)
    old_blob = old.encrypt("resident_id", RID)
    assert not old.needs_reencryption(old_blob)

    rotated = IdentifierProtector(INDEX_KEY, {1: OLD_KEY, 2: NEW_KEY}, current_key_id=2)
    assert rotated.decrypt("resident_id", old_blob) == RID
    assert rotated.needs_reencryption(old_blob)
    new_blob = rotated.encrypt("resident_id", RID)
    assert new_blob[1] == 2
    assert not rotated.needs_reencryption(new_blob)
    with pytest.raises(IdentifierDecryptionError):
        old.decrypt("resident_id", new_blob)  # old deployment lacks key 2


def test_from_secret_matches_hkdf_labels() -> None:
    p = IdentifierProtector.from_secret(SECRET)

    def hkdf(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(SECRET)

    index_key = hkdf(b"govtrust identifier blind index v1")
    enc_key = hkdf(b"govtrust identifier encryption v1")
    assert index_key != enc_key
    expected = IdentifierProtector(index_key, {1: enc_key}, current_key_id=1)
    assert p.current_key_id == 1
    assert p.blind_index("uscc", USCC) == expected.blind_index("uscc", USCC)
    assert expected.decrypt("uscc", p.encrypt("uscc", USCC)) == USCC
    assert p.blind_index("uscc", USCC) != IdentifierProtector.from_secret(b"t" * 32).blind_index(
        "uscc", USCC
    )


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_refuses_keys_that_are_not_32_bytes(length: int) -> None:
    with pytest.raises(ValueError):
        IdentifierProtector(b"k" * length, {1: OLD_KEY}, current_key_id=1)
    with pytest.raises(ValueError):
        IdentifierProtector(INDEX_KEY, {1: b"k" * length}, current_key_id=1)


def test_refuses_bad_key_ids_and_short_secret() -> None:
    with pytest.raises(ValueError):
        IdentifierProtector(INDEX_KEY, {256: OLD_KEY}, current_key_id=256)
    with pytest.raises(ValueError):
        IdentifierProtector(INDEX_KEY, {-1: OLD_KEY}, current_key_id=-1)
    with pytest.raises(ValueError):
        IdentifierProtector(INDEX_KEY, {1: OLD_KEY}, current_key_id=2)
    with pytest.raises(ValueError):
        IdentifierProtector.from_secret(b"short")


def test_repr_hides_keys(protector: IdentifierProtector) -> None:
    text = repr(protector)
    assert OLD_KEY.hex() not in text and INDEX_KEY.hex() not in text
    assert "\\x01" not in text and "current_key_id=1" in text
