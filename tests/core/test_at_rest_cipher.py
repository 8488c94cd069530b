"""Data at rest under AES-256-GCM or SM4-GCM (GOVTRUST_AT_REST_CIPHER): identifiers and
wrapped private keys round-trip under either, each blob says which algorithm made it, a
deployment that switches still reads what it stored, tampering is caught, and the SM4-GCM
that Tongsuo produces is decrypted by an independent implementation (OpenSSL through
``cryptography``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import select

from core.aead import AtRestCipher, aead
from core.db.migrate import upgrade
from core.identifiers.errors import IdentifierDecryptionError
from core.identifiers.protection import IdentifierProtector
from core.services import build_services
from idp.identities.service import IdentityService
from idp.identities.storage import PersonRow
from keys.master import MasterKeyError, MasterKeys
from keys.storage import KeyRow
from tests.conftest import make_settings

SECRET = os.urandom(32)
RID = "11010519491231002X"
SM4, AES = AtRestCipher.SM4_GCM, AtRestCipher.AES_256_GCM


def test_sm4_gcm_is_standard_sm4_gcm() -> None:
    key, nonce = os.urandom(32), os.urandom(12)
    sealed = aead(SM4, key).encrypt(nonce, "公民身份号码".encode(), b"aad")
    decryptor = Cipher(algorithms.SM4(key[:16]), modes.GCM(nonce, sealed[-16:])).decryptor()
    decryptor.authenticate_additional_data(b"aad")
    assert (decryptor.update(sealed[:-16]) + decryptor.finalize()).decode() == "公民身份号码"
    with pytest.raises(InvalidTag):
        aead(SM4, key).decrypt(nonce, sealed, b"other")
    with pytest.raises(ValueError, match="32 bytes"):
        aead(AES, key[:16])


@pytest.mark.parametrize("cipher", list(AtRestCipher))
def test_identifiers_round_trip_and_say_their_cipher(cipher: AtRestCipher) -> None:
    protector = IdentifierProtector.from_secret(SECRET, cipher)
    blob = protector.encrypt("resident_id", RID)
    assert blob[0] == (2 if cipher is SM4 else 1)
    assert protector.decrypt("resident_id", blob) == RID
    assert not protector.needs_reencryption(blob)
    with pytest.raises(IdentifierDecryptionError):
        protector.decrypt("uscc", blob)
    with pytest.raises(IdentifierDecryptionError):
        protector.decrypt("resident_id", blob[:-1] + bytes([blob[-1] ^ 1]))


def test_switching_ciphers_keeps_old_identifiers_readable() -> None:
    before = IdentifierProtector.from_secret(SECRET, AES)
    after = IdentifierProtector.from_secret(SECRET, SM4)
    old = before.encrypt("resident_id", RID)
    assert after.decrypt("resident_id", old) == RID
    assert after.needs_reencryption(old)
    assert before.decrypt("resident_id", after.encrypt("resident_id", RID)) == RID
    # relabelling an AES blob as SM4 (or back) does not authenticate: the format is in the AAD
    with pytest.raises(IdentifierDecryptionError):
        after.decrypt("resident_id", b"\x02" + old[1:])


@pytest.mark.parametrize("cipher", list(AtRestCipher))
def test_private_keys_wrap_under_either(cipher: AtRestCipher) -> None:
    master = MasterKeys(os.urandom(32), (), cipher)
    wrapped = master.wrap("kid-1", b"PKCS#8 DER bytes")
    assert wrapped[:4] == (b"GTK2" if cipher is SM4 else b"GTK1")
    assert master.unwrap("kid-1", wrapped) == b"PKCS#8 DER bytes"
    with pytest.raises(MasterKeyError, match="does not authenticate"):
        master.unwrap("kid-2", wrapped)
    rotated = MasterKeys(os.urandom(32), (master.current,), AES)
    rewrapped = rotated.rewrap("kid-1", wrapped)
    assert rewrapped[:4] == wrapped[:4]  # a rewrap keeps the key's own algorithm
    assert rotated.unwrap("kid-1", rewrapped) == b"PKCS#8 DER bytes"
    assert not rotated.needs_rewrap(rewrapped)


def test_a_deployment_on_sm4_stores_everything_under_sm4(tmp_path: Path) -> None:
    services = build_services(make_settings(tmp_path, at_rest_cipher="SM4-GCM"))
    try:
        upgrade(services.engine)
        services.keys.init()
        ids = IdentityService(
            services.sessions, services.identifiers, services.audit, services.keys.clock
        )
        person = ids.register_person(RID, "张三", actor="t")
        with services.sessions() as session:
            stored = session.get(PersonRow, person.id)
            assert stored is not None
            assert stored.id_number_encrypted[0] == 2
            wrapped = [
                row.reference
                for row in session.scalars(select(KeyRow))
                if row.backend == "software"
            ]
        assert wrapped and all(blob[:4] == b"GTK2" for blob in wrapped)
        assert services.keys.signer("token").sign(b"x")  # the keys unwrap and sign
    finally:
        services.close()
