"""One measured run of a single-request scenario, driven by wrk instead of httpx.

Why: ``loadgen.py`` (asyncio + httpx) tops out at about 1,600-1,800 requests/s on the 2-core
benchmark machine (its *ceiling* against a trivial server), below what oidc-provider and
govtrust reach on ``client_credentials`` and ``introspection``: there it measured itself.
wrk (C, epoll) sends the same requests for a fraction of the CPU. ``login`` (multi-step, a
browser's pages) stays with ``loadgen.py``; ``refresh`` comes here too, since loadgen spent
more CPU on each refresh than either server did (1.3-1.5 ms against 0.8-1.2 ms, two
cores shared by all three), so that its rate said more about the load generator than about
the servers.

The requests are loadgen's: ``POST``, form body (``grant_type``, ``scope``, ``cc_params``;
or the ``token`` to introspect, issued once before the run with ``introspect_token_params``;
or ``grant_type=refresh_token`` and a refresh token, below),
``Content-Type: application/x-www-form-urlencoded``, ``Accept: */*``, the service client's
HTTP Basic auth as httpx builds it (refresh: the web client's). No ``Accept-Encoding`` (wrk
would not decompress).

Refresh rotates its token, so each request spends a refresh token that an earlier answer
returned, as loadgen's chains do. Before each wrk process (the warm-up, then the measured
run), one login per connection (``loadgen.Driver.login``: authorization code + PKCE, the
password's hash verified; not timed) fills a pool of refresh tokens; ``request()`` takes one
from the pool, ``response()`` puts back the one a successful answer returned. wrk calls
``request()`` once before connecting, to count the requests it returns (that call takes no
token), and then for a connection only after the answer to its previous request, so each
of the ``concurrency`` connections always finds a token. A failed answer loses its chain
(an error), and a request that then finds the pool empty sends a token that cannot be valid
(an error too).

What it measures: ``wrk -t1 -c<concurrency> --latency`` (one thread, so at most one core;
one keep-alive connection per worker, closed loop), a separate uncounted run of ``warmup``
s, then ``duration`` s (whole seconds). The Lua script counts successes in ``response()``
as loadgen does (200 with ``access_token``; 200 with ``"active": true``; ceiling: 200) and
``done()`` prints one JSON line (counts, p50/p99 in µs, socket errors, a few failed answers).
Unlike loadgen, the percentiles cover every answer, and what is in flight when the window
closes is not counted (unanswered after ``TIMEOUT``: a wrk timeout error). The servers' CPU
comes from ``/proc`` just before and after the measured wrk process.

    python bench/wrk_load.py --target target.json --scenario client_credentials
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from cpu_time import cpu_seconds, machine_busy_seconds
from loadgen import Driver, IterationError

SCENARIOS = ("client_credentials", "introspection", "refresh", "ceiling")
TIMEOUT = "5s"  # loadgen abandons what is unanswered 5 s after its window
MARK = "WRK_RESULT "
LUA = r"""
wrk.method = "POST"
wrk.body = %(body)s
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "*/*"
%(auth)s
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = 0; msgs = {}; kinds = 0 end
function response(status, headers, body)
  if status == 200 %(check)s then ok = ok + 1; return end
  bad = bad + 1
  local m = "HTTP " .. status .. ": " .. string.sub(body or "", 1, 160)
  if msgs[m] then msgs[m] = msgs[m] + 1 elseif kinds < 5 then msgs[m] = 1; kinds = kinds + 1 end
end
local function q(s)
  return '"' .. s:gsub('[%%c"\\\128-\255]', function(c)
    return string.format("\\u%%04x", c:byte()) end) .. '"'
end
function done(summary, latency, requests)
  local n_ok, n_bad, parts = 0, 0, {}
  for _, t in ipairs(threads) do
    n_ok = n_ok + t:get("ok"); n_bad = n_bad + t:get("bad")
    for m, c in pairs(t:get("msgs")) do table.insert(parts, q(m) .. ":" .. c) end
  end
  local e = summary.errors
  io.write(string.format('%(mark)s{"ok":%%d,"bad":%%d,"requests":%%d,"duration_us":%%d,' ..
    '"p50_us":%%d,"p99_us":%%d,"connect":%%d,"read":%%d,"write":%%d,"timeout":%%d,' ..
    '"messages":{%%s}}\n', n_ok, n_bad, summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.connect, e.read, e.write, e.timeout,
    table.concat(parts, ",")))
end
"""
CHECKS = {
    "client_credentials": 'and string.find(body, "access_token", 1, true)',
    "introspection": "and (string.find(body, '\"active\":true', 1, true)"
    " or string.find(body, '\"active\": true', 1, true))",
    "refresh": 'and string.find(body, "access_token", 1, true) and fresh',
    "ceiling": "",
}
# refresh: a pool of refresh tokens, each spent once (the module's docstring)
REFRESH_LUA = r"""
local pool = {%(tokens)s}
local counted = false
function request()
  -- wrk's first call, before any connection, only counts the requests returned
  if not counted then counted = true; return wrk.format(nil, nil, nil, "") end
  local token = table.remove(pool) or "pool-empty"
  local escaped = token:gsub("[^%%w%%-%%._~]", function(c)
    return string.format("%%%%%%02X", c:byte()) end)
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. escaped)
end
local respond = response
function response(status, headers, body)
  fresh = nil
  if status == 200 then
    fresh = string.match(body or "", '"refresh_token"%%s*:%%s*"([^"]+)"')
    if fresh then table.insert(pool, fresh) end
  end
  respond(status, headers, body)
end
"""


def wrk_path() -> str:
    """wrk's path, or exit naming the Debian package."""
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit(
            "wrk is not installed: apt-get install wrk (Debian package `wrk`), "
            "or run with --loadgen httpx"
        )
    return found


def version() -> str:
    """wrk's version (``wrk --version`` prints it, then exits with 1)."""
    words = subprocess.run(
        [wrk_path(), "--version"], capture_output=True, text=True, check=False
    ).stdout.split()
    return words[1] if len(words) > 1 else "?"


def lua_string(text: str) -> str:
    return json.dumps(text)  # ASCII only (ensure_ascii), so also a valid Lua string literal


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def request_of(target: dict[str, Any], scenario: str) -> tuple[str, dict[str, str], str | None]:
    """URL, form body and Authorization header, as ``loadgen.Driver`` sends them (refresh:
    no body, ``request()`` makes each)."""
    base, service = target["base"].rstrip("/"), target["service"]
    auth = basic(service["client_id"], service["client_secret"])
    if scenario == "ceiling":
        return target["ceiling_url"], {"grant_type": "ping"}, None
    if scenario == "client_credentials":
        form = {
            "grant_type": "client_credentials",
            "scope": service["scope"],
            **target.get("cc_params", {}),
        }
        return base + target["token_path"], form, auth
    if scenario == "refresh":
        web = target["web"]
        return base + target["token_path"], {}, basic(web["client_id"], web["client_secret"])
    params = target.get("introspect_token_params", target.get("cc_params", {}))
    issued = httpx.post(
        base + target["token_path"],
        data={"grant_type": "client_credentials", "scope": service["scope"], **params},
        auth=(service["client_id"], service["client_secret"]),
        timeout=60,
    )
    token = issued.json().get("access_token") if issued.status_code == 200 else None
    if not token:
        raise RuntimeError(f"HTTP {issued.status_code} {issued.text[:160]!r}")
    return base + target["introspect_path"], {"token": str(token)}, auth


def refresh_tokens(target: dict[str, Any], count: int) -> list[str]:
    """``count`` refresh tokens, one login each (``loadgen.Driver.login``, side by side)."""

    async def logins() -> list[str]:
        driver = Driver(target, count)
        try:
            bodies = await asyncio.gather(*(driver.login(client) for client in driver.clients))
        finally:
            await driver.close()
        return [str(body["refresh_token"]) for body in bodies]

    return asyncio.run(logins())


def script_of(
    target: dict[str, Any], scenario: str, form: dict[str, str], auth: str | None, concurrency: int
) -> str:
    """The Lua script of one wrk process (refresh: with a pool of new refresh tokens)."""
    header = f'wrk.headers["Authorization"] = {lua_string(auth)}' if auth else ""
    lua = LUA % {
        "body": lua_string(urlencode(form)) if form else "nil",
        "auth": header,
        "check": CHECKS[scenario],
        "mark": MARK,
    }
    if scenario == "refresh":
        tokens = refresh_tokens(target, concurrency)
        lua += REFRESH_LUA % {"tokens": ", ".join(lua_string(token) for token in tokens)}
    return lua


def wrk_once(script: Path, url: str, concurrency: int, seconds: float) -> dict[str, Any]:
    command = [wrk_path(), "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s"]
    command += ["--latency", f"--timeout={TIMEOUT}", "-s", str(script), url]
    done = subprocess.run(
        command, capture_output=True, text=True, errors="replace", timeout=seconds + 60, check=False
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith(MARK)), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk exited {done.returncode}: {(done.stderr or done.stdout)[-300:]}")
    result: dict[str, Any] = json.loads(line[len(MARK) :])
    return result


def run(
    target: dict[str, Any],
    scenario: str,
    concurrency: int,
    duration: float,
    warmup: float,
    server_pids: list[int] | None = None,
) -> dict[str, Any]:
    """One run: the dict ``loadgen.py`` prints for a run (the keys ``run.py`` reads)."""
    pids = server_pids or []
    base: dict[str, Any] = {
        "target": target.get("name"),
        "scenario": scenario,
        "loadgen": "wrk",
        "concurrency": concurrency,
        "processes": 1,
        "duration_s": duration,
        "warmup_s": warmup,
    }
    with tempfile.TemporaryDirectory(prefix="govtrust-wrk-") as scratch:
        try:
            url, form, auth = request_of(target, scenario)
            script = Path(scratch) / "scenario.lua"
            if warmup > 0:
                script.write_text(script_of(target, scenario, form, auth, concurrency), "utf-8")
                wrk_once(script, url, concurrency, warmup)
            script.write_text(script_of(target, scenario, form, auth, concurrency), "utf-8")
            server0, machine0 = cpu_seconds(pids), machine_busy_seconds()
            self0, wall0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
            out = wrk_once(script, url, concurrency, duration)
            self1, wall1 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
            server_cpu, machine = cpu_seconds(pids) - server0, machine_busy_seconds() - machine0
        except (
            RuntimeError,
            OSError,
            ValueError,
            KeyError,
            subprocess.SubprocessError,
            httpx.HTTPError,
            IterationError,
        ) as exc:
            message = f"setup failed: {type(exc).__name__}: {exc}"[:300]
            return {**base, "rps": 0.0, "errors": 1, "error_messages": {message: 1}}
    seconds = out["duration_us"] / 1e6 or duration
    wall = wall1 - wall0
    self_cpu = (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime)
    sockets = {k: out[k] for k in ("connect", "read", "write", "timeout") if out[k]}
    messages: dict[str, int] = dict(out["messages"])
    if sockets:
        messages["wrk socket errors: " + ", ".join(f"{k} {v}" for k, v in sockets.items())] = sum(
            sockets.values()
        )
    ok = int(out["ok"])
    return {
        **base,
        "duration_s": round(seconds, 3),
        "completed": ok,
        "rps": round(ok / seconds, 2),
        "p50_ms": round(out["p50_us"] / 1000, 2) if out["requests"] else None,
        "p99_ms": round(out["p99_us"] / 1000, 2) if out["requests"] else None,
        "mean_ms": None,
        "errors": int(out["bad"]) + sum(sockets.values()),
        "unfinished": 0,
        "warmup_errors": 0,
        "error_messages": dict(sorted(messages.items(), key=lambda item: -item[1])[:5]),
        "pages": [],
        "server_cores": round(server_cpu / wall, 3) if pids else None,
        "server_cpu_ms_per_iteration": round(1000 * server_cpu / ok, 3) if pids and ok else None,
        "loadgen_cores": round(self_cpu / wall, 3),
        "machine_cores": round(machine / wall, 3),
        "other_cores": round((machine - server_cpu - self_cpu) / wall, 3) if pids else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="target description (JSON file)")
    parser.add_argument("--scenario", required=True, choices=SCENARIOS)
    parser.add_argument("--concurrency", type=int, default=8, help="connections")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--server-pids", default="", help="PIDs whose CPU time to measure")
    args = parser.parse_args(argv)
    wrk_path()
    target = json.loads(Path(args.target).read_text(encoding="utf-8"))
    pids = [int(pid) for pid in args.server_pids.split(",") if pid]
    result = run(target, args.scenario, args.concurrency, args.duration, args.warmup, pids)
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
