"""The trust bundle: what a relying party installs to verify offline.

Certificates of the root and issuing CAs and of the published signing keys (licence
signing, timestamps), the token-signing JWKS, and the audit log's checkpoint verifier keys
and tree hash. Served at ``/pki/trust`` and written by ``govtrust keys export-trust``.

With the SM2 hierarchy on (``GOVTRUST_SM2_ENABLED``), its root and CAs and the SM2
licence-signing certificates (GM/T 0015-2012 certificates, SM2-with-SM3 per GM/T 0006-2012
``1.2.156.10197.1.501``) are published beside the others, so that a verifier in the national
algorithms pins ``sm2-root`` (written as ``sm2-root.pem``) and builds the chain
sm2-licence -> sm2-service-ca -> sm2-root from the bundle alone (RFC 5280 §6.1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from core.audit.checkpoint import DEFAULT_HASH, NoteSigner, verifier_key
from keys.registry import KeyInfo, KeyRegistry

CERTIFIED_PURPOSES = ("root", "seal-ca", "service-ca", "licence", "tsa")
#: Published when the registry keeps the SM2 hierarchy: trust anchor first, as above.
SM2_CERTIFIED_PURPOSES = ("sm2-root", "sm2-seal-ca", "sm2-service-ca", "sm2-licence")
#: File names of the trust anchors in an exported bundle; other certificates are <kid>.pem.
ANCHOR_FILES = {"root": "root.pem", "sm2-root": "sm2-root.pem"}


def _pem(key: KeyInfo) -> str:
    assert key.certificate is not None
    return key.certificate.public_bytes(Encoding.PEM).decode()


def published_purposes(registry: KeyRegistry) -> tuple[str, ...]:
    """The certified purposes in the bundle: the SM2 ones only when the hierarchy is on."""
    if registry.sm2_enabled:
        return CERTIFIED_PURPOSES + SM2_CERTIFIED_PURPOSES
    return CERTIFIED_PURPOSES


def trust_bundle(
    registry: KeyRegistry, audit_signer: NoteSigner, audit_hash: str = DEFAULT_HASH
) -> dict[str, Any]:
    """The bundle; ``audit_hash`` is the audit log's tree hash (SHA-256 or SM3)."""
    certificates = [
        {
            "kid": key.kid,
            "purpose": key.purpose,
            "state": key.state,
            "not_before": key.certificate.not_valid_before_utc,
            "not_after": key.certificate.not_valid_after_utc,
            "pem": _pem(key),
        }
        for purpose in published_purposes(registry)
        for key in registry.published(purpose)
        if key.certificate is not None
    ]
    return {
        "issuer": registry.urls.base,
        "generated_at": registry.clock(),
        "certificates": certificates,
        "jwks": {"keys": [key.public_jwk() for key in registry.published("token")]},
        "audit_log": {
            "origin": audit_signer.name,
            "verifier_keys": [
                verifier_key(audit_signer.name, key) for key in audit_signer.verifier_keys()
            ],
            "hash_algorithm": audit_hash,
        },
    }


def export_trust(
    registry: KeyRegistry,
    audit_signer: NoteSigner,
    directory: Path,
    audit_hash: str = DEFAULT_HASH,
) -> list[Path]:
    """Write root.pem (and sm2-root.pem with the SM2 hierarchy), one PEM per other
    certificate, jwks.json, audit.vkey, trust.json."""
    directory.mkdir(parents=True, exist_ok=True)
    bundle = trust_bundle(registry, audit_signer, audit_hash)
    written: list[Path] = []
    for entry in bundle["certificates"]:
        name = ANCHOR_FILES.get(entry["purpose"], f"{entry['kid']}.pem")
        path = directory / name
        path.write_text(entry["pem"], encoding="ascii")
        written.append(path)
    files = {
        "jwks.json": json.dumps(bundle["jwks"], indent=2),
        "audit.vkey": "".join(line + "\n" for line in bundle["audit_log"]["verifier_keys"]),
        "trust.json": json.dumps(bundle, indent=2, default=str),
    }
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
