"""The GB/T 38540-2020 seals that seal OFD licences, one per seal of the seal registry, made
on demand and kept (table ``ses_seals``).

The seal registry (:mod:`seal.registry`) holds what a seal *is*: its organisation, name,
picture, validity and status, with an international (P-256) key for PDF seals. An OFD seal
(GB/T 33190 §18) is a GB/T 38540 ``SES_Signature`` over an ``SES_Seal``, both SM2, so the
first OFD sealing with a registry seal makes, once:

- an ``sm2-seal`` key (签章人) with its SM2 certificate from the SM2 seal CA, with the same
  subject as the seal's P-256 certificate (C = CN, O = organisation, serialNumber = USCC,
  CN = seal name);
- an ``SES_Seal`` (印章数据, GB/T 38540-2020 §6.1): ``esID`` the registry's seal id, type 1
  (单位印章) or 2 (个人印章, for a legal representative's name seal), the seal's name, that
  certificate as the only one in ``certList``, the registry's picture (PNG, 42 mm square,
  the size of the page's seal box), validity from the registry's seal (bounded by the new
  certificate), signed by the seal maker (``sm2-seal-maker``, 制章人).

Both are kept in ``ses_seals`` beside the seal, so every later sealing reuses them and the
seal's certificate list stays the same. Whether the seal may be used at all (status and
validity) is still decided by the registry for each sealing (``authorise_system_use``). Making
one is an audit event (``seal.ses_created``). If two workers make one at the same moment, the
first row written wins and the other's key stays unused (recorded in the trail as created).
"""

from __future__ import annotations

from datetime import datetime

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from certs.ofd.signature import OfdSealer
from core.audit.entry import AuditEvent
from core.db.base import Base
from core.db.engine import transaction
from core.db.types import UtcDateTime
from seal.models import Seal
from seal.registry import SealRegistry
from seal.ses.asn1 import SES_Seal
from seal.ses.make import SealPicture, SealSpec, make_seal

__all__ = ["OfdSeals", "SesSealRow"]

SEAL_PICTURE_MM = 42  # the page's seal box, 120 pt
ORGANISATION_SEAL = 1  # GB/T 38540-2020 §6.1 type: 1 单位印章, 2 个人印章
PERSONAL_SEAL = 2


class SesSealRow(Base):
    __tablename__ = "ses_seals"

    seal_id: Mapped[str] = mapped_column(ForeignKey("seals.id"), primary_key=True)
    key_kid: Mapped[str] = mapped_column(ForeignKey("keys.kid"))
    maker_kid: Mapped[str] = mapped_column(String(64))
    es_id: Mapped[str] = mapped_column(String(64))
    der: Mapped[bytes] = mapped_column(LargeBinary)
    valid_until: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


def _asn1(certificate: x509.Certificate | None) -> asn1_x509.Certificate:
    if certificate is None:
        raise LookupError("an SM2 seal key has no certificate")
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


class OfdSeals:
    """The GB/T 38540 seal of each registry seal (what
    :func:`certs.ofd.licence.sealed_licence_ofd` seals with)."""

    def __init__(self, seals: SealRegistry) -> None:
        self.seals = seals
        self.keys = seals.keys

    def sealer(self, seal: Seal, actor: str) -> OfdSealer:
        """Who seals with ``seal`` in OFD: its SES seal, certificate and SM2 key (made now if
        this is the first time)."""
        with self.seals.sessions() as session:
            row = session.get(SesSealRow, seal.id)
            found = None if row is None else (row.der, row.key_kid)
        der, key_kid = found if found is not None else self._make(seal, actor)
        signer = self.keys.signer_by_kid(key_kid)
        return OfdSealer(SES_Seal.load(der), _asn1(self.keys.key(key_kid).certificate), signer)

    def _make(self, seal: Seal, actor: str) -> tuple[bytes, str]:
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, seal.organisation_name[:64]),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, seal.uscc),
                x509.NameAttribute(NameOID.COMMON_NAME, seal.name[:64]),
            ]
        )
        key = self.keys.create_object_key("sm2-seal", subject, actor=actor)
        certificate = _asn1(key.certificate)
        maker = self.keys.signer("sm2-seal-maker")
        maker_certificate = _asn1(maker.info.certificate)
        now = self.seals.clock()
        assert key.certificate is not None
        valid_end = min(seal.valid_until, key.certificate.not_valid_after_utc)
        spec = SealSpec(
            es_id=seal.id,
            seal_type=PERSONAL_SEAL if seal.kind == "name" else ORGANISATION_SEAL,
            name=seal.name,
            signer_certificates=[certificate],
            created=now,
            valid_start=seal.valid_from,
            valid_end=valid_end,
            picture=SealPicture("PNG", self.seals.image(seal.id), SEAL_PICTURE_MM, SEAL_PICTURE_MM),
        )
        der = bytes(make_seal(spec, maker_certificate, maker).dump())
        row = SesSealRow(
            seal_id=seal.id,
            key_kid=key.kid,
            maker_kid=maker.kid,
            es_id=seal.id,
            der=der,
            valid_until=valid_end,
            created_at=now,
        )
        try:
            with transaction(self.seals.sessions) as session:
                session.add(row)
                session.flush()
                self.seals.audit.record(
                    session,
                    AuditEvent(
                        actor=actor,
                        action="seal.ses_created",
                        object_type="seal",
                        object_id=seal.id,
                        details={"key": key.kid, "maker": maker.kid, "format": "GB/T 38540"},
                    ),
                )
        except IntegrityError:  # another worker made it first: use theirs
            with self.seals.sessions() as session:
                winner = session.get(SesSealRow, seal.id)
                if winner is None:
                    raise
                return winner.der, winner.key_kid
        return der, key.kid
