"""The demo's SMS outbox: what the embedded sender "sent", shown only in development.

No SMS gateway is called by the embedded default (``OutboxSender`` writes ``outbox.jsonl``);
this page lets a person trying the demo read the one-time code they were sent. It does not
exist in any other environment.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import escape

from core.deps import ServicesDep
from core.errors.problem import ProblemError

router = APIRouter(include_in_schema=False)
SHOWN = 20


@router.get("/demo/outbox")
def outbox(request: Request, services: ServicesDep) -> HTMLResponse:
    if services.settings.environment != "development":
        raise ProblemError(404, "not-found", "Not Found")
    path = Path(services.settings.data_dir) / "outbox.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()[-SHOWN:] if path.exists() else []
    rows = []
    for line in reversed(lines):
        try:
            sms = json.loads(line)
        except ValueError:
            continue
        rows.append(
            f"<li><time>{escape(sms.get('time', ''))}</time> "
            f"{escape(sms.get('phone_masked', ''))}: {escape(sms.get('message', ''))}</li>"
        )
    body = "".join(rows) or "<li>（空）</li>"
    return HTMLResponse(
        '<!doctype html><html lang="zh-CN"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>短信发件箱（演示）</title><h1>短信发件箱（演示）</h1><ul>{body}</ul></html>",
        headers={"Cache-Control": "no-store"},
    )
