"""HTTP: the verification page a phone camera opens from a licence QR, the JSON API with the
same verdict, and what offline verifiers download (status list, trust list).

``/V/{text}`` is the path inside every licence QR (``verify.qr_text``); it answers a page in
Chinese (English with ``?lang=en`` or an English ``Accept-Language``) that says in one line
whether the licence is valid, with the minimum of data. ``POST /verify`` takes the scanned
text in the body, never in a URL.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field

from certs.service import LicenceService
from core.deps import ServicesDep
from core.errors.problem import ProblemError
from verify import status_list, trust_list
from verify.publication import PublicationPolicy, Publisher
from verify.reasons_zh import reason_zh
from verify.service import VerificationService
from verify.signing import LicenceAlgorithm
from verify.verdict import Verdict, Verification
from verify.verifier import DEFAULT_SKEW

router = APIRouter(tags=["verification"])
MAX_QR_TEXT = 4096


async def verification_service(services: ServicesDep) -> VerificationService:
    """Async though it awaits nothing: FastAPI runs a plain ``def`` dependency in the thread
    pool, a trip that cost every verification more than building these objects does."""
    clock = services.keys.clock
    policy = PublicationPolicy(refresh_seconds=services.settings.status_list_refresh_seconds)
    publisher = Publisher(
        services.settings.issuer,
        services.sessions,
        services.keys,
        services.cache,
        clock,
        policy,
        algorithm=LicenceAlgorithm(services.settings.licence_algorithm),
    )
    registry = LicenceService(services.sessions, services.identifiers, services.audit, clock)
    return VerificationService(publisher, registry, clock)


VerifierDep = Annotated[VerificationService, Depends(verification_service)]


class VerifyIn(BaseModel):
    qr: str = Field(min_length=1, max_length=MAX_QR_TEXT, description="The scanned QR text")


class LicenceViewOut(BaseModel):
    identifier: str
    version: int
    kind: str
    type_name: str
    holder_name: str
    issuer_name: str
    valid_from: date
    valid_until: date | None


class VerificationOut(BaseModel):
    """One verdict (``valid`` only when every check passed), the reasons in words, and each
    check's result (null when not reached)."""

    verdict: Verdict
    valid: bool
    reasons: list[str]
    checks: dict[str, bool | None]
    licence: LicenceViewOut | None
    key_id: str | None
    signed_at: datetime | None
    status_source: str | None
    status_as_of: datetime | None
    warnings: list[str]
    clock_skew_tolerance_seconds: int

    @classmethod
    def of(cls, result: Verification) -> VerificationOut:
        licence = result.licence
        return cls(
            verdict=result.verdict,
            valid=result.is_valid,
            reasons=list(result.reasons),
            checks={check.value: value for check, value in result.checks.items()},
            licence=None
            if licence is None
            else LicenceViewOut(
                identifier=licence.identifier,
                version=licence.version,
                kind=licence.kind,
                type_name=licence.type_name,
                holder_name=licence.holder_name,
                issuer_name=licence.issuer_name,
                valid_from=licence.valid_from,
                valid_until=licence.valid_until,
            ),
            key_id=result.key_id,
            signed_at=result.signed_at,
            status_source=result.status_source,
            status_as_of=result.status_as_of,
            warnings=list(result.warnings),
            clock_skew_tolerance_seconds=int(DEFAULT_SKEW.total_seconds()),
        )


@router.post("/verify", summary="Verify a scanned licence QR (anyone)")
async def verify(body: VerifyIn, verifier: VerifierDep) -> VerificationOut:
    result = await run_in_threadpool(verifier.verify_online, body.qr)
    return VerificationOut.of(result)


def _signed_document(
    token: str, media_type: str, max_age: int, if_none_match: str | None
) -> Response:
    etag = '"' + hashlib.sha256(token.encode()).hexdigest()[:32] + '"'
    headers = {"Cache-Control": f"public, max-age={max_age}", "ETag": etag}
    if if_none_match is not None and etag in [tag.strip() for tag in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(token, media_type=media_type, headers=headers)


@router.get(
    "/verify/status-lists/{number}",
    response_class=Response,
    summary="The licence status list (IETF Token Status List, statuslist+jwt)",
    responses={200: {"content": {status_list.MEDIA_TYPE: {}}}, 304: {}},
)
async def get_status_list(
    number: int,
    verifier: VerifierDep,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    if number != 1:
        raise ProblemError(404, "status-list-not-found", "No such status list")
    publisher = verifier.publisher
    token = await run_in_threadpool(publisher.status_list_token)
    return _signed_document(
        token, status_list.MEDIA_TYPE, publisher.policy.refresh_seconds, if_none_match
    )


@router.get(
    "/verify/trust-list",
    response_class=Response,
    summary="Licence-signing keys, certificates and code names (trustlist+jwt)",
    responses={200: {"content": {trust_list.MEDIA_TYPE: {}}}, 304: {}},
)
async def get_trust_list(
    verifier: VerifierDep, if_none_match: Annotated[str | None, Header()] = None
) -> Response:
    publisher = verifier.publisher
    token = await run_in_threadpool(publisher.trust_list_token)
    return _signed_document(
        token, trust_list.MEDIA_TYPE, publisher.policy.trust_list_refresh_seconds, if_none_match
    )


PAGES = Environment(
    loader=FileSystemLoader(FilePath(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
TEXT: dict[str, dict[str, Any]] = {
    "zh": {
        "title": "电子证照核验",
        "verdicts": {
            "valid": "有效",
            "suspended": "已暂扣",
            "revoked": "已注销",
            "superseded": "已被新版本取代",
            "print_lost": "该纸质证照已挂失",
            "expired": "已过期",
            "not_yet_valid": "尚未生效",
            "status_unknown": "状态无法确认",
            "not_genuine": "非真实证照",
            "unreadable": "无法识别的二维码",
        },
        "type": "证照类型",
        "holder": "持证主体",
        "issuer": "颁发机构",
        "identifier": "证照标识",
        "version": "版本",
        "validity": "有效期",
        "long_term": "长期",
        "kind": {"electronic": "电子证照", "print": "纸质证照", "dynamic": "亮证码"},
        "checked": "核验时间",
        "other": "English",
    },
    "en": {
        "title": "Licence verification",
        "verdicts": {
            "valid": "Valid",
            "suspended": "Suspended",
            "revoked": "Revoked",
            "superseded": "Superseded by a newer version",
            "print_lost": "This paper copy was reported lost",
            "expired": "Expired",
            "not_yet_valid": "Not yet valid",
            "status_unknown": "Status cannot be confirmed",
            "not_genuine": "Not genuine",
            "unreadable": "Unreadable code",
        },
        "type": "Licence type",
        "holder": "Holder",
        "issuer": "Issued by",
        "identifier": "Identifier",
        "version": "Version",
        "validity": "Valid",
        "long_term": "long-term",
        "kind": {"electronic": "electronic licence", "print": "paper print", "dynamic": "live QR"},
        "checked": "Checked at",
        "other": "中文",
    },
}


def _language(lang: str | None, accept_language: str | None) -> str:
    if lang in TEXT:
        return lang
    first = (accept_language or "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "zh"


@router.get("/V/{text:path}", response_class=HTMLResponse, include_in_schema=False)
async def verification_page(
    text: str,
    request: Request,
    verifier: VerifierDep,
    lang: str | None = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    """The page a phone camera opens from a licence QR."""
    language = _language(lang, accept_language)
    raw_path = request.scope.get("raw_path")
    if isinstance(raw_path, bytes) and b"/V/" in raw_path:
        # decode the escapes exactly once, whatever the server did to the path already
        text = unquote(raw_path.decode("latin-1").split("/V/", 1)[1])
    result = await run_in_threadpool(verifier.verify_online, text[:MAX_QR_TEXT])
    translate = reason_zh if language == "zh" else str
    html = PAGES.get_template("verify.html").render(
        result=result,
        reasons=[translate(reason) for reason in (*result.reasons, *result.warnings)],
        text=TEXT[language],
        language=language,
        other_language="en" if language == "zh" else "zh",
        path=quote(request.url.path, safe="/:$*+-."),
        checked_at=verifier.clock(),
    )
    return HTMLResponse(
        html,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
