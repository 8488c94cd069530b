"""OpenID Provider metadata (OpenID Connect Discovery 1.0 §3; RFC 8414 §2)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from idp.clients.channels import CIBA, DEVICE_CODE, TOKEN_EXCHANGE
from idp.oauth.endpoint_auth import (
    INTROSPECTION_AUTH_METHODS,
    REVOCATION_AUTH_METHODS,
    TOKEN_AUTH_METHODS,
)
from idp.oauth.request_object import ALGORITHMS as REQUEST_OBJECT_ALGORITHMS
from idp.oauth.server import SCOPES_SUPPORTED
from idp.oauth.sessions import LOA_ORDER
from idp.routers.interaction_forms import ProviderDep

router = APIRouter(tags=["openid-connect"])


@router.get("/.well-known/openid-configuration", summary="OpenID Provider metadata")
def openid_configuration(provider: ProviderDep) -> JSONResponse:
    issuer = provider.ctx.issuer
    algorithms = sorted({key.key_type.jose_alg for key in provider.ctx.keys.published("token")})
    metadata: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/pki/jwks.json",
        "introspection_endpoint": f"{issuer}/introspect",
        "revocation_endpoint": f"{issuer}/revoke",
        "end_session_endpoint": f"{issuer}/logout",
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        "device_authorization_endpoint": f"{issuer}/device_authorization",  # RFC 8628 §4
        # OpenID Connect CIBA Core §4
        "backchannel_authentication_endpoint": f"{issuer}/bc-authorize",
        "backchannel_token_delivery_modes_supported": ["poll", "ping"],
        "backchannel_user_code_parameter_supported": False,
        "backchannel_authentication_request_signing_alg_values_supported": [],
        "dpop_signing_alg_values_supported": ["ES256", "RS256", "PS256", "EdDSA"],
        "require_pushed_authorization_requests": False,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            DEVICE_CODE,
            TOKEN_EXCHANGE,
            CIBA,
        ],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": algorithms,
        "userinfo_signing_alg_values_supported": [],
        "token_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256", "EdDSA"],
        "introspection_endpoint_auth_methods_supported": INTROSPECTION_AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": REVOCATION_AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": list(LOA_ORDER),
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "act",
            "name",
            "id_number_masked",
            "id_number",
            "phone_number",
            "phone_number_verified",
            "org_name",
            "org_uscc",
            "org_role",
        ],
        "claims_parameter_supported": False,
        "request_parameter_supported": True,  # RFC 9101, by value; also inside PAR
        "request_object_signing_alg_values_supported": list(REQUEST_OBJECT_ALGORITHMS),
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "ui_locales_supported": ["zh-CN", "en"],
    }
    return JSONResponse(metadata, headers={"Cache-Control": "public, max-age=300"})
