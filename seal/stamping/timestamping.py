"""Signature time-stamps (RFC 3161) for PAdES B-T (ETSI EN 319 142-1 §6.3, level B-T: a
signature-time-stamp attribute, RFC 5652 unsigned attribute id-aa-timeStampToken).

:class:`InProcessTimeStamper` asks govtrust's own :class:`keys.tsa.TimeStampAuthority`
directly (no HTTP round trip inside the service); a URL gives pyHanko's HTTP client
(RFC 3161 §3.4, ``application/timestamp-query``).
"""

from __future__ import annotations

from typing import Protocol

from asn1crypto import tsp
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper, TimestampRequestError


class TimeStampResponder(Protocol):
    """Anything that answers a DER TimeStampReq with a DER TimeStampResp (RFC 3161 §2.4)."""

    def respond(self, request_der: bytes) -> bytes: ...


class InProcessTimeStamper(TimeStamper):
    """A pyHanko time-stamp client calling ``authority.respond`` in this process."""

    def __init__(self, authority: TimeStampResponder, include_nonce: bool = True) -> None:
        super().__init__(include_nonce=include_nonce)  # type: ignore[no-untyped-call]
        self._authority = authority

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        answer = self._authority.respond(req.dump())
        try:
            response = tsp.TimeStampResp.load(answer)
            _ = response["status"].native  # parse the status now (asn1crypto is lazy)
        except ValueError as exc:
            raise TimestampRequestError("the TSA answered with a malformed response") from exc
        return response


def make_timestamper(spec: TimeStamper | TimeStampResponder | str | None) -> TimeStamper | None:
    """A pyHanko time-stamper from a URL, a TSA object, or a ready time-stamper."""
    if spec is None or isinstance(spec, TimeStamper):
        return spec
    if isinstance(spec, str):
        if not spec.startswith(("http://", "https://")):
            raise ValueError(f"not a TSA URL: {spec!r}")
        return HTTPTimeStamper(spec, timeout=10)
    return InProcessTimeStamper(spec)
