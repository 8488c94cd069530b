"""Liveness, readiness (database and cache) and Prometheus metrics."""

from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient

from core.app import create_app
from core.cache import RedisCache
from core.db.engine import make_engine
from core.services import Services


def test_live_and_ready(services: Services) -> None:
    client = TestClient(create_app(services=services))
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}


def test_not_ready_when_the_cache_is_down(services: Services) -> None:
    broken = replace(services, cache=RedisCache("redis://127.0.0.1:1/0"))
    response = TestClient(create_app(services=broken)).get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["checks"] == {"database": "ok", "cache": "unavailable"}
    broken.cache.close()


def test_not_ready_when_the_database_is_down(services: Services) -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none")
    broken = replace(services, engine=engine)
    response = TestClient(create_app(services=broken)).get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unavailable"
    engine.dispose()


def test_metrics_label_routes_by_template(services: Services) -> None:
    client = TestClient(create_app(services=services))
    client.get("/healthz")
    client.get("/healthz")  # the series each request counts in are kept: counted twice
    client.get("/audit/proof/inclusion?leaf_index=0&tree_size=100000")
    client.get("/no-such-page")
    text = client.get("/metrics").text
    assert 'govtrust_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in text
    assert 'duration_seconds_count{method="GET",route="/healthz"} 2.0' in text
    assert 'route="/audit/proof/inclusion",status="400"' in text
    assert 'route="unmatched",status="404"' in text
    assert "/no-such-page" not in text
