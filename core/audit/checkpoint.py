"""Signed checkpoints of the audit log, in the C2SP ``tlog-checkpoint`` / ``signed-note`` form.

A checkpoint commits to the tree size and root hash (RFC 9162 §4.10 signed tree head, in the
text encoding used by transparency-dev logs)::

    <origin>
    <tree size>
    <base64 root hash>
    time <unix seconds>
    hash <tree hash algorithm: SHA-256 or SM3>
    <blank line>
    — <key name> <base64(4-byte key id || Ed25519 signature)>

The ``hash`` extension line names the log's tree hash (RFC 9162 §4.1 log parameter; SHA-256
per RFC 6962 §2.1, or SM3 per GB/T 32905-2016), so the signature covers it and no verifier can
recompute the root with the wrong function by mistake. Checkpoints signed before the line
existed have none and mean SHA-256.

The key id is the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || public key)
(C2SP signed-note, Ed25519 algorithm byte 0x01).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

_ED25519 = b"\x01"
_SIGNATURE_PREFIX = "\u2014 "
_HASH_PREFIX = "hash "
DEFAULT_HASH = "SHA-256"
"""What a checkpoint without a ``hash`` line commits to (RFC 6962 §2.1)."""


class CheckpointError(ValueError):
    """A checkpoint that does not parse or whose signature does not verify."""


class NoteSigner(Protocol):
    """Signs checkpoint bodies with an Ed25519 key (``keys/`` backs it with the audit key)."""

    @property
    def name(self) -> str: ...

    def sign(self, message: bytes) -> tuple[bytes, bytes]:
        """(raw public key, signature), from the same key even across a rotation."""
        ...

    def verifier_keys(self) -> list[bytes]:
        """Every public key whose checkpoints are accepted: current and retired."""
        ...


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The signed-note verifier key string: ``name+hex key id+base64(alg || key)``."""
    encoded = base64.b64encode(_ED25519 + public_key).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


class Ed25519NoteSigner:
    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not name or any(c.isspace() or c == "+" for c in name):
            raise ValueError("a note key name has no spaces and no '+'")
        self._name = name
        self._key = private_key

    @property
    def name(self) -> str:
        return self._name

    @property
    def public_key(self) -> bytes:
        return self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(self, message: bytes) -> tuple[bytes, bytes]:
        return self.public_key, self._key.sign(message)

    def verifier_keys(self) -> list[bytes]:
        return [self.public_key]


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes
    timestamp: datetime
    hash_algorithm: str = DEFAULT_HASH

    def body(self) -> bytes:
        if not self.hash_algorithm or any(c.isspace() for c in self.hash_algorithm):
            raise ValueError("a tree hash name is one word")
        root = base64.b64encode(self.root_hash).decode()
        seconds = int(self.timestamp.timestamp())
        return (
            f"{self.origin}\n{self.tree_size}\n{root}\ntime {seconds}\n"
            f"{_HASH_PREFIX}{self.hash_algorithm}\n"
        ).encode()


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    body = checkpoint.body()
    public_key, raw_signature = signer.sign(body)
    signature = key_id(signer.name, public_key) + raw_signature
    line = f"{_SIGNATURE_PREFIX}{signer.name} {base64.b64encode(signature).decode()}\n"
    return body.decode() + "\n" + line


def open_checkpoint(note: str, name: str, public_keys: Sequence[bytes]) -> Checkpoint:
    """Parse a signed checkpoint and verify its signature by ``name`` under one of
    ``public_keys`` (the signature's key id says which)."""
    body_text, sep, signatures = note.partition("\n\n")
    if not sep:
        raise CheckpointError("no signature block")
    body = (body_text + "\n").encode()
    wanted = {key_id(name, key): key for key in public_keys}
    verified = False
    for line in signatures.splitlines():
        if not line.startswith(_SIGNATURE_PREFIX):
            raise CheckpointError("malformed signature line")
        signer_name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise CheckpointError("signature is not base64") from exc
        public_key = wanted.get(raw[:4])
        if signer_name != name or public_key is None:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(raw[4:], body)
        except InvalidSignature as exc:
            raise CheckpointError("checkpoint signature does not verify") from exc
        verified = True
    if not verified:
        raise CheckpointError(f"no signature by {name}")
    return _parse_body(body_text)


def _parse_body(body_text: str) -> Checkpoint:
    lines = body_text.split("\n")
    if len(lines) < 4 or not lines[3].startswith("time "):
        raise CheckpointError("malformed checkpoint body")
    hashes = [line[len(_HASH_PREFIX) :] for line in lines[4:] if line.startswith(_HASH_PREFIX)]
    if len(hashes) > 1 or any(not h or any(c.isspace() for c in h) for h in hashes):
        raise CheckpointError("malformed hash line in checkpoint")
    try:
        return Checkpoint(
            origin=lines[0],
            tree_size=int(lines[1]),
            root_hash=base64.b64decode(lines[2], validate=True),
            timestamp=datetime.fromtimestamp(int(lines[3][5:]), UTC),
            hash_algorithm=hashes[0] if hashes else DEFAULT_HASH,
        )
    except ValueError as exc:
        raise CheckpointError("malformed checkpoint body") from exc
