"""Batch stamping: many documents in one request, sealed in the background, with progress.

The job's state lives in the shared cache (Redis in production), so any worker can report
its progress; only the person who started a job can read it. Results (a zip of the sealed
PDFs and a per-document report) are kept for a short time only.
"""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from dataclasses import asdict, dataclass, field
from typing import Any

from core.cache.base import Cache
from seal.service import StampingService, StampRequest

JOB_TTL_SECONDS = 900
MAX_DOCUMENTS = 50


@dataclass
class JobState:
    id: str
    owner: str
    total: int
    done: int = 0
    finished: bool = False
    items: list[dict[str, Any]] = field(default_factory=list)


def _key(job_id: str) -> str:
    return f"seal-job:{job_id}"


def save(cache: Cache, state: JobState) -> None:
    cache.set(_key(state.id), json.dumps(asdict(state)).encode(), ttl=JOB_TTL_SECONDS)


def load(cache: Cache, job_id: str, owner: str) -> JobState | None:
    """The job, if it exists and belongs to ``owner`` (anyone else: None, as if missing)."""
    if len(job_id) > 64:
        return None
    raw = cache.get(_key(job_id))
    if raw is None:
        return None
    state = JobState(**json.loads(raw))
    return state if secrets.compare_digest(state.owner, owner) else None


def result(cache: Cache, job_id: str) -> bytes | None:
    return cache.get(_key(job_id) + ":zip")


def new_job_id() -> str:
    return secrets.token_urlsafe(16)


def start(cache: Cache, owner: str, total: int, job_id: str | None = None) -> JobState:
    """A new job of ``total`` documents (under ``job_id``, if it was chosen beforehand)."""
    state = JobState(id=job_id or new_job_id(), owner=owner, total=total)
    save(cache, state)
    return state


def run(
    cache: Cache,
    state: JobState,
    service: StampingService,
    requests: list[tuple[str, StampRequest]],
    *,
    person_id: str,
    acr: str | None,
) -> None:
    """Seal every document, updating the job after each one; then store the zip."""
    archive = io.BytesIO()
    names = [name for name, _ in requests]

    def progress(done: int, total: int) -> None:
        state.done = done
        save(cache, state)

    items = service.stamp_batch(
        [request for _, request in requests], person_id=person_id, acr=acr, progress=progress
    )
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for item in items:
            name = names[item.index]
            if item.stamped is not None:
                sealed_name = f"sealed/{item.index:03d}-{name}"
                bundle.writestr(sealed_name, item.stamped.pdf)
                state.items.append(
                    {
                        "index": item.index,
                        "name": name,
                        "ok": True,
                        "file": sealed_name,
                        "document_sha256": item.stamped.document_sha256,
                        "sealed_sha256": item.stamped.sealed_sha256,
                        "audit_index": item.stamped.audit_index,
                    }
                )
            else:
                state.items.append(
                    {"index": item.index, "name": name, "ok": False, "problem": item.error}
                )
        bundle.writestr("report.json", json.dumps(state.items, ensure_ascii=False, indent=2))
    cache.set(_key(state.id) + ":zip", archive.getvalue(), ttl=JOB_TTL_SECONDS)
    state.finished = True
    save(cache, state)
