"""`govtrust serve --demo` on the embedded default, as a person would run it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_demo_answers_health_and_readiness(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVTRUST_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "core", "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "service did not start"
            time.sleep(0.2)
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["status"] == "ok"
        assert httpx.get(f"{base}/nope?state=s3cret", timeout=5).headers["content-type"] == (
            "application/problem+json"
        )
    finally:
        process.terminate()
        output = process.communicate(timeout=15)[0].decode()
    assert (tmp_path / "var" / "govtrust.db").exists()
    demo = json.loads((tmp_path / "var" / "demo.json").read_text())
    assert demo["service"]["health"].endswith("/healthz")
    assert oct((tmp_path / "var" / "demo.json").stat().st_mode & 0o777) == "0o600"
    entries = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    # one access line per request, the service's own (core.access_log), not uvicorn's
    access = [
        (e["method"], e["path"], e["status"]) for e in entries if e["logger"] == "govtrust.access"
    ]
    assert access.count(("GET", "/readyz", 200)) == access.count(("GET", "/nope", 404)) == 1
    assert not [e for e in entries if e["logger"] == "uvicorn.access"]
    assert "s3cret" not in output
