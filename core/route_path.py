"""The path an ASGI request names below the app's root, for middleware that routes by path."""

from __future__ import annotations

from starlette.types import Scope


def route_path(scope: Scope) -> str:
    """The path below the app's root (a proxy's prefix, ``root_path``; ASGI HTTP scope)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
