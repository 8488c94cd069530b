"""The console's home page: who is logged in, and what they may do here."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.deps import CurrentViewer
from console.pages import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, viewer: CurrentViewer) -> Response:
    return render(request, "home.html", viewer=viewer)
