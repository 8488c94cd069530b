"""Stamping approval results: check who may use the seal, seal the PDF, record the use.

"网上签章 ... 全程留痕": each use records the document's SHA-256 (before and after),
the seal, the person, the time, the PAdES level and the purpose in the audit trail. The
service does not keep the document.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError

from core.audit.entry import AuditEvent
from core.cache.base import CacheUnavailable
from core.db.engine import transaction
from core.errors.problem import DependencyUnavailable, ProblemError, for_status
from core.identifiers.free_text import without_id_number
from keys.registry import KeyRegistry
from keys.revocation import Revocation
from keys.tsa import TimeStampAuthority, TsaConfig
from seal.models import Seal
from seal.registry import SealRegistry
from seal.stamping.engine import stamp_pdf
from seal.stamping.placement import AtAnchor, AtPosition, CrossPage
from seal.stamping.revinfo import validation_context

log = logging.getLogger(__name__)

# what a batch item says when a dependency failed (the request would have answered 503) or
# something else did (500): the other documents are still sealed
UNAVAILABLE = (DependencyUnavailable, CacheUnavailable, SQLAlchemyError)
UNAVAILABLE_PROBLEM = for_status(503, "not sealed: a service it depends on is unavailable")
FAILED_PROBLEM = for_status(500, "not sealed: an unexpected error, logged")

Level = Literal["B-B", "B-T", "B-LT"]
Placement = AtPosition | AtAnchor | CrossPage
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class StampRequest:
    seal_id: str
    document: bytes
    placement: Placement
    level: Level = "B-T"
    purpose: str = ""


@dataclass(frozen=True)
class Stamped:
    pdf: bytes
    document_sha256: str
    sealed_sha256: str
    seal_id: str
    level: Level
    audit_index: int


@dataclass(frozen=True)
class BatchItem:
    """One document of a batch: sealed, or the problem that stopped it."""

    index: int
    stamped: Stamped | None
    error: dict[str, object] | None


class StampingService:
    def __init__(self, seals: SealRegistry, keys: KeyRegistry) -> None:
        self.seals = seals
        self.keys = keys

    def _timestamp_authority(self) -> TimeStampAuthority:
        signer = self.keys.signer("tsa")
        chain = signer.certificate_chain()
        return TimeStampAuthority(signer, chain[0], chain[1:], TsaConfig(), self.keys.clock)

    def stamp(self, request: StampRequest, *, person_id: str, acr: str | None) -> Stamped:
        """Seal one document for ``person_id`` (logged in at ``acr``)."""
        self._check(request)
        seal = self.seals.authorise_use(request.seal_id, person_id, acr)
        return self._stamp(seal, request, person_id, {})

    def stamp_as_system(self, request: StampRequest, *, actor: str, on: str) -> Stamped:
        """Seal one document that govtrust itself produces with a seal bound to that function
        (an electronic licence with its type's seal); ``actor`` names the function and
        ``on`` what it sealed, both in the audit entry."""
        self._check(request)
        seal = self.seals.authorise_system_use(request.seal_id, actor)
        return self._stamp(seal, request, actor, {"on": on})

    @staticmethod
    def _check(request: StampRequest) -> None:
        if len(request.document) > MAX_DOCUMENT_BYTES:
            raise ProblemError(413, "document-too-large", "The document is too large")
        if request.purpose and len(request.purpose) > 200:
            raise ProblemError(422, "purpose-too-long", "The purpose is 200 characters at most")
        without_id_number(request.purpose, "purpose")  # it goes into the audit entry

    def _stamp(
        self, seal: Seal, request: StampRequest, actor: str, details: dict[str, str]
    ) -> Stamped:
        signer = self.keys.signer_by_kid(seal.key_kid)
        validation = None
        if request.level == "B-LT":
            root = self.keys.signer("root").certificate_chain()[0]
            validation = validation_context(Revocation(self.keys), [root])
        sealed = stamp_pdf(
            request.document,
            signer,
            self.seals.image(seal.id),
            request.placement,
            request.level,
            timestamper=None if request.level == "B-B" else self._timestamp_authority(),
            validation=validation,
            reason=request.purpose or None,
            location=seal.organisation_name,
        )
        document_sha256 = hashlib.sha256(request.document).hexdigest()
        with transaction(self.seals.sessions) as session:
            entry = self.seals.audit.record(
                session,
                AuditEvent(
                    actor=actor,
                    action="seal.used",
                    object_type="seal",
                    object_id=seal.id,
                    document_hash=document_sha256,
                    details={
                        "level": request.level,
                        "purpose": request.purpose[:200],
                        "sealed_sha256": hashlib.sha256(sealed).hexdigest(),
                        "placement": type(request.placement).__name__,
                        **details,
                    },
                ),
            )
        return Stamped(
            sealed,
            document_sha256,
            hashlib.sha256(sealed).hexdigest(),
            seal.id,
            request.level,
            entry.index,
        )

    def stamp_batch(
        self,
        requests: Sequence[StampRequest],
        *,
        person_id: str,
        acr: str | None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[BatchItem]:
        """Seal each document on its own: one bad document does not stop the others, and
        neither does a failure of the database, the cache or the key backend while one is
        sealed (that document's item says so, 503; the documents sealed before it keep
        their place in the result, as their uses are already in the audit trail)."""
        results: list[BatchItem] = []
        for index, request in enumerate(requests):
            try:
                results.append(
                    BatchItem(index, self.stamp(request, person_id=person_id, acr=acr), None)
                )
            except ProblemError as problem:
                results.append(BatchItem(index, None, problem.problem.to_dict()))
            except UNAVAILABLE as exc:
                log.warning("batch item %d not sealed: %s", index, type(exc).__name__)
                results.append(BatchItem(index, None, UNAVAILABLE_PROBLEM.to_dict()))
            except Exception:
                log.exception("batch item %d not sealed", index)
                results.append(BatchItem(index, None, FAILED_PROBLEM.to_dict()))
            if progress is not None:
                progress(index + 1, len(requests))
        return results
