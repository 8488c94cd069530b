"""Build the key registry from settings: the master key, the backends, the URLs."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session, sessionmaker

from core.audit.trail import AuditTrail
from core.settings import Settings
from keys.algorithms import KeyType
from keys.backends.base import KeyBackend, KeyBackendError
from keys.backends.software import SoftwareBackend
from keys.certificates import PkiUrls
from keys.master import MasterKeyError, MasterKeys, decode_master_key
from keys.registry import KeyRegistry, utc_now


def master_keys(settings: Settings) -> MasterKeys:
    """The configured master key (and previous ones); in development, one derived from the
    root secret so that the embedded default runs with no configuration."""
    if settings.master_key is not None:
        current = decode_master_key(settings.master_key.get_secret_value())
    elif settings.master_key_file is not None:
        try:
            text = settings.master_key_file.read_text(encoding="ascii")
        except OSError as exc:
            raise MasterKeyError(f"cannot read GOVTRUST_MASTER_KEY_FILE: {exc.strerror}") from exc
        current = decode_master_key(text)
    else:
        if settings.environment not in ("development", "test"):
            raise MasterKeyError("no master key configured")
        if settings.environment == "development":
            warnings.warn(
                "no GOVTRUST_MASTER_KEY: deriving one from the secret (development only)",
                stacklevel=2,
            )
        current = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=b"govtrust development master key v1",
        ).derive(settings.secret_bytes)
    previous: list[bytes] = []
    if settings.master_key_previous is not None:
        for part in settings.master_key_previous.get_secret_value().split(","):
            if part.strip():
                previous.append(decode_master_key(part))
    return MasterKeys(current, tuple(previous), settings.at_rest_cipher)


def key_backends(settings: Settings) -> dict[str, KeyBackend]:
    backends: dict[str, KeyBackend] = {"software": SoftwareBackend(master_keys(settings))}
    if settings.pkcs11_module:
        from keys.backends.pkcs11_backend import Pkcs11Backend

        if not (settings.pkcs11_token_label and settings.pkcs11_pin):
            raise KeyBackendError("PKCS#11 needs a token label and a PIN")
        backends["pkcs11"] = Pkcs11Backend(
            settings.pkcs11_module,
            settings.pkcs11_token_label,
            settings.pkcs11_pin.get_secret_value(),
        )
    return backends


def build_key_registry(
    settings: Settings,
    sessions: sessionmaker[Session],
    audit: AuditTrail,
    clock: Callable[[], datetime] = utc_now,
) -> KeyRegistry:
    return KeyRegistry(
        sessions=sessions,
        backends=key_backends(settings),
        new_key_backend=settings.key_backend,
        audit=audit,
        urls=PkiUrls(settings.issuer),
        organization=settings.pki_organization,
        default_key_type=KeyType(settings.key_type),
        clock=clock,
        sm2_enabled=settings.sm2_enabled,
    )
