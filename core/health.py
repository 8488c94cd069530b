"""Liveness, readiness and metrics endpoints for the load balancer and Prometheus."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from core.cache import CacheUnavailable
from core.db.engine import ping
from core.deps import ServicesDep
from core.errors.handlers import problem_response
from core.errors.problem import Problem, problem_type

router = APIRouter(tags=["health"])
log = logging.getLogger("govtrust.health")


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: the database and the cache answer",
    responses={503: {"description": "A dependency is down (problem+json)"}},
)
def readyz(services: ServicesDep) -> Response:
    checks: dict[str, str] = {}
    try:
        ping(services.engine)
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means "not ready"
        log.warning("readiness: database down: %s", type(exc).__name__)
        checks["database"] = "unavailable"
    try:
        services.cache.ping()
        checks["cache"] = "ok"
    except CacheUnavailable:
        checks["cache"] = "unavailable"
    if all(value == "ok" for value in checks.values()):
        return JSONResponse(Readiness(status="ok", checks=checks).model_dump())
    return problem_response(
        Problem(
            status=503,
            title="Not ready",
            type=problem_type("not-ready"),
            detail="A dependency is unavailable.",
            extensions={"checks": checks},
        ),
        headers={"Retry-After": "5"},
    )


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    rendered: Response = request.app.state.metrics.render()
    return rendered
