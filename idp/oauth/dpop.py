"""DPoP proofs (RFC 9449): sender-constrained access and refresh tokens.

A proof is a JWT signed by the client's key, whose public JWK is in its header (§4.2):
``typ`` ``dpop+jwt``, an asymmetric ``alg``, claims ``jti``, ``htm``, ``htu`` (without
query and fragment, §4.3 item 9), ``iat`` close to now, ``ath`` (the access token's SHA-256,
§4.3 item 11) when presented with a token, and the server's ``nonce`` when it asks for one
(§8). A ``jti`` is accepted once (§11.1), tracked in the shared cache. Tokens are bound to
the key's RFC 7638 thumbprint (``cnf.jkt``, §6.1).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from core.cache.base import Cache

ALGORITHMS = ("ES256", "RS256", "PS256", "EdDSA")
IAT_WINDOW_SECONDS = 60
MAX_PROOF_LENGTH = 8192


class InvalidDpopProof(ValueError):
    """``invalid_dpop_proof`` (RFC 9449 §5 at the token endpoint, §7.1 at resources)."""


class DpopNonceRequired(InvalidDpopProof):
    """``use_dpop_nonce`` (RFC 9449 §8, §9): the proof lacks the server's current nonce."""


@dataclass(frozen=True)
class DpopProof:
    jkt: str
    jti: str
    claims: dict[str, Any]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 §3: SHA-256 of the required members, sorted, no whitespace."""
    required = {
        "EC": ("crv", "kty", "x", "y"),
        "RSA": ("e", "kty", "n"),
        "OKP": ("crv", "kty", "x"),
    }.get(str(jwk.get("kty")))
    if required is None or any(name not in jwk for name in required):
        raise InvalidDpopProof("unsupported or incomplete jwk")
    canonical = json.dumps(
        {name: jwk[name] for name in required}, separators=(",", ":"), sort_keys=True
    )
    return _b64(hashlib.sha256(canonical.encode()).digest())


def access_token_hash(token: str) -> str:
    return _b64(hashlib.sha256(token.encode("ascii")).digest())


def normalise_htu(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, "", ""))


def _public_key(jwk: dict[str, Any]) -> ECKey | RSAKey | OKPKey:
    if any(name in jwk for name in ("d", "p", "q", "dp", "dq", "qi", "k")):
        raise InvalidDpopProof("the jwk must be a public key")
    loader = {"EC": ECKey, "RSA": RSAKey, "OKP": OKPKey}.get(str(jwk.get("kty")))
    if loader is None:
        raise InvalidDpopProof("unsupported key type")
    try:
        return loader.import_key(jwk)  # type: ignore[attr-defined,no-any-return]
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidDpopProof("malformed jwk") from exc


def verify_proof(
    proof: str,
    *,
    method: str,
    url: str,
    cache: Cache,
    now: Callable[[], datetime],
    access_token: str | None = None,
    nonce: str | None = None,
    nonce_check: Callable[[object], bool] | None = None,
) -> DpopProof:
    """Check one proof (RFC 9449 §4.3) and record its ``jti``; raise InvalidDpopProof."""
    if not proof or len(proof) > MAX_PROOF_LENGTH or proof.count(".") != 2:
        raise InvalidDpopProof("malformed proof")
    try:
        header = json.loads(base64.urlsafe_b64decode(proof.split(".")[0] + "=="))
    except ValueError as exc:
        raise InvalidDpopProof("malformed header") from exc
    if not isinstance(header, dict) or header.get("typ") != "dpop+jwt":
        raise InvalidDpopProof("typ must be dpop+jwt")
    if header.get("alg") not in ALGORITHMS:
        raise InvalidDpopProof("unsupported alg")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise InvalidDpopProof("jwk header missing")
    key = _public_key(jwk)
    try:
        verified = jws.deserialize_compact(proof, key, algorithms=[str(header["alg"])])
        claims = json.loads(verified.payload)
    except (JoseError, ValueError) as exc:
        raise InvalidDpopProof("signature does not verify") from exc
    if not isinstance(claims, dict):
        raise InvalidDpopProof("claims must be an object")
    jti, htm, htu, iat = (claims.get(name) for name in ("jti", "htm", "htu", "iat"))
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise InvalidDpopProof("jti missing")
    if htm != method.upper():
        raise InvalidDpopProof("htm does not match the request")
    if not isinstance(htu, str) or normalise_htu(htu) != normalise_htu(url):
        raise InvalidDpopProof("htu does not match the request")
    if not isinstance(iat, int | float) or abs(now().timestamp() - iat) > IAT_WINDOW_SECONDS:
        raise InvalidDpopProof("iat is not recent")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise InvalidDpopProof("ath does not match the access token")
    if nonce is not None and claims.get("nonce") != nonce:
        raise DpopNonceRequired("use_dpop_nonce")
    if nonce_check is not None and not nonce_check(claims.get("nonce")):
        raise DpopNonceRequired("use_dpop_nonce")
    jkt = thumbprint(jwk)
    if not cache.add(f"dpop-jti:{jkt}:{jti}", b"1", ttl=2 * IAT_WINDOW_SECONDS):
        raise InvalidDpopProof("proof replayed")
    return DpopProof(jkt, jti, claims)


def check_presentation(
    claims: dict[str, Any],
    *,
    scheme: str,
    token: str,
    proof: str | None,
    method: str,
    url: str,
    cache: Cache,
    now: Callable[[], datetime],
    nonce_check: Callable[[object], bool] | None = None,
) -> str | None:
    """At a protected resource (RFC 9449 §7): a DPoP-bound token only with the DPoP scheme
    and a proof by its key for this request; an unbound token only as a Bearer token.
    Returns the reason it is refused (exactly ``use_dpop_nonce`` when the proof lacks the
    server's nonce, §9), or None."""
    cnf = claims.get("cnf")
    bound = isinstance(cnf, dict) and isinstance(cnf.get("jkt"), str)
    if not bound:
        return None if scheme == "bearer" else "the token is not DPoP-bound"
    if scheme != "dpop":
        return "a DPoP-bound token must be sent with the DPoP scheme and a proof"
    if not proof:
        return "DPoP proof missing"
    try:
        checked = verify_proof(
            proof,
            method=method,
            url=url,
            cache=cache,
            now=now,
            access_token=token,
            nonce_check=nonce_check,
        )
    except InvalidDpopProof as exc:
        return str(exc)
    if checked.jkt != cnf["jkt"]:  # type: ignore[index]
        return "the proof is not signed by the token's key"
    return None
