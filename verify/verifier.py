"""Verify the text of a licence QR: decode, check the signature against the trust list,
check validity and expiry, then ask a status source. One function for the page, the API and
the offline command; only the status source differs (the registry online, a cached Token
Status List offline).

Order and precedence (FORMAT.md §Verification): an unreadable code or a signature that does
not verify ends the checks (``unreadable`` / ``not_genuine``: nothing in the payload can be
believed). Otherwise every later check runs and the verdict is the most serious finding:
revoked or print lost, superseded, expired, not yet valid, suspended, status unknown, valid.
Clock skew up to ``skew`` is tolerated in the verifier's favour of the holder at every time
comparison (a phone's clock is often minutes off).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from certs.lifecycle import CHINA, china_date
from verify.cose import CoseError, CoseSignatureError, decode_sign1, verify_sign1
from verify.payload import LicenceClaims, PayloadError, decode_claims
from verify.qr_text import QrTextError, payload_of
from verify.trust_list import TrustList
from verify.verdict import Check, LicenceView, StatusFinding, Verdict, Verification

DEFAULT_SKEW = timedelta(minutes=2)
SEVERITY = (
    Verdict.REVOKED,
    Verdict.PRINT_LOST,
    Verdict.SUPERSEDED,
    Verdict.EXPIRED,
    Verdict.NOT_YET_VALID,
    Verdict.SUSPENDED,
    Verdict.STATUS_UNKNOWN,
    Verdict.VALID,
)


class StatusSource(Protocol):
    def status_of(self, claims: LicenceClaims, now: datetime) -> StatusFinding: ...


def _unreadable(reason: str) -> Verification:
    return Verification(Verdict.UNREADABLE, (reason,), {Check.DECODE: False})


def _validity_findings(
    claims: LicenceClaims, now: datetime, skew: timedelta
) -> list[tuple[Verdict, str]]:
    findings: list[tuple[Verdict, str]] = []
    if claims.issued_at > now + skew:
        findings.append((Verdict.NOT_YET_VALID, "signed in the future: check this device's clock"))
    if china_date(now + skew) < claims.valid_from:
        findings.append((Verdict.NOT_YET_VALID, f"valid from {claims.valid_from.isoformat()}"))
    if claims.valid_until is not None and china_date(now - skew) > claims.valid_until:
        findings.append((Verdict.EXPIRED, f"expired after {claims.valid_until.isoformat()}"))
    if claims.expires_at is not None and now - skew > claims.expires_at:
        shown = claims.expires_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")
        findings.append(
            (Verdict.EXPIRED, f"this dynamic QR expired at {shown}: ask the holder to refresh it")
        )
    return findings


def verify_qr_text(
    text: str,
    trust: TrustList,
    status: StatusSource,
    now: datetime,
    skew: timedelta = DEFAULT_SKEW,
) -> Verification:
    try:
        message = decode_sign1(payload_of(text))
        claims = decode_claims(message.payload)
    except (QrTextError, CoseError, PayloadError) as exc:
        return _unreadable(str(exc))
    view = LicenceView.of(claims, trust)
    checks: dict[Check, bool | None] = {Check.DECODE: True}
    key = trust.by_cose_kid(message.kid or b"")
    reason = None
    if key is None:
        reason = "signed by a key that is not on the trust list"
    else:
        try:
            verify_sign1(message, key.public_key)
        except CoseSignatureError as exc:
            reason = f"the signature is not valid: {exc}"
        else:
            if not key.not_before - skew <= claims.issued_at <= key.not_after:
                reason = "signed outside the validity of its key's certificate"
    if reason is not None:
        checks[Check.SIGNATURE] = False
        return Verification(Verdict.NOT_GENUINE, (reason,), checks)
    assert key is not None
    checks[Check.SIGNATURE] = True
    findings = _validity_findings(claims, now, skew)
    checks[Check.EXPIRY] = not findings
    finding = status.status_of(claims, now)
    checks[Check.STATUS] = finding.verdict is Verdict.VALID
    if finding.verdict is not Verdict.VALID:
        findings.append((finding.verdict, finding.message))
    findings.sort(key=lambda item: SEVERITY.index(item[0]))
    verdict = findings[0][0] if findings else Verdict.VALID
    reasons = tuple(message for _, message in findings) or ("genuine and in force",)
    return Verification(
        verdict=verdict,
        reasons=reasons,
        checks=checks,
        licence=view,
        key_id=key.kid,
        signed_at=claims.issued_at,
        status_source=finding.source,
        status_as_of=finding.as_of,
        warnings=finding.warnings,
    )
