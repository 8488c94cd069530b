"""Rendering the console's pages: one layout, Chinese or English, never cached, never framed.

Every page gets a strict Content Security Policy: scripts and styles from the console's own
static files only (no inline script), images from itself or ``data:`` (the dynamic QR),
forms posted to the service only, referrers sent to the service only, and no framing
(``frame-ancestors 'none'``, beside the ``X-Frame-Options: DENY`` that
:class:`core.app.SecurityHeaders` sends with everything).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from console.i18n import LANG_COOKIE, TEXT, language

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
CHINA = timezone(timedelta(hours=8), "CST")  # China Standard Time has no daylight saving
# the days a typed date is taken within: year 1 or 9999 in UTC overflows datetime
_EARLIEST_DAY, _LATEST_DAY = date(1900, 1, 1), date(9998, 12, 31)


def day_start(day: date) -> datetime:
    """The first moment of ``day`` in China, in UTC; a day before 1900 or after 9998 is
    taken as the nearest of those (nothing the service holds lies beyond them)."""
    day = min(max(day, _EARLIEST_DAY), _LATEST_DAY)
    return datetime.combine(day, datetime.min.time(), CHINA).astimezone(UTC)


def day_end(day: date) -> datetime:
    """The moment after ``day`` ends in China, in UTC (exclusive), as :func:`day_start`."""
    return day_start(day) + timedelta(days=1)


TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def when(value: datetime | date | None) -> str:
    """A moment in China time, to the minute (a date as it is)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


TEMPLATES.filters["when"] = when


def page_url(request: Request, number: int, **params: str) -> str:
    """This page's path with ``page=number`` (and ``params``) as its query."""
    query = {**params, "page": str(number)}
    return f"{request.url.path}?{urlencode(query)}"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    text = TEXT[lang]
    html = TEMPLATES.get_template(template).render(
        lang=lang,
        t=text,
        path=request.url.path,
        page_url=lambda number, **params: page_url(request, number, **params),
        **context,
    )
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CSP
    # same-origin, not the service's no-referrer: with no-referrer a browser posts forms
    # with "Origin: null", and the CSRF check wants the real origin (console.csrf)
    response.headers["Referrer-Policy"] = "same-origin"
    if request.query_params.get("lang") in TEXT:
        response.set_cookie(LANG_COOKIE, lang, max_age=31536000, samesite="lax")
    return response


def error_page(
    request: Request, status: int, key: str | None = None, *, login: bool = False
) -> HTMLResponse:
    """An error in the person's words: never a detail of what failed inside."""
    text = TEXT[language(request)]
    message = text.get(key or f"error.{status}") or text["error.400"]
    return render(request, "error.html", status=status, message=message, login=login)
