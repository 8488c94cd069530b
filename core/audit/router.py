"""HTTP access to the audit log for auditors: checkpoint, verifier key and proofs.

Proofs carry hashes only (RFC 9162 §2.1.3, §2.1.4); entries themselves are not served here.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from core.audit.checkpoint import verifier_key
from core.audit.trail import ProofRangeError
from core.db.engine import transaction
from core.deps import AuditDep, DbSession, ServicesDep
from core.errors import ProblemError

router = APIRouter(prefix="/audit", tags=["audit"])


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


class InclusionProofOut(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    proof: list[str]


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    proof: list[str]


def _range_problem(exc: ProofRangeError) -> ProblemError:
    return ProblemError(400, "proof-range", "Proof out of range", str(exc))


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    summary="The latest signed checkpoint (C2SP signed note)",
)
def get_checkpoint(services: ServicesDep) -> PlainTextResponse:
    with transaction(services.sessions) as session:
        note = services.audit.checkpoint(session)
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
        first=proof.first, second=proof.second, proof=[_b64(node) for node in proof.path]
    )
