"""The trust bundle: what a relying party installs to verify offline.

Certificates of the root and issuing CAs and of the published signing keys (licence
signing, timestamps), the token-signing JWKS, and the audit log's checkpoint verifier keys.
Served at ``/pki/trust`` and written by ``govtrust keys export-trust``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from core.audit.checkpoint import NoteSigner, verifier_key
from keys.registry import KeyInfo, KeyRegistry

CERTIFIED_PURPOSES = ("root", "seal-ca", "service-ca", "licence", "tsa")


def _pem(key: KeyInfo) -> str:
    assert key.certificate is not None
    return key.certificate.public_bytes(Encoding.PEM).decode()


def trust_bundle(registry: KeyRegistry, audit_signer: NoteSigner) -> dict[str, Any]:
    certificates = [
        {
            "kid": key.kid,
            "purpose": key.purpose,
            "state": key.state,
            "not_before": key.certificate.not_valid_before_utc,
            "not_after": key.certificate.not_valid_after_utc,
            "pem": _pem(key),
        }
        for purpose in CERTIFIED_PURPOSES
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
        },
    }


def export_trust(registry: KeyRegistry, audit_signer: NoteSigner, directory: Path) -> list[Path]:
    """Write root.pem, one PEM per other certificate, jwks.json, audit.vkey, trust.json."""
    directory.mkdir(parents=True, exist_ok=True)
    bundle = trust_bundle(registry, audit_signer)
    written: list[Path] = []
    for entry in bundle["certificates"]:
        name = "root.pem" if entry["purpose"] == "root" else f"{entry['kid']}.pem"
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
