"""HTTP access to the audit log for auditors: checkpoint, verifier key and proofs.

Proofs carry hashes only (RFC 9162 §2.1.3, §2.1.4); entries themselves are not served here.
Each proof names the log's tree hash (``hash_algorithm``: SHA-256 per RFC 6962 §2.1, or SM3
per GB/T 32905-2016), as does the checkpoint's signed ``hash`` line: an auditor verifies with
that function (RFC 9162 §4.1 log parameters).
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from core.audit.checkpoint import verifier_key
from core.audit.trail import ProofRangeError
from core.db.engine import transaction
from core.deps import AuditDep, DbSession, ServicesDep
from core.errors import ProblemError

router = APIRouter(prefix="/audit", tags=["audit"])


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


_HASH_ALGORITHM = Field(
    description="The tree hash to verify with: SHA-256 (RFC 6962) or SM3 (GB/T 32905); "
    "the same as the checkpoint's `hash` line.",
    examples=["SHA-256", "SM3"],
)


class InclusionProofOut(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    proof: list[str]
    hash_algorithm: str = _HASH_ALGORITHM


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    proof: list[str]
    hash_algorithm: str = _HASH_ALGORITHM


def _range_problem(exc: ProofRangeError) -> ProblemError:
    return ProblemError(400, "proof-range", "Proof out of range", str(exc))


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    summary="The latest signed checkpoint (C2SP signed note)",
)
def get_checkpoint(services: ServicesDep) -> PlainTextResponse:
    reuse = timedelta(seconds=services.settings.audit_checkpoint_seconds)
    with transaction(services.sessions) as session:
        note = services.audit.checkpoint(session, reuse_within=reuse)
    return PlainTextResponse(note, headers={"Cache-Control": "no-cache"})


@router.get(
    "/key",
    response_class=PlainTextResponse,
    summary="The signed-note verifier keys of the checkpoints, current first, one a line",
)
def get_verifier_key(audit: AuditDep) -> PlainTextResponse:
    keys = audit.signer.verifier_keys()
    return PlainTextResponse("".join(verifier_key(audit.signer.name, key) + "\n" for key in keys))


@router.get("/proof/inclusion", response_model=InclusionProofOut)
def get_inclusion_proof(
    session: DbSession,
    audit: AuditDep,
    leaf_index: Annotated[int, Query(ge=0)],
    tree_size: Annotated[int, Query(ge=1)],
) -> InclusionProofOut:
    try:
        proof = audit.inclusion_proof(session, leaf_index, tree_size)
    except ProofRangeError as exc:
        raise _range_problem(exc) from exc
    return InclusionProofOut(
        leaf_index=proof.leaf_index,
        tree_size=proof.tree_size,
        leaf_hash=_b64(proof.leaf_hash),
        proof=[_b64(node) for node in proof.path],
        hash_algorithm=proof.hash_algorithm,
    )


@router.get("/proof/consistency", response_model=ConsistencyProofOut)
def get_consistency_proof(
    session: DbSession,
    audit: AuditDep,
    first: Annotated[int, Query(ge=1)],
    second: Annotated[int, Query(ge=1)],
) -> ConsistencyProofOut:
    try:
        proof = audit.consistency_proof(session, first, second)
    except ProofRangeError as exc:
        raise _range_problem(exc) from exc
    return ConsistencyProofOut(
        first=proof.first,
        second=proof.second,
        proof=[_b64(node) for node in proof.path],
        hash_algorithm=proof.hash_algorithm,
    )
