"""The audit trail's checkpoint signer, backed by the registry's ``audit`` keys (Ed25519)."""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from keys.registry import KeyRegistry, KeyStateError


class RegistryNoteSigner:
    """Signs with the active audit key; accepts checkpoints of every audit key ever made
    (retired audit keys stay published: checkpoints are kept for good)."""

    def __init__(self, name: str) -> None:
        if not name or any(c.isspace() or c == "+" for c in name):
            raise ValueError("a note key name has no spaces and no '+'")
        self._name = name
        self._registry: KeyRegistry | None = None

    def attach(self, registry: KeyRegistry) -> None:
        self._registry = registry

    @property
    def registry(self) -> KeyRegistry:
        if self._registry is None:
            raise KeyStateError("the checkpoint signer has no key registry")
        return self._registry

    @property
    def name(self) -> str:
        return self._name

    def sign(self, message: bytes) -> tuple[bytes, bytes]:
        signer = self.registry.signer("audit")
        raw = signer.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return raw, signer.sign(message)

    def verifier_keys(self) -> list[bytes]:
        keys = sorted(self.registry.list_keys("audit"), key=lambda key: key.state != "active")
        return [key.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw) for key in keys]
