"""Revoking certificates, and telling relying parties: CRLs (RFC 5280 §5) and OCSP (RFC 6960).

The status of every certificate the CAs issued is in ``issued_certificates``; a revocation
updates that row and goes to the audit trail in the same transaction, so the next CRL and
the next OCSP answer say "revoked".

Each CA answers OCSP through its own delegated responder key (RFC 6960 §4.2.2.2), whose
certificate lasts a year: :meth:`Revocation.responder` notices, from the keys it reads
anyway, a responder certificate within :data:`keys.renewal_policy.RENEW_BEFORE` of its end and
has the registry make the key anew (once per CA, whichever worker notices first) before it
answers, so that a service that runs for a year without a restart still answers.

The SM2 CAs (``sm2-root``, ``sm2-seal-ca``, ``sm2-service-ca``) publish CRLs too, signed with
SM2-with-SM3 by :mod:`keys.sm2_crl` (``cryptography`` cannot sign them); they have no OCSP
responder, and they are kept out of :meth:`Revocation.certificate_authorities`, which feeds
the PAdES validation of the international hierarchy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from weakref import WeakKeyDictionary

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.orm import Session

from core.audit.entry import AuditEvent
from core.db.engine import transaction
from keys.crl import RevokedCertificate, build_crl
from keys.ocsp_responder import CertificateStatus, OcspResponder, ResponderIdentity
from keys.purposes import CA_PURPOSES, SM2_CA_PURPOSES
from keys.registry import KeyInfo, KeyRegistry, KeyStateError
from keys.renewal_policy import RESPONDING_CA_STATES, responder_due
from keys.sm2_crl import build_sm2_crl
from keys.storage import serial_text

CRL_VALIDITY = timedelta(hours=24)
CRL_REUSE = timedelta(minutes=5)
"""A CRL signed this recently is answered again while no certificate of its CA has been
revoked since (as the HTTP answer's ``max-age``): each request no longer takes the audit
trail's append lock and a signature by the CA key."""
OCSP_VALIDITY = timedelta(hours=1)
# the CRLs last signed in this process, per registry and CA: (the CA's revocations counted
# when it was signed, when, the CRL)
_SIGNED_CRLS: WeakKeyDictionary[
    KeyRegistry, dict[str, tuple[int, datetime, x509.CertificateRevocationList]]
] = WeakKeyDictionary()
CA_NAMES = ("root", *CA_PURPOSES)
RESPONDER_RETRY = timedelta(minutes=1)
"""After a renewal of the responder keys failed here (the database, a key backend), the
OCSP answers of this process try again after this long, answering meanwhile with the
responder keys there are (still valid: the renewal starts a month before their end)."""
log = logging.getLogger(__name__)


@dataclass
class _RenewalTurn:
    """This process's renewals of one registry's responder keys: one at a time (a request
    that finds one running answers with the keys there are, it does not wait), and when
    the last one failed."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    failed_at: datetime | None = None


_RENEWALS: WeakKeyDictionary[KeyRegistry, _RenewalTurn] = WeakKeyDictionary()


class UnusableRevocationReason(ValueError):
    """``removeFromCRL`` belongs to delta CRLs only (RFC 5280 §5.3.1), and a revocation here is
    never undone: a reason that would make every later CRL of the CA unsignable."""


class UnknownCertificate(LookupError):
    pass


def _spki(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


class Revocation:
    def __init__(self, registry: KeyRegistry) -> None:
        self.registry = registry

    def certificate_authorities(self, names: tuple[str, ...] = CA_NAMES) -> list[KeyInfo]:
        """Every CA key with a certificate that has not expired yet (retired ones included:
        what they issued is still checked); of the international hierarchy unless told."""
        now = self.registry.clock()
        return [
            key
            for name in names
            for key in self.registry.list_keys(name)
            if key.certificate is not None and key.certificate.not_valid_after_utc > now
        ]

    def ca(self, kid: str) -> KeyInfo:
        """The CA ``kid``, of either hierarchy."""
        for key in self.certificate_authorities((*CA_NAMES, *SM2_CA_PURPOSES)):
            if key.kid == kid:
                return key
        raise UnknownCertificate(f"no certificate authority {kid!r}")

    def revoke(
        self, issuer_kid: str, serial: int, reason: x509.ReasonFlags, actor: str = "system"
    ) -> datetime:
        """Mark a certificate revoked (idempotent: a second call keeps the first time)."""
        with transaction(self.registry.sessions) as session:
            revoked_at = self.revoke_in(session, issuer_kid, serial, reason, actor)
        self.registry.forget_cache()  # a key it certified may have been replaced
        return revoked_at

    def revoke_in(
        self,
        session: Session,
        issuer_kid: str,
        serial: int,
        reason: x509.ReasonFlags,
        actor: str = "system",
    ) -> datetime:
        """:meth:`revoke` within the caller's transaction, so that what revokes the
        certificate (a seal's revocation) commits with it or not at all."""
        if reason is x509.ReasonFlags.remove_from_crl:
            raise UnusableRevocationReason(
                "remove_from_crl appears only in delta CRLs (RFC 5280 §5.3.1), and a "
                "revocation is not undone here"
            )
        row = self.registry.storage.certificate(session, issuer_kid, serial)
        if row is None:
            raise UnknownCertificate(f"{issuer_kid} never issued serial {serial:x}")
        if row.revoked_at is not None:
            return row.revoked_at
        now = self.registry.clock()
        row.revoked_at, row.revocation_reason = now, reason.value
        self.registry.audit.record(
            session,
            AuditEvent(
                actor=actor,
                action="certificate.revoked",
                object_type="certificate",
                object_id=f"{issuer_kid}/{serial_text(serial)}",
                details={
                    "reason": reason.value,
                    "profile": row.profile,
                    "subject_kid": row.subject_kid,
                },
            ),
        )
        if row.subject_kid is not None:  # the key it certified signs nothing more
            compromised = reason in (
                x509.ReasonFlags.key_compromise,
                x509.ReasonFlags.ca_compromise,
            )
            self.registry.withdraw_revoked(session, row.subject_kid, compromised, actor)
        return now

    def status(self, issuer: x509.Certificate, serial: int) -> CertificateStatus | None:
        """The :class:`keys.ocsp_responder.StatusSource` over ``issued_certificates``."""
        wanted = _spki(issuer)
        issuer_kids = [
            key.kid
            for key in self.certificate_authorities()
            if key.certificate is not None and _spki(key.certificate) == wanted
        ]
        with self.registry.sessions() as session:
            for kid in issuer_kids:
                row = self.registry.storage.certificate(session, kid, serial)
                if row is None:
                    continue
                if row.revoked_at is None:
                    return CertificateStatus("good")
                reason = x509.ReasonFlags(row.revocation_reason or "unspecified")
                return CertificateStatus("revoked", row.revoked_at, reason)
        return None

    def crl(self, issuer_kid: str) -> x509.CertificateRevocationList:
        """The CRL of ``issuer_kid``: the one signed last if it is younger than
        :data:`CRL_REUSE` and lists every revocation of the CA so far (counted in the
        database, so a revocation by any process is seen at once), else a new one."""
        now = self.registry.clock()
        with self.registry.sessions() as session:
            revoked_so_far = self.registry.storage.revoked_count(session, issuer_kid)
        signed = _SIGNED_CRLS.setdefault(self.registry, {})
        if issuer_kid in signed:
            count, at, crl = signed[issuer_kid]
            if count == revoked_so_far and timedelta(0) <= now - at < CRL_REUSE:
                return crl
        crl = self._new_crl(issuer_kid, now)
        signed[issuer_kid] = (revoked_so_far, now, crl)
        return crl

    def _new_crl(self, issuer_kid: str, now: datetime) -> x509.CertificateRevocationList:
        """A new CRL of ``issuer_kid``. Its number comes from a per-CA counter that only
        grows (RFC 5280 §5.2.3), at least the issue time in seconds. An SM2 CA's CRL is
        SM2-signed; ``cryptography`` reads it (it cannot check its signature)."""
        ca = self.ca(issuer_kid)
        assert ca.certificate is not None
        with transaction(self.registry.sessions) as session:
            self.registry.audit.store.lock(session)
            number = self.registry.storage.next_crl_number(
                session, issuer_kid, int(now.timestamp())
            )
            revoked = [
                RevokedCertificate(
                    int(row.serial, 16),
                    row.revoked_at,
                    x509.ReasonFlags(row.revocation_reason or "unspecified"),
                )
                for row in self.registry.storage.revoked(session, issuer_kid)
                if row.revoked_at is not None
            ]
        if ca.purpose in SM2_CA_PURPOSES:
            sm2_crl = build_sm2_crl(
                asn1_x509.Certificate.load(ca.certificate.public_bytes(Encoding.DER)),
                self.registry.signer_by_kid(issuer_kid),
                revoked,
                number=number,
                this_update=now,
                next_update=now + CRL_VALIDITY,
            )
            return x509.load_der_x509_crl(sm2_crl.dump())
        return build_crl(
            ca.certificate,
            self.registry.signer_by_kid(issuer_kid),
            revoked,
            number=number,
            this_update=now,
            next_update=now + CRL_VALIDITY,
        )

    def responder(self) -> OcspResponder:
        """An OCSP responder for every CA, each answered by its delegated responder key
        (RFC 6960 §4.2.2.2) whose certificate has not ended (RFC 5280 §4.1.2.5).

        A responder certificate of a CA (active, or retired and not ended) within
        :data:`keys.renewal_policy.RENEW_BEFORE` of its end (seen in the keys read here anyway: no
        more reads when none is) is made anew first (:meth:`_renew_responders`), and the
        new key answers."""
        now = self.registry.clock()
        cas = self.certificate_authorities()
        responders = self.registry.list_keys("ocsp")
        if _renewal_due(cas, responders, now) and self._renew_responders(now):
            responders = self.registry.list_keys("ocsp")
        identities: list[ResponderIdentity] = []
        for ca in cas:
            assert ca.certificate is not None
            own = [
                key
                for key in _active_responders(responders, ca)
                if key.certificate is not None
                and key.certificate.not_valid_after_utc > now  # never a certificate past its end
            ]
            if not own:
                continue
            # the signer of the key just read, not the purpose's cached one: after a rotation
            # in another process that one may still be the retired key (keys/read_cache.py)
            signer = self.registry.signer_by_kid(own[-1].kid)
            assert own[-1].certificate is not None
            identities.append(ResponderIdentity(ca.certificate, own[-1].certificate, signer))
        if not identities:
            raise KeyStateError("no OCSP responder keys: run `govtrust keys init`")
        return OcspResponder(identities, self, self.registry.clock, OCSP_VALIDITY)

    def _renew_responders(self, now: datetime) -> bool:
        """:meth:`keys.registry.KeyRegistry.renew_responders`, unless another thread of
        this process is at it or the last attempt here failed less than
        :data:`RESPONDER_RETRY` ago. Never raises: the answer is then given with the keys
        there are. True if keys were made."""
        turn = _RENEWALS.setdefault(self.registry, _RenewalTurn())
        if turn.failed_at is not None and timedelta(0) <= now - turn.failed_at < RESPONDER_RETRY:
            return False
        if not turn.lock.acquire(blocking=False):
            return False
        try:
            made = self.registry.renew_responders()
        except Exception:  # the database, a key backend: answer with the keys there are
            turn.failed_at = now
            log.exception("renewing the OCSP responder keys failed; retried in %s", RESPONDER_RETRY)
            return False
        finally:
            turn.lock.release()
        turn.failed_at = None
        return bool(made)


def _active_responders(responders: Sequence[KeyInfo], ca: KeyInfo) -> list[KeyInfo]:
    return [key for key in responders if key.issuer_kid == ca.kid and key.state == "active"]


def _renewal_due(cas: Sequence[KeyInfo], responders: Sequence[KeyInfo], now: datetime) -> bool:
    """Whether a CA's responder key is to be made anew
    (:func:`keys.renewal_policy.responder_due`, as the registry decides it)."""
    return any(
        responder_due(
            [
                key.certificate.not_valid_after_utc if key.certificate else None
                for key in _active_responders(responders, ca)
            ],
            ca.certificate.not_valid_after_utc if ca.certificate else None,
            now,
        )
        for ca in cas
        if ca.state in RESPONDING_CA_STATES
    )
