"""The PKI over HTTP: CA certificates, CRLs, OCSP, timestamps, JWKS and the trust bundle.

Media types: RFC 2585 §4 (``application/pkix-cert``, ``application/pkix-crl``), RFC 6960
§A.1 (``application/ocsp-request``/``-response``), RFC 3161 §3.4
(``application/timestamp-query``/``-reply``), RFC 7517 §8.5 (``application/jwk-set+json``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from cryptography.hazmat.primitives.serialization import Encoding
from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from core.deps import ServicesDep
from core.errors import ProblemError
from keys.revocation import Revocation, UnknownCertificate
from keys.trust import trust_bundle
from keys.tsa import TimeStampAuthority, TsaConfig

router = APIRouter(prefix="/pki", tags=["pki"])

KID = Annotated[str, Path(pattern=r"^[a-z0-9-]{1,64}$")]
OCSP_RESPONSE = "application/ocsp-response"
MAX_REQUEST = 64 * 1024


def _cached(content: bytes, media_type: str, seconds: int) -> Response:
    return Response(
        content, media_type=media_type, headers={"Cache-Control": f"public, max-age={seconds}"}
    )


def _unknown(kind: str, kid: str) -> ProblemError:
    return ProblemError(404, "unknown-ca", f"Unknown {kind}", f"no certificate authority {kid}")


async def _body(request: Request, media_type: str) -> bytes:
    # Media types compare case-insensitively (RFC 9110 §8.3.1).
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != media_type:
        raise ProblemError(
            415, "unsupported-media-type", "Unsupported media type", f"send {media_type}"
        )
    body = await request.body()
    if len(body) > MAX_REQUEST:
        raise ProblemError(413, "too-large", "Request too large")
    return body


@router.get(
    "/ca/{kid}.crt",
    response_class=Response,
    responses={200: {"content": {"application/pkix-cert": {}}}},
)
def ca_certificate(kid: KID, services: ServicesDep) -> Response:
    try:
        ca = Revocation(services.keys).ca(kid)
    except UnknownCertificate as exc:
        raise _unknown("CA certificate", kid) from exc
    assert ca.certificate is not None
    return _cached(ca.certificate.public_bytes(Encoding.DER), "application/pkix-cert", 86400)


@router.get(
    "/crl/{kid}.crl",
    response_class=Response,
    responses={200: {"content": {"application/pkix-crl": {}}}},
)
def crl(kid: KID, services: ServicesDep) -> Response:
    try:
        revocation_list = Revocation(services.keys).crl(kid)
    except UnknownCertificate as exc:
        raise _unknown("CRL issuer", kid) from exc
    return _cached(revocation_list.public_bytes(Encoding.DER), "application/pkix-crl", 300)


@router.post(
    "/ocsp",
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/ocsp-request": {"schema": {"type": "string", "format": "binary"}}
            }
        }
    },
    responses={200: {"content": {OCSP_RESPONSE: {}}}},
)
async def ocsp_post(request: Request, services: ServicesDep) -> Response:
    body = await _body(request, "application/ocsp-request")
    # off the event loop, as the GET form is: the answer reads the database, and the first
    # one to find a responder certificate near its end makes its key anew (a transaction)
    answer = await run_in_threadpool(lambda: Revocation(services.keys).responder().respond(body))
    return Response(answer, media_type=OCSP_RESPONSE)


@router.get(
    "/ocsp/{encoded:path}",
    response_class=Response,
    responses={200: {"content": {OCSP_RESPONSE: {}}}},
)
def ocsp_get(encoded: str, services: ServicesDep) -> Response:
    answer = Revocation(services.keys).responder().respond_to_path(encoded)
    return Response(answer, media_type=OCSP_RESPONSE, headers={"Cache-Control": "max-age=60"})


@router.post(
    "/tsa",
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/timestamp-query": {"schema": {"type": "string", "format": "binary"}}
            }
        }
    },
    responses={200: {"content": {"application/timestamp-reply": {}}}},
)
async def timestamp(request: Request, services: ServicesDep) -> Response:
    body = await _body(request, "application/timestamp-query")
    signer = services.keys.signer("tsa")
    chain = signer.certificate_chain()
    authority = TimeStampAuthority(signer, chain[0], chain[1:], TsaConfig(), services.keys.clock)
    return Response(authority.respond(body), media_type="application/timestamp-reply")


@router.get(
    "/jwks.json",
    summary="Token-signing keys (next, active, retired still valid)",
    response_class=Response,
    responses={200: {"content": {"application/jwk-set+json": {"schema": {"type": "object"}}}}},
)
def jwks(services: ServicesDep) -> Response:
    keys = [key.public_jwk() for key in services.keys.published("token")]
    return Response(
        content=json.dumps({"keys": keys}),
        media_type="application/jwk-set+json",
        headers={"Cache-Control": "public, max-age=300"},
    )


class TrustCertificate(BaseModel):
    kid: str
    purpose: str
    state: str
    not_before: datetime
    not_after: datetime
    pem: str


class TrustBundle(BaseModel):
    issuer: str
    generated_at: datetime
    certificates: list[TrustCertificate]
    jwks: dict[str, Any]
    audit_log: dict[str, Any]


@router.get(
    "/trust",
    response_model=TrustBundle,
    summary="Everything a relying party needs to verify offline",
)
def trust(services: ServicesDep) -> Response:
    bundle = trust_bundle(services.keys, services.audit.signer, services.audit.hasher.name)
    return Response(
        TrustBundle.model_validate(bundle).model_dump_json(),
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=300"},
    )
