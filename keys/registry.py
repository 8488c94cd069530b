"""The key registry: which keys exist, what each is for, and which one signs now.

Lifecycle of a key: ``next`` (published, not yet signing) -> ``active`` (signing) ->
``retired`` (published until ``publish_until``, then only kept for the record). Purposes
with ``prepublish`` always have a ``next`` key, so a rotation only switches to a key that
relying parties already know. Every key event goes to the audit trail.

Private keys stay in their backend; the registry stores the backend's reference (a wrapped
key, or an HSM object id), the public key and the certificate.

The SM2 hierarchy (purposes ``sm2-*``, see :mod:`keys.purposes`) lives in the same table when
``sm2_enabled``: its keys are always SM2 and always in the software backend, and their
certificates are built by :mod:`keys.sm2_certificates` (GM/T 0015-2012) and stored as PEM
like every other certificate. SM2 is never a choice for the other purposes.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
)
from sqlalchemy.orm import Session, sessionmaker

from core.audit.entry import AuditEvent
from core.audit.trail import AuditTrail
from core.db.engine import transaction
from core.errors.problem import DependencyUnavailable
from keys.algorithms import KeyType, UnsupportedKeyType
from keys.backends.base import KeyBackend, KeyBackendError, RawSigner
from keys.backends.software import SoftwareBackend
from keys.certificates import Issuer, PkiUrls, build_certificate, subject_name
from keys.managed import KeyInfo, ManagedSigner
from keys.purposes import CA_PURPOSES, PURPOSES, Purpose, get_purpose
from keys.read_cache import ReadCache
from keys.renewal_policy import (
    RESPONDING_CA_STATES,
    certificate_end,
    lasts,
    responder_due,
    service_key,
)
from keys.sm2 import Sm2PublicKey
from keys.sm2_certificates import Sm2Issuer, build_sm2_certificate
from keys.storage import IssuedCertificateRow, KeyRow, SqlKeyStorage, serial_text

__all__ = [
    "KeyInfo",
    "KeyRegistry",
    "KeyStateError",
    "ManagedSigner",
    "utc_now",
]


class KeyStateError(DependencyUnavailable):
    """The registry is not in a state that allows the operation (not initialised, ...)."""


log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class KeyRegistry:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        backends: Mapping[str, KeyBackend],
        new_key_backend: str,
        audit: AuditTrail,
        urls: PkiUrls,
        organization: str = "govtrust",
        default_key_type: KeyType = KeyType.EC_P256,
        clock: Callable[[], datetime] = utc_now,
        sm2_enabled: bool = False,
    ) -> None:
        if new_key_backend not in backends:
            raise KeyBackendError(f"key backend {new_key_backend!r} is not configured")
        self.sessions = sessions
        self.backends = dict(backends)
        self.new_key_backend = new_key_backend
        self.audit = audit
        self.urls = urls
        self.organization = organization
        self.default_key_type = default_key_type
        self.clock = clock
        self.sm2_enabled = sm2_enabled
        self.storage = SqlKeyStorage()
        self._active: ReadCache[tuple[str, str | None], ManagedSigner] = ReadCache()
        self._published: ReadCache[str, list[KeyInfo]] = ReadCache()

    # -- reading -----------------------------------------------------------------------

    def list_keys(self, purpose: str | None = None) -> list[KeyInfo]:
        if purpose is not None:
            get_purpose(purpose)
        with self.sessions() as session:
            return [KeyInfo.from_row(row) for row in self.storage.keys(session, purpose)]

    def key(self, kid: str) -> KeyInfo:
        with self.sessions() as session:
            row = self.storage.key(session, kid)
            if row is None:
                raise KeyStateError(f"no key {kid!r}")
            return KeyInfo.from_row(row)

    def initialised(self) -> bool:
        with self.sessions() as session:
            return bool(self.storage.keys(session, "root", ("active",)))

    def published(self, purpose: str) -> list[KeyInfo]:
        """Keys relying parties must know: next, active, and retired ones still published.

        Read at most every few seconds per process (every token check needs them); a
        rotation here clears the cache at once, one elsewhere is seen within seconds."""
        keys = self._published.get(purpose)
        if keys is None:
            keys = self._published.load(purpose, lambda: self.list_keys(purpose))
        return self._still_published(keys)

    def published_if_cached(self, purpose: str) -> list[KeyInfo] | None:
        """:meth:`published` if this process read them in the last few seconds, else None
        (never touches the database: for code on the event loop, ``idp.hotpath``); renewed
        ahead of its end (:meth:`keys.read_cache.ReadCache.get_renewing`)."""
        keys = self._published.get_renewing(purpose, lambda: self.list_keys(purpose))
        return None if keys is None else self._still_published(keys)

    def _still_published(self, keys: list[KeyInfo]) -> list[KeyInfo]:
        now = self.clock()
        return [
            key
            for key in keys
            if key.state in ("next", "active")
            or (
                key.state == "retired" and key.publish_until is not None and key.publish_until > now
            )
        ]

    def _backend(self, name: str) -> KeyBackend:
        try:
            return self.backends[name]
        except KeyError as exc:
            raise KeyBackendError(f"key backend {name!r} is not configured here") from exc

    def _chain(self, session: Session, row: KeyRow) -> list[x509.Certificate]:
        chain: list[x509.Certificate] = []
        current: KeyRow | None = row
        while current is not None and current.certificate:
            chain.append(x509.load_pem_x509_certificate(current.certificate.encode()))
            if current.issuer_kid is None or current.issuer_kid == current.kid:
                break
            current = self.storage.key(session, current.issuer_kid)
        return chain

    def _managed(self, session: Session, row: KeyRow) -> ManagedSigner:
        info = KeyInfo.from_row(row)
        raw = self._backend(row.backend).load(info.key_type, row.reference, row.kid)
        return ManagedSigner(info, raw, self._chain(session, row))

    def signer_by_kid(self, kid: str) -> ManagedSigner:
        with self.sessions() as session:
            row = self.storage.key(session, kid)
            if row is None:
                raise KeyStateError(f"no key {kid!r}")
            return self._managed(session, row)

    def signer(self, purpose: str, issuer_kid: str | None = None) -> ManagedSigner:
        """The active key of ``purpose`` (for per-CA purposes, the one for ``issuer_kid``)."""
        self._require_family(get_purpose(purpose))
        cached = self._active.get((purpose, issuer_kid))
        if cached is not None:
            return cached
        return self._active.load(
            (purpose, issuer_kid), lambda: self._read_signer(purpose, issuer_kid)
        )

    def _read_signer(self, purpose: str, issuer_kid: str | None) -> ManagedSigner:
        """The active key; a service key that can no longer serve (its certificate within
        :data:`RENEW_BEFORE` of its end, or revoked) is renewed first (:meth:`renew_due`),
        so that a service that runs for years without a restart signs under a valid
        certificate. If the renewal fails, the key there is signs while its certificate
        lasts."""
        with self.sessions() as session:
            rows = [
                row
                for row in self.storage.keys(session, purpose, ("active",))
                if issuer_kid is None or row.issuer_kid == issuer_kid
            ]
            if not rows:
                raise KeyStateError(
                    f"no active {purpose} key: run `govtrust keys init` (or start the service)"
                )
            if not service_key(get_purpose(purpose)) or self._can_serve(
                session, rows[-1], self.clock()
            ):
                return self._managed(session, rows[-1])
        try:
            self.renew_due()
        except Exception:  # a database or key backend down: the current key, while it lasts
            log.exception("renewing the %s key failed; its current key signs meanwhile", purpose)
        with self.sessions() as session:
            row = self.storage.keys(session, purpose, ("active",))[-1]
            end = certificate_end(row)
            if end is not None and end <= self.clock():
                raise KeyStateError(f"the {purpose} key's certificate has ended: renewal failed")
            return self._managed(session, row)

    def signer_if_cached(self, purpose: str) -> ManagedSigner | None:
        """:meth:`signer` if this process loaded it in the last few seconds, else None
        (never touches the database or a key backend); renewed ahead of its end
        (:meth:`keys.read_cache.ReadCache.get_renewing`)."""
        return self._active.get_renewing((purpose, None), lambda: self._read_signer(purpose, None))

    def forget_cache(self) -> None:
        self._active.forget()
        self._published.forget()

    # -- creating ----------------------------------------------------------------------

    def _issuer(self, session: Session, purpose: Purpose, issuer_kid: str | None) -> Issuer | None:
        name = issuer_kid if purpose.per_ca else purpose.issuer
        if name is None:
            return None
        if purpose.per_ca:
            row = self.storage.key(session, name)
        else:
            rows = self.storage.keys(session, name, ("active",))
            row = rows[-1] if rows else None
        if row is None or row.certificate is None:
            raise KeyStateError(f"the issuer of {purpose.name} keys ({name}) does not exist yet")
        managed = self._managed(session, row)
        return Issuer(row.kid, x509.load_pem_x509_certificate(row.certificate.encode()), managed)

    def _require_family(self, purpose: Purpose) -> None:
        if purpose.sm2 and not self.sm2_enabled:
            raise KeyStateError(
                f"{purpose.name} keys belong to the SM2 hierarchy, which is off here: set "
                "GOVTRUST_SM2_ENABLED=true and run `govtrust keys init`"
            )

    def _key_type_for(self, purpose: Purpose, key_type: KeyType | None) -> KeyType:
        chosen = purpose.fixed_key_type or key_type or self.default_key_type
        if chosen is KeyType.SM2 and not purpose.sm2:
            raise UnsupportedKeyType(
                f"{purpose.name} keys cannot be SM2: SM2 keys serve only the sm2-* purposes "
                "(set GOVTRUST_SM2_ENABLED=true to create them with `govtrust keys init`)"
            )
        return chosen

    def _certify(
        self,
        purpose: Purpose,
        raw: RawSigner,
        issuer: Issuer | None,
        subject: x509.Name,
        now: datetime,
    ) -> x509.Certificate:
        """The certificate of a new key of ``purpose`` (self-signed when ``issuer`` is None).

        SM2 keys get a GM/T 0015-2012 certificate from :func:`build_sm2_certificate`;
        ``cryptography`` reads it back (names, serial, validity, extensions) though it
        cannot check an SM2 signature, so it is stored like every other certificate."""
        lifetime = purpose.certificate_lifetime
        assert lifetime is not None
        public = raw.public_key()
        if not purpose.sm2:
            return build_certificate(
                subject=subject,
                public_key=public,  # type: ignore[arg-type]
                purpose=purpose,
                issuer=issuer,
                self_signer=raw,
                now=now,
                lifetime=lifetime,
                urls=self.urls,
            )
        if not isinstance(public, Sm2PublicKey):
            raise UnsupportedKeyType(f"{purpose.name} keys are SM2")
        sm2_issuer = None
        if issuer is not None:
            if issuer.signer.key_type is not KeyType.SM2:
                raise KeyStateError(f"the issuer of {purpose.name} keys is not an SM2 CA")
            sm2_issuer = Sm2Issuer(
                issuer.kid,
                asn1_x509.Certificate.load(issuer.certificate.public_bytes(Encoding.DER)),
                issuer.signer,
            )
        certificate = build_sm2_certificate(
            subject=subject,
            public_key=public,
            purpose=purpose,
            issuer=sm2_issuer,
            self_signer=raw,
            now=now,
            lifetime=lifetime,
            crl_url=self.urls.crl(issuer.kid) if issuer is not None else None,
        )
        return x509.load_der_x509_certificate(certificate.dump())

    def _create(
        self,
        session: Session,
        purpose: Purpose,
        state: str,
        actor: str,
        issuer_kid: str | None = None,
        key_type: KeyType | None = None,
        subject: x509.Name | None = None,
    ) -> KeyRow:
        now = self.clock()
        self._require_family(purpose)
        chosen = self._key_type_for(purpose, key_type)
        kid = f"{purpose.name}-{now:%Y%m%d}-{secrets.token_hex(4)}"
        # SM2 keys exist only in the software backend (keys.backends.software_sm2).
        backend = self._backend("software" if chosen is KeyType.SM2 else self.new_key_backend)
        reference = backend.generate(chosen, kid)
        try:
            raw = backend.load(chosen, reference, kid)
            public = raw.public_key()
            certificate: x509.Certificate | None = None
            issuer = self._issuer(session, purpose, issuer_kid)
            if purpose.certificate_lifetime is not None:
                title = (
                    purpose.title
                    if issuer is None or not purpose.per_ca
                    else (f"{purpose.title} for {issuer.certificate.subject.rfc4514_string()}"[:64])
                )
                certificate = self._certify(
                    purpose,
                    raw,
                    issuer,
                    subject or subject_name(self.organization, f"{self.organization} {title}"[:64]),
                    now,
                )
            row = KeyRow(
                kid=kid,
                purpose=purpose.name,
                key_type=chosen.value,
                backend=backend.name,
                reference=reference,
                state=state,
                public_key=public.public_bytes(
                    Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
                ).decode(),
                certificate=certificate.public_bytes(Encoding.PEM).decode()
                if certificate
                else None,
                issuer_kid=(issuer.kid if issuer else (kid if certificate else None)),
                created_at=now,
                activated_at=now if state == "active" else None,
            )
            self.storage.add(session, row)
            if certificate is not None:
                self.storage.add(
                    session,
                    IssuedCertificateRow(
                        issuer_kid=row.issuer_kid or kid,
                        serial=serial_text(certificate.serial_number),
                        subject=certificate.subject.rfc4514_string(),
                        profile=purpose.name,
                        subject_kid=kid,
                        not_before=certificate.not_valid_before_utc,
                        not_after=certificate.not_valid_after_utc,
                    ),
                )
        except BaseException:
            backend.destroy(reference)
            raise
        self.audit.record(
            session,
            AuditEvent(
                actor=actor,
                action=f"key.created.{state}",
                object_type="key",
                object_id=kid,
                details={
                    "purpose": purpose.name,
                    "key_type": chosen.value,
                    "backend": backend.name,
                    "certificate_serial": serial_text(certificate.serial_number)
                    if certificate
                    else None,
                },
            ),
        )
        return row

    def check_backends(self) -> None:
        """Load one stored key of each backend: a wrong master key, a missing HSM module or
        a wrong PIN fails here, before anything new is created under it."""
        seen: set[str] = set()
        with self.sessions() as session:
            for row in self.storage.keys(session):
                if row.backend not in seen:
                    seen.add(row.backend)
                    self._backend(row.backend).load(KeyType(row.key_type), row.reference, row.kid)

    def init(self, actor: str = "system", key_type: KeyType | None = None) -> list[KeyInfo]:
        """Create every key that is missing (idempotent). Returns the keys created.

        ``key_type`` applies to the purposes without a fixed type and cannot be SM2; the
        SM2 hierarchy is created (always SM2) when the registry has ``sm2_enabled``."""
        if key_type is KeyType.SM2:
            raise UnsupportedKeyType(
                "--key-type SM2 is not a choice for the whole hierarchy (tokens, OCSP and "
                "PDF seals need international algorithms); set GOVTRUST_SM2_ENABLED=true and "
                "`govtrust keys init` creates the SM2 hierarchy (sm2-* purposes) beside it"
            )
        self.check_backends()
        created: list[KeyRow] = []
        with transaction(self.sessions) as session:
            self.audit.store.lock(session)  # one initialiser at a time
            for purpose in PURPOSES.values():
                if purpose.per_object or purpose.per_ca or (purpose.sm2 and not self.sm2_enabled):
                    continue
                if not self.storage.keys(session, purpose.name, ("active",)):
                    created.append(self._create(session, purpose, "active", actor, None, key_type))
                if purpose.prepublish and not self.storage.keys(session, purpose.name, ("next",)):
                    created.append(self._create(session, purpose, "next", actor, None, key_type))
            session.flush()
            created += self._renew_service_keys(session, actor)
            created += self._each_ca_s_own_keys(session, actor, key_type)
            result = [KeyInfo.from_row(row) for row in created]
        self.forget_cache()
        return result

    def _each_ca_s_own_keys(
        self, session: Session, actor: str, key_type: KeyType | None
    ) -> list[KeyRow]:
        """Each CA's own keys (its OCSP responder, RFC 6960 §4.2.2.2), of the active CAs and
        of the retired ones whose certificate has not ended (what they issued is still
        checked, :meth:`keys.revocation.Revocation.certificate_authorities`, and their key
        still signs their CRLs): made where it has none (a CA just made, or just rotated
        in), and made anew where the certificate
        of the one it has ends within :data:`RENEW_BEFORE` (that one retired), so that no
        responder signs with a certificate past its end (:func:`responder_due`). Read
        here, in the caller's transaction under its lock: a caller that decided from an
        earlier read makes nothing a concurrent one has made. Returns the keys made."""
        now = self.clock()
        created: list[KeyRow] = []
        for purpose in PURPOSES.values():
            if not purpose.per_ca or (purpose.sm2 and not self.sm2_enabled):
                continue
            for ca_name in ("root", *CA_PURPOSES):
                for ca in self.storage.keys(session, ca_name, RESPONDING_CA_STATES):
                    own = [
                        row
                        for row in self.storage.keys(session, purpose.name, ("active",))
                        if row.issuer_kid == ca.kid
                    ]
                    ends = [certificate_end(row) for row in own]
                    if not responder_due(ends, certificate_end(ca), now):
                        continue
                    for old in own:
                        self._retire(session, old, purpose, actor, now)
                    created.append(
                        self._create(session, purpose, "active", actor, ca.kid, key_type)
                    )
        return created

    def renew_responders(self, actor: str = "system") -> list[KeyInfo]:
        """Make anew each CA's responder key that is due (:func:`responder_due`), as
        ``init`` does, without the rest of ``init``: for a running service, whose OCSP
        answers call it when they find a responder certificate within
        :data:`RENEW_BEFORE` of its end. One transaction under the lock ``init`` and
        rotations take (the audit trail's: an advisory lock on PostgreSQL; on SQLite the
        transaction's ``BEGIN IMMEDIATE``), the need read again inside it: workers that
        notice at once make one new key per CA, the others nothing. Each key made and each
        retired is audited (``_create``, ``_retire``). Returns the keys made."""
        with transaction(self.sessions) as session:
            self.audit.store.lock(session)  # one at a time, with init and rotations
            made = [KeyInfo.from_row(row) for row in self._each_ca_s_own_keys(session, actor, None)]
        if made:
            self.forget_cache()
        return made

    def create_object_key(
        self,
        purpose_name: str,
        subject: x509.Name,
        actor: str,
        key_type: KeyType | None = None,
    ) -> KeyInfo:
        """A new key with its own certificate for one object (a seal): RFC 5280 profile of
        the purpose, the given subject (e.g. O = organisation, serialNumber = USCC, CN =
        seal name)."""
        purpose = get_purpose(purpose_name)
        if not purpose.per_object:
            raise KeyStateError(f"{purpose.name} keys are not made per object")
        self._require_family(purpose)
        self.check_backends()
        with transaction(self.sessions) as session:
            row = self._create(
                session, purpose, "active", actor, key_type=key_type, subject=subject
            )
            return KeyInfo.from_row(row)

    def rotate(self, purpose_name: str, actor: str = "system") -> KeyInfo:
        """Switch ``purpose`` to a new key; return the key that is now active."""
        purpose = get_purpose(purpose_name)
        if purpose.per_object:
            raise KeyStateError(f"{purpose.name} keys belong to their object: make a new one")
        if not purpose.rotatable:
            raise KeyStateError(
                f"{purpose.name} keys are not rotated in place: a new root means every relying "
                "party installs a new trust anchor"
            )
        self._require_family(purpose)
        self.check_backends()
        now = self.clock()
        with transaction(self.sessions) as session:
            self.audit.store.lock(session)
            actives = self.storage.keys(session, purpose.name, ("active",))
            if not actives:
                raise KeyStateError(f"no active {purpose.name} key: run `govtrust keys init`")
            new_active: list[KeyRow] = []
            for old in actives:
                self._retire(session, old, purpose, actor, now)
                successor = self._successor(session, purpose, old, actor, now)
                if successor is not None:
                    new_active.append(successor)
            if purpose.prepublish:
                self._create(session, purpose, "next", actor)
            session.flush()
            if purpose.name in CA_PURPOSES:  # the new CA answers OCSP for its certificates
                self._each_ca_s_own_keys(session, actor, None)
            if not new_active:
                raise KeyStateError(f"no {purpose.name} key could take over")
            result = KeyInfo.from_row(new_active[0])
        self.forget_cache()
        return result

    def _successor(
        self, session: Session, purpose: Purpose, old: KeyRow, actor: str, now: datetime
    ) -> KeyRow | None:
        """The key that takes the place of ``old`` (just retired) as the active one: the
        purpose's next key (of the same CA, for per-CA purposes) if it can still serve, else
        a new one. A next key that cannot serve is retired: its certificate revoked, or
        within :data:`RENEW_BEFORE` of its end (it started ageing when it was made, not when
        it takes over). None for a per-CA key whose CA has ended (nothing left to answer
        for)."""
        issuer_kid = old.issuer_kid if purpose.per_ca else None
        if issuer_kid is not None:
            ca = self.storage.key(session, issuer_kid)
            ca_end = None if ca is None else certificate_end(ca)
            if ca is None or (ca_end is not None and ca_end <= now):
                return None
        for row in self.storage.keys(session, purpose.name, ("next",)):
            if purpose.per_ca and row.issuer_kid != issuer_kid:
                continue
            if self._can_serve(session, row, now):
                row.state, row.activated_at = "active", now
                self._event(session, actor, "key.activated", row, purpose)
                return row
            self._retire(session, row, purpose, actor, now)
        return self._create(session, purpose, "active", actor, issuer_kid)

    def _can_serve(self, session: Session, row: KeyRow, now: datetime) -> bool:
        """Whether ``row`` may sign from now on: no certificate, or one not revoked (RFC 5280
        §5.3.1) and not within :data:`RENEW_BEFORE` of its end (§4.1.2.5). One that ends
        with its CA's still serves: a new one would end no later (a certificate never
        outlives its issuer's, as :func:`responder_due` says of responders); the CA's own
        rotation is the operator's."""
        if not row.certificate:
            return True
        if self._revoked(session, row):
            return False
        end = x509.load_pem_x509_certificate(row.certificate.encode()).not_valid_after_utc
        issuer = None if row.issuer_kid is None else self.storage.key(session, row.issuer_kid)
        return lasts(end, None if issuer is None else certificate_end(issuer), now)

    def _revoked(self, session: Session, row: KeyRow) -> bool:
        """Whether ``row``'s certificate is revoked (its CA's record, RFC 5280 §5.3.1)."""
        if not row.certificate or row.issuer_kid is None:
            return False
        serial = x509.load_pem_x509_certificate(row.certificate.encode()).serial_number
        issued = self.storage.certificate(session, row.issuer_kid, serial)
        return issued is not None and issued.revoked_at is not None

    def certificate_revoked(self, session: Session, kid: str) -> bool:
        """Whether the certificate of key ``kid`` is revoked, by whatever path (a seal's
        revocation, ``govtrust keys revoke-certificate``)."""
        row = self.storage.key(session, kid)
        return row is not None and self._revoked(session, row)

    def withdraw_revoked(
        self, session: Session, kid: str, compromised: bool, actor: str = "system"
    ) -> None:
        """A key whose certificate was just revoked (RFC 5280 §5.3.1) signs nothing more, in
        the revocation's transaction: an active or next key of a service purpose is retired,
        an active one replaced at once (:meth:`_successor`), a next one made anew; after a
        key compromise it is no longer published either, so that relying parties stop
        trusting what it signs. Keys of one object (a seal) are their object's, and the
        root is not replaced in place: both are left as they are."""
        row = self.storage.key(session, kid)
        if row is None:
            return
        purpose = get_purpose(row.purpose)
        if purpose.per_object or not purpose.rotatable:
            return
        now = self.clock()
        if row.state == "active":
            self._replace(session, purpose, row, actor, now)
            if purpose.name in CA_PURPOSES:
                session.flush()
                self._each_ca_s_own_keys(session, actor, None)
        elif row.state == "next":
            self._retire(session, row, purpose, actor, now)
            self._next_if_none(session, purpose, actor)
        if compromised:
            row.publish_until = now
        session.flush()

    def _replace(
        self, session: Session, purpose: Purpose, old: KeyRow, actor: str, now: datetime
    ) -> list[KeyRow]:
        """Retire the active key ``old`` and put its :meth:`_successor` in its place, with a
        next key ahead again where the purpose has one; the keys made or activated."""
        self._retire(session, old, purpose, actor, now)
        successor = self._successor(session, purpose, old, actor, now)
        made = [] if successor is None else [successor]
        return made + self._next_if_none(session, purpose, actor)

    def _renew_service_keys(self, session: Session, actor: str) -> list[KeyRow]:
        """Each active key of a certified service purpose (not a CA, not per CA, not per
        object) whose certificate ends within :data:`RENEW_BEFORE`, or was revoked, is
        retired and replaced (:meth:`_successor`), as responders are (:func:`responder_due`):
        no timestamp or licence is signed under a certificate past its end. Returns the keys
        made or activated."""
        now = self.clock()
        replaced: list[KeyRow] = []
        for purpose in PURPOSES.values():
            if not service_key(purpose) or (purpose.sm2 and not self.sm2_enabled):
                continue
            for old in self.storage.keys(session, purpose.name, ("active",)):
                if not self._can_serve(session, old, now):
                    replaced += self._replace(session, purpose, old, actor, now)
        return replaced

    def _next_if_none(self, session: Session, purpose: Purpose, actor: str) -> list[KeyRow]:
        """A next key for a purpose that publishes one ahead, if it has none (its next key
        just took over)."""
        session.flush()
        if not purpose.prepublish or self.storage.keys(session, purpose.name, ("next",)):
            return []
        return [self._create(session, purpose, "next", actor)]

    def renew_due(self, actor: str = "system") -> list[KeyInfo]:
        """:meth:`_renew_service_keys` and the responders' renewal
        (:meth:`renew_responders`) for a running service, in one transaction under the lock
        ``init`` and rotations take, the need read again inside it. Returns the keys made."""
        with transaction(self.sessions) as session:
            self.audit.store.lock(session)
            made = self._renew_service_keys(session, actor)
            made += self._each_ca_s_own_keys(session, actor, None)
            result = [KeyInfo.from_row(row) for row in made]
        if result:
            self.forget_cache()
        return result

    def _retire(
        self, session: Session, row: KeyRow, purpose: Purpose, actor: str, now: datetime
    ) -> None:
        """Retire ``row``: published until its certificate ends (or for the purpose's time
        after retirement), and audited."""
        row.state, row.retired_at = "retired", now
        row.publish_until = certificate_end(row) or now + purpose.published_after_retirement
        self._event(session, actor, "key.retired", row, purpose)

    def _event(
        self, session: Session, actor: str, action: str, row: KeyRow, purpose: Purpose
    ) -> None:
        self.audit.record(
            session,
            AuditEvent(
                actor=actor,
                action=action,
                object_type="key",
                object_id=row.kid,
                details={"purpose": purpose.name},
            ),
        )

    def rewrap(self, actor: str = "system") -> int:
        """Re-wrap every software key under the current master key; returns how many."""
        backend = self.backends.get("software")
        if not isinstance(backend, SoftwareBackend):
            return 0
        master = backend.master
        count = 0
        with transaction(self.sessions) as session:
            for row in self.storage.keys(session):
                if row.backend != "software":
                    continue
                if master.needs_rewrap(row.reference):
                    row.reference = master.rewrap(row.kid, row.reference)
                    count += 1
            self.audit.record(
                session,
                AuditEvent(
                    actor=actor,
                    action="keys.rewrapped",
                    object_type="master-key",
                    object_id=master.current_id.hex(),
                    details={"keys": count},
                ),
            )
        return count
