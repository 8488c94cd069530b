"""Publishing what offline verifiers download: the licence status list and the trust list.

Both are signed by the active licence-signing key of the configured family
(:class:`verify.signing.LicenceAlgorithm`: the ``licence`` key, or the ``sm2-licence`` key of
the SM2 hierarchy) and kept in the shared cache (Redis in production) so that every worker
serves the same bytes. The trust list lists the keys of that family, each with its chain up to
(not including) that family's root, which is the root a verifier pins. The status list is
rebuilt from the registry at most every ``refresh_seconds`` (a licence event is visible in a
published list within that time; online verification sees it at once); one worker rebuilds
while the others keep serving the previous list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from sqlalchemy.orm import Session, sessionmaker

from certs.published import (
    EntryCondition,
    allocated_entries,
    entries_not_in_force,
    issuing_authority_names,
    licence_type_names,
)
from core.cache import Cache, CacheUnavailable
from keys.registry import KeyRegistry
from verify.signing import LicenceAlgorithm
from verify.status_list import Status, StatusList, list_size, pack, sign_status_list
from verify.trust_list import key_entry, sign_trust_list

log = logging.getLogger("govtrust.verify")

STATUS_VALUES = {
    EntryCondition.REVOKED: Status.INVALID,
    EntryCondition.PRINT_WITHDRAWN: Status.INVALID,
    EntryCondition.SUSPENDED: Status.SUSPENDED,
    EntryCondition.SUPERSEDED: Status.SUPERSEDED,
}


@dataclass(frozen=True)
class PublicationPolicy:
    refresh_seconds: int = 5
    """How stale a served status list may be."""
    status_list_ttl: int = 60
    """``ttl``: how long a verifier may use a status list before fetching it again."""
    status_list_lifetime: timedelta = timedelta(days=7)
    """``exp``: after this an offline verifier reports the status as unknown."""
    trust_list_lifetime: timedelta = timedelta(days=30)
    trust_list_refresh_seconds: int = 60


def status_list_uri(service_url: str, number: int = 1) -> str:
    return f"{service_url.rstrip('/')}/verify/status-lists/{number}"


def build_status_list(session: Session) -> StatusList:
    size = list_size(allocated_entries(session))
    entries = (
        (index, STATUS_VALUES[condition]) for index, condition in entries_not_in_force(session)
    )
    return StatusList(2, pack(entries, size))


def _without_root(chain: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    return [certificate for certificate in chain if certificate.subject != certificate.issuer]


class Publisher:
    def __init__(
        self,
        service_url: str,
        sessions: sessionmaker[Session],
        keys: KeyRegistry,
        cache: Cache,
        clock: Callable[[], datetime],
        policy: PublicationPolicy = PublicationPolicy(),
        algorithm: LicenceAlgorithm = LicenceAlgorithm.ES256,
    ) -> None:
        self.service_url = service_url.rstrip("/")
        self.sessions = sessions
        self.keys = keys
        self.cache = cache
        self.clock = clock
        self.policy = policy
        self.algorithm = algorithm

    def _name(self, name: str) -> str:
        """The cache key of a published document: one per family, so that a change of
        ``GOVTRUST_LICENCE_ALGORITHM`` never serves a list signed by the other family."""
        if self.algorithm is LicenceAlgorithm.ES256:
            return f"verify:{name}"
        return f"verify:sm2:{name}"

    @property
    def status_list_uri(self) -> str:
        return status_list_uri(self.service_url)

    def _cached(
        self, name: str, fresh_for: int, lifetime: timedelta, build: Callable[[], str]
    ) -> str:
        key = self._name(name)
        try:
            current = self.cache.get(key)
        except CacheUnavailable:
            # The cache only spares re-signing: without it every request signs a fresh copy,
            # so verification goes on while Redis is down (tests/security/test_fault_redis.py).
            log.warning("cache unavailable: publishing %s without it", name)
            return build()
        if current is not None:
            return current.decode()
        if not self.cache.add(f"{key}:building", b"1", ttl=30):
            previous = self.cache.get(f"{key}:previous")
            if previous is not None:
                return previous.decode()
        try:
            token = build()
            self.cache.set(key, token.encode(), ttl=fresh_for)
            self.cache.set(f"{key}:previous", token.encode(), ttl=lifetime.total_seconds())
            return token
        finally:
            self.cache.delete(f"{key}:building")

    def status_list_token(self) -> str:
        """The signed status list (``application/statuslist+jwt``), at most a few seconds old."""
        return self._cached(
            "status-list:1",
            self.policy.refresh_seconds,
            self.policy.status_list_lifetime,
            self._build_status_list,
        )

    def _build_status_list(self) -> str:
        with self.sessions() as session:
            status_list = build_status_list(session)
        return sign_status_list(
            status_list,
            self.status_list_uri,
            self.keys.signer(self.algorithm.purpose),
            self.clock(),
            int(self.policy.status_list_lifetime.total_seconds()),
            self.policy.status_list_ttl,
        )

    def forget(self) -> None:
        """Drop the served copies (after a licence event, so the next request rebuilds)."""
        self.cache.delete(self._name("status-list:1"))
        self.cache.delete(self._name("trust-list"))

    def trust_list_token(self) -> str:
        return self._cached(
            "trust-list",
            self.policy.trust_list_refresh_seconds,
            self.policy.trust_list_lifetime,
            self._build_trust_list,
        )

    def _build_trust_list(self) -> str:
        cas = {
            key.kid: key.certificate
            for key in self.keys.list_keys(self.algorithm.issuing_ca_purpose)
            if key.certificate is not None
        }
        entries = []
        for key in self.keys.published(self.algorithm.purpose):
            ca = cas.get(key.issuer_kid or "")
            if key.certificate is None or ca is None:
                continue
            entries.append(key_entry(key.kid, key.state, [key.certificate, ca]))
        with self.sessions() as session:
            types, issuers = licence_type_names(session), issuing_authority_names(session)
        signer = self.keys.signer(self.algorithm.purpose)
        return sign_trust_list(
            self.service_url,
            entries,
            [self.status_list_uri],
            types,
            issuers,
            signer,
            _without_root(signer.certificate_chain()),
            self.clock(),
            int(self.policy.trust_list_lifetime.total_seconds()),
        )

    def root_certificate(self) -> x509.Certificate:
        """The root the trust list chains to (the SM2 root for the SM2 family); from the
        registry's few-seconds cache of published keys, as every online verification asks."""
        roots = [
            key.certificate
            for key in self.keys.published(self.algorithm.root_purpose)
            if key.certificate
        ]
        if not roots:
            raise LookupError("the key hierarchy is not initialised")
        return roots[0]
