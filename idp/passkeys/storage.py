"""Registered passkeys: one row per WebAuthn credential (W3C WebAuthn Level 2 §7.1 step 23).

The credential id is stored as the authenticator made it (up to 1023 bytes, §5.1.2) and
looked up by its SHA-256, which is unique: a credential belongs to one person only (§7.1
step 22). The public key is the COSE key from the attested credential data. A revoked
passkey is kept (with ``revoked_at``) so that the audit trail's references stay meaningful.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db.base import Base
from core.db.types import UtcDateTime


def credential_hash(credential_id: bytes) -> str:
    return hashlib.sha256(credential_id).hexdigest()


class PasskeyRow(Base):
    __tablename__ = "passkeys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    credential_hash: Mapped[str] = mapped_column(String(64), unique=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary)
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    algorithm: Mapped[int] = mapped_column(Integer)
    sign_count: Mapped[int] = mapped_column(BigInteger)
    aaguid: Mapped[str] = mapped_column(String(36))
    transports: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
