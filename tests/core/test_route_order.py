"""The order of the routers (core/app.py): FastAPI matches a request against the routes in
order, and each route passed costs about 1.5 µs (a POST /verify matched behind the 110
routes before it took 200 µs, bench/PROFILE.md). The public verification endpoints come
right after the health checks, and none of their paths shadows a route of another router."""

from __future__ import annotations

import re

from fastapi import FastAPI
from starlette.routing import Route

from core import health
from core.app import create_app
from core.services import Services
from verify import router as verify_router


def included_routers(app: FastAPI) -> list[object]:
    return [r.original_router for r in app.router.routes if hasattr(r, "original_router")]


def concrete(path: str) -> str:
    """A path the route template matches: each parameter filled in."""
    return re.sub(r"{[^}]+}", "x", path)


def test_verification_is_matched_right_after_the_health_checks(services: Services) -> None:
    routers = included_routers(create_app(services=services))
    assert routers[:2] == [health.router, verify_router.router]


def test_the_verification_paths_shadow_no_other_route(services: Services) -> None:
    app = create_app(services=services)
    verification = [r for r in verify_router.router.routes if isinstance(r, Route)]
    others = [
        route
        for router in included_routers(app)
        if router is not verify_router.router
        for route in router.routes  # type: ignore[attr-defined]
        if isinstance(route, Route)
    ]
    assert len(others) > 100
    for route in others:
        for early in verification:
            same_method = not (route.methods or set()).isdisjoint(early.methods or set())
            shadowed = same_method and early.path_regex.match(concrete(route.path))
            assert not shadowed, (early.path, route.path)
