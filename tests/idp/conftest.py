"""Fixtures shared by the provider's tests: a world of people and clients, and a browser."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from core.app import create_app
from core.services import Services
from tests.idp.oidc_helpers import World, build_world


@pytest.fixture
def world(services: Services) -> World:
    return build_world(services)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    """A browser-like client of the app, on the issuer's https origin."""
    yield TestClient(create_app(services=services), base_url="https://govtrust.test")
