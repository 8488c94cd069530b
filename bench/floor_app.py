"""The Python floor: a bare ASGI app that answers every request with a constant token-sized
JSON body, served by the same uvicorn (httptools, one worker, no access log) that serves
govtrust. ``bench/run.py`` measures it with wrk like the load generator's ceiling: what any
Python service on uvicorn reaches on this machine before doing any work of its own (no
framework, no authentication, no signature, no row, no log line).

    python -m uvicorn floor_app:app --app-dir bench --port 8000 --no-access-log
"""

from __future__ import annotations

from typing import Any

# the size of a govtrust client-credentials answer (an ES256 JWT of about 480 bytes)
BODY = b'{"access_token":"' + b"x" * 480 + b'","token_type":"Bearer","expires_in":300}'
HEADERS = [
    (b"content-type", b"application/json"),
    (b"cache-control", b"no-store"),
    (b"content-length", str(len(BODY)).encode()),
]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
