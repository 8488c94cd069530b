"""What the approver pages share: the person's grants and usable seals, the placement form,
uploaded PDFs, drafts, and the step-up check before a seal is used.

The registry stays the judge: these helpers only decide what to *offer*;
:meth:`seal.registry.SealRegistry.authorise_use` checks grant, seal status and level again
on every use, and records a refusal.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import UploadFile

from console.client import PREFIX
from console.deps import StepUpRequired, Viewer
from console.drafts import Draft, DraftStore
from core.errors.problem import ProblemError
from core.services import Services
from idp.oauth.sessions import loa_at_least
from seal import batch
from seal.models import Seal, SealGrant
from seal.registry import SealNotFound, SealRegistry
from seal.service import MAX_DOCUMENT_BYTES, StampingService
from seal.stamping.placement import AtAnchor, AtPosition

BATCH_BYTES = 60 * 1024 * 1024
"""All the documents of one console batch together (each at most 20 MiB)."""
STAMPING_CLAIM_SECONDS = 120
"""How long a request holds a draft at most (a stamping takes well under a second; a request
that dies holding it frees the draft when this runs out)."""


@dataclass(frozen=True)
class HeldGrant:
    grant: SealGrant
    seal: Seal
    state: str
    """``valid``, ``pending`` (starts later), ``expired`` or ``withdrawn``."""


def registry(services: Services) -> SealRegistry:
    return SealRegistry(services.sessions, services.keys, services.audit, services.keys.clock)


def stamping(services: Services) -> StampingService:
    return StampingService(registry(services), services.keys)


def drafts(services: Services) -> DraftStore:
    return DraftStore(services.cache, services.settings.secret_bytes)


def _state(grant: SealGrant, now: datetime) -> str:
    if grant.revoked_at is not None and grant.revoked_at <= now:
        return "withdrawn"
    if now >= grant.valid_until:
        return "expired"
    return "pending" if now < grant.valid_from else "valid"


def held_grants(services: Services, person_id: str) -> list[HeldGrant]:
    """Every grant the person ever held, the usable ones first, newest first."""
    seals = registry(services)
    now = seals.clock()
    with seals.sessions() as session:
        grants = seals.store.grants_of_person(session, person_id)
        rows = {g.seal_id: seals.store.seal_row(session, g.seal_id) for g in grants}
    held = [
        HeldGrant(g, row.to_seal(), _state(g, now))
        for g in grants
        if (row := rows[g.seal_id]) is not None
    ]
    held.sort(key=lambda h: (h.state != "valid", -h.grant.valid_from.timestamp()))
    return held


def usable_seals(services: Services, person_id: str) -> list[Seal]:
    """The seals the person may use now (active, in validity, with a valid grant)."""
    now = services.keys.clock()
    found: dict[str, Seal] = {}
    for held in held_grants(services, person_id):
        if held.state == "valid" and held.seal.usable_at(now):
            found.setdefault(held.seal.id, held.seal)
    return list(found.values())


def usable_seal(services: Services, person_id: str, seal_id: str) -> Seal:
    """One of the person's usable seals; any other id is "not found"."""
    for seal in usable_seals(services, person_id):
        if seal.id == seal_id:
            return seal
    raise SealNotFound()


def placement_of(spec: dict[str, Any]) -> AtAnchor | AtPosition:
    size = float(spec["size"])
    if spec.get("anchor"):
        return AtAnchor(text=str(spec["anchor"]), size=size)
    return AtPosition(page=int(spec["page"]), x=float(spec["x"]), y=float(spec["y"]), size=size)


def placement_spec(
    mode: str, anchor: str, page: int | None, x: float | None, y: float | None, size: float
) -> dict[str, Any] | None:
    """The placement a form asks for (``page`` counted from 1, as people do), or None when
    the form lacks what its mode needs."""
    if mode == "anchor":
        text = anchor.strip()
        return {"anchor": text, "size": size} if text else None
    if page is None or x is None or y is None:
        return None
    return {"page": page - 1, "x": x, "y": y, "size": size}


async def read_pdf(document: UploadFile) -> bytes:
    data = await document.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        raise ProblemError(413, "document-too-large", "The document is too large")
    return data


def owned_draft(services: Services, viewer: Viewer, draft_id: str) -> Draft:
    found = drafts(services).load(draft_id, viewer.person_id)
    if found is None:
        raise ProblemError(404, "not-found", "Not found")
    return found


@contextmanager
def held_draft(services: Services, draft_id: str) -> Iterator[bool]:
    """Hold the draft for this request alone while it is stamped or its seal moved: True
    for the one request that holds it (the cache's add is atomic), False while another does;
    let go at the end. Whoever holds it reads the draft again: the other may have sealed it."""
    claim = f"console:stamping:{draft_id}"
    held = services.cache.add(claim, b"1", ttl=STAMPING_CLAIM_SECONDS)
    try:
        yield held
    finally:
        if held:
            services.cache.delete(claim)  # the draft now says whether it is sealed


def _batch_claim(draft_id: str) -> str:
    return f"console:batch-job:{draft_id}"


def claim_batch(services: Services, draft_id: str) -> str | None:
    """Take the batch draft for one job: the new job's id for the one request that does
    (the cache's add is atomic), None when another request took it."""
    job_id = batch.new_job_id()
    taken = services.cache.add(_batch_claim(draft_id), job_id.encode(), batch.JOB_TTL_SECONDS)
    return job_id if taken else None


def started_batch(services: Services, draft_id: str) -> str | None:
    """The id of the job that took the batch draft, if one did (and is not forgotten)."""
    started = services.cache.get(_batch_claim(draft_id))
    return None if started is None else started.decode()


def require_level(viewer: Viewer, seal: Seal, back_to: str) -> None:
    """Step the login up when it is below the level the seal asks for."""
    if not loa_at_least(viewer.token.acr or "", seal.required_acr):
        raise StepUpRequired(seal.required_acr, f"{PREFIX}{back_to}")


def at_level(viewer: Viewer, seal: Seal) -> bool:
    return loa_at_least(viewer.token.acr or "", seal.required_acr)
