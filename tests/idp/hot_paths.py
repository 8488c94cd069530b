"""Two apps over the same services, one with the OAuth hot path (idp/hotpath, the default)
and one without, and a spy that tells which requests the general path answered; shared by
the tests of the hot path and of what it answers."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.app import create_app
from core.services import Services
from idp.oauth import jws
from idp.routers import token as token_router

ISSUER = "https://govtrust.test"


@dataclasses.dataclass
class Paths:
    hot: TestClient
    general: TestClient
    calls: list[str]  # the general path's endpoints, in the order it answered


def both_paths(services: Services, monkeypatch: pytest.MonkeyPatch) -> Paths:
    calls: list[str] = []
    for name in ("_token", "_introspect"):
        original = getattr(token_router, name)

        def spy(*args: Any, _original: Any = original, _name: str = name) -> Any:
            calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(token_router, name, spy)
    without = dataclasses.replace(
        services, settings=services.settings.model_copy(update={"oauth_hot_path": False})
    )
    return Paths(
        TestClient(create_app(services=services), base_url=ISSUER),
        TestClient(create_app(services=without), base_url=ISSUER),
        calls,
    )


def claims_of(token: str) -> dict[str, Any]:
    """A JWT's claims, unverified."""
    return dict(json.loads(jws.b64url_decode(token.split(".")[1])))


def eventually(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
