"""A small closed-loop load generator for OAuth/OIDC endpoints (asyncio + httpx).

It runs in its own process, never inside the server under test. ``concurrency`` workers
each repeat one *iteration* of a scenario back to back for ``warmup + duration`` seconds;
only iterations that *finish* inside the measured window (after the warm-up) count.
One invocation is one run; ``bench/run.py`` calls it repeatedly and interleaves systems.

Scenarios (one iteration each):

* ``client_credentials``: ``POST /token`` with ``grant_type=client_credentials``
  (client_secret_basic); success = 200 with an ``access_token``.
* ``introspection``: ``POST`` to the introspection endpoint (client_secret_basic) of one
  access token obtained before the run; success = 200 with ``"active": true``.
* ``login``: a whole authorization code + PKCE (S256) login by a new browser (empty cookie
  jar): ``GET /authorize`` -> redirects -> login form (username, password: the server
  verifies its password hash) -> any further page the server shows (identity choice:
  ``acting_as=self``; consent: ``consent=allow``) -> the redirect to the client with the
  code -> ``POST /token`` (authorization_code, code_verifier). Hidden form fields (CSRF
  tokens) are sent back as a browser would. Success = tokens at the end.
* ``refresh``: ``POST /token`` with ``grant_type=refresh_token`` where each worker uses the
  refresh token returned by its own previous iteration (one chain per worker, started by
  one login before the run; rotation). After a failed refresh the worker logs in again to
  start a new chain (counted as one error; the login is not timed).
* ``ceiling``: ``POST`` to ``target["ceiling_url"]`` (a trivial server): the most this load
  generator can send on this machine.

Output: one JSON object on stdout: requests/s (successful iterations per second of the
window), p50/p99 latency in ms of those iterations, errors (failed iterations in the
window, and during warm-up), a few distinct error messages, and for ``login`` the pages met.

Usage::

    python bench/loadgen.py --target target.json --scenario login --concurrency 8 \\
        --duration 10 --warmup 2

``target.json``: ``{"name", "base", "token_path", "introspect_path", "authorize_path",
"service": {"client_id", "client_secret", "scope"}, "web": {"client_id", "client_secret",
"redirect_uri", "scope"}, "user": {"username", "password"}, "more_usernames": [] (more
accounts with the same password: each worker logs in as its own), "cc_params": {},
"auth_params": {}, "introspect_token_params": {}, "ceiling_url"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import html
import json
import multiprocessing
import re
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
from cpu_time import cpu_seconds, machine_busy_seconds

GRACE_SECONDS = 5.0
SCENARIOS = ("client_credentials", "introspection", "login", "refresh", "ceiling")
FORM_RE = re.compile(r"<form\b[^>]*\baction=\"([^\"]+)\"", re.I)
HIDDEN_RE = re.compile(r"<input\b[^>]*>", re.I)
ATTR_RE = re.compile(r"(\w+)=\"([^\"]*)\"")


class IterationError(Exception):
    """One iteration failed (unexpected status, missing field, transport error)."""


@dataclass
class Window:
    start: float
    end: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    warmup_errors: int = 0
    messages: dict[str, int] = field(default_factory=dict)
    pages: list[str] = field(default_factory=list)

    def record(self, began: float, finished: float, error: str | None) -> None:
        if error is not None:
            self.messages[error] = self.messages.get(error, 0) + 1
            if self.start <= finished <= self.end:
                self.errors += 1
            elif finished < self.start:
                self.warmup_errors += 1
            return
        if self.start <= finished <= self.end:
            self.latencies.append(finished - began)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def describe(response: httpx.Response) -> str:
    path = urlsplit(str(response.url)).path
    return f"HTTP {response.status_code} {response.request.method} {path}: {response.text[:160]!r}"


def parse_form(page: str) -> tuple[str, dict[str, str], set[str]]:
    """The first form's action, its hidden fields, and the names of all its fields."""
    match = FORM_RE.search(page)
    if not match:
        raise IterationError(f"no form in page: {page[:160]!r}")
    action = html.unescape(match.group(1))
    form_html = page[match.start() : page.find("</form>", match.start())]
    hidden: dict[str, str] = {}
    names: set[str] = set()
    for tag in HIDDEN_RE.findall(form_html) + re.findall(r"<button\b[^>]*>", form_html, re.I):
        attrs = {k.lower(): html.unescape(v) for k, v in ATTR_RE.findall(tag)}
        if "name" in attrs:
            names.add(attrs["name"])
            if attrs.get("type", "").lower() == "hidden":
                hidden[attrs["name"]] = attrs.get("value", "")
    return action, hidden, names


class Driver:
    """The scenarios against one target."""

    def __init__(self, target: dict[str, Any], concurrency: int, first_user: int = 0) -> None:
        self.t = target
        self.base = target["base"].rstrip("/")
        # One client (one keep-alive connection) per worker: a pool shared by all workers
        # costs httpx far more per request as concurrency grows (measured: 1,020/s with
        # one client per worker against 520/s with a shared pool, 16 workers).
        self.clients = [
            httpx.AsyncClient(timeout=60.0, follow_redirects=False) for _ in range(concurrency)
        ]
        self.service_auth = (target["service"]["client_id"], target["service"]["client_secret"])
        self.web_auth = (target["web"]["client_id"], target["web"]["client_secret"])
        # each client (worker) logs in as a person of its own, from ``first_user`` on: the
        # demo citizen and the citizens ``run.py`` added (``login_users.py``), all with one
        # password; a login throttle counts the logins of one account made at once
        # (none for the ceiling's trivial server)
        user = target.get("user", {})
        usernames = [user.get("username", ""), *target.get("more_usernames", [])]
        self.users = {
            id(client): {
                "username": usernames[(first_user + n) % len(usernames)],
                "password": user.get("password", ""),
            }
            for n, client in enumerate(self.clients)
        }

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()

    # -- client credentials ------------------------------------------------------------
    async def client_credentials(
        self, client: httpx.AsyncClient, params: dict[str, str] | None = None
    ) -> str:
        data = {
            "grant_type": "client_credentials",
            "scope": self.t["service"]["scope"],
            **(self.t.get("cc_params", {}) if params is None else params),
        }
        response = await client.post(
            self.base + self.t["token_path"], data=data, auth=self.service_auth
        )
        if response.status_code != 200:
            raise IterationError(describe(response))
        token = response.json().get("access_token")
        if not token:
            raise IterationError(describe(response))
        return str(token)

    # -- introspection -----------------------------------------------------------------
    async def introspect(self, client: httpx.AsyncClient, token: str) -> None:
        response = await client.post(
            self.base + self.t["introspect_path"], data={"token": token}, auth=self.service_auth
        )
        if response.status_code != 200 or response.json().get("active") is not True:
            raise IterationError(describe(response))

    # -- login -------------------------------------------------------------------------
    async def login(
        self, browser: httpx.AsyncClient, pages: list[str] | None = None
    ) -> dict[str, Any]:
        """One complete code + PKCE login with an empty cookie jar; the token response."""
        browser.cookies.clear()
        verifier, challenge = pkce_pair()
        web = self.t["web"]
        params = {
            "response_type": "code",
            "client_id": web["client_id"],
            "redirect_uri": web["redirect_uri"],
            "scope": web["scope"],
            "state": secrets.token_urlsafe(12),
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **self.t.get("auth_params", {}),
        }
        url = f"{self.base}{self.t['authorize_path']}?{urlencode(params)}"
        response = await browser.get(url)
        code = None
        for _ in range(20):
            if response.status_code in (301, 302, 303, 307, 308):
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(web["redirect_uri"]):
                    query = parse_qs(urlsplit(location).query)
                    if "code" not in query:
                        raise IterationError(f"redirect without code: {location[:200]}")
                    if query.get("state", [None])[0] != params["state"]:
                        raise IterationError("state mismatch")
                    code = query["code"][0]
                    break
                response = await browser.get(location)
                continue
            if response.status_code != 200:
                raise IterationError(describe(response))
            action, fields, names = parse_form(response.text)
            if "password" in names:
                fields.update(self.users[id(browser)])
                kind = "login"
            elif "acting_as" in names:
                fields["acting_as"] = "self"
                kind = "identity"
            elif "consent" in names:
                fields["consent"] = "allow"
                kind = "consent"
            else:
                raise IterationError(f"unknown form {sorted(names)}")
            if pages is not None:
                pages.append(kind)
            response = await browser.post(urljoin(str(response.url), action), data=fields)
        if code is None:
            raise IterationError("too many redirects or pages")
        token = await browser.post(
            self.base + self.t["token_path"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": web["redirect_uri"],
                "code_verifier": verifier,
            },
            auth=self.web_auth,
        )
        if token.status_code != 200:
            raise IterationError(describe(token))
        body: dict[str, Any] = token.json()
        if "access_token" not in body:
            raise IterationError(describe(token))
        return body

    # -- refresh -----------------------------------------------------------------------
    async def refresh(self, client: httpx.AsyncClient, refresh_token: str) -> str:
        response = await client.post(
            self.base + self.t["token_path"],
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=self.web_auth,
        )
        if response.status_code != 200:
            raise IterationError(describe(response))
        new = response.json().get("refresh_token")
        if not new or "access_token" not in response.json():
            raise IterationError("no access_token/refresh_token: " + describe(response))
        return str(new)

    # -- ceiling -----------------------------------------------------------------------
    async def ceiling(self, client: httpx.AsyncClient) -> None:
        response = await client.post(self.t["ceiling_url"], data={"grant_type": "ping"})
        if response.status_code != 200:
            raise IterationError(describe(response))


@dataclass
class Part:
    """What one load-generator process does: ``workers`` loops, and whether it samples the
    servers' CPU time (only the first process does)."""

    index: int
    workers: int
    sample_server: bool
    first_worker: int = 0  # the workers of the processes before this one


async def run_part(
    args: argparse.Namespace, target: dict[str, Any], part: Part, barrier: Any
) -> dict[str, Any]:
    """One process's share of a run; raw latencies, to be merged by :func:`merge`."""
    driver = Driver(target, part.workers, first_user=part.first_worker)
    scenario = args.scenario
    browsers = driver.clients
    pids = [int(pid) for pid in args.server_pids.split(",") if pid] if part.sample_server else []
    cpu: dict[str, float] = {}
    setup_error: str | None = None
    window = Window(0, 0)
    unfinished = 0
    try:
        token = ""
        chains: list[str] = []
        try:
            if scenario == "introspection":
                params = target.get("introspect_token_params", target.get("cc_params", {}))
                token = await driver.client_credentials(browsers[0], params)
            if scenario == "login" and part.index == 0:
                await driver.login(browsers[0], window.pages)  # checks the flow once
            if scenario == "refresh":
                logins = [driver.login(browser) for browser in browsers]
                chains = [str(body["refresh_token"]) for body in await asyncio.gather(*logins)]
        except (IterationError, httpx.HTTPError, ValueError, KeyError) as exc:
            setup_error = f"setup failed: {type(exc).__name__}: {exc}"[:300]
        if barrier is not None:  # every process starts its window together
            await asyncio.get_running_loop().run_in_executor(None, barrier.wait, 600)
        if setup_error:
            return {"setup_error": setup_error}
        now = time.perf_counter()
        window.start, window.end = now + args.warmup, now + args.warmup + args.duration

        def worker(index: int) -> Callable[[], Awaitable[None]]:
            async def once() -> None:
                if scenario == "client_credentials":
                    await driver.client_credentials(browsers[index])
                elif scenario == "introspection":
                    await driver.introspect(browsers[index], token)
                elif scenario == "login":
                    await driver.login(browsers[index])
                elif scenario == "refresh":
                    chains[index] = await driver.refresh(browsers[index], chains[index])
                else:
                    await driver.ceiling(browsers[index])

            return once

        async def loop(index: int) -> None:
            once = worker(index)
            while time.perf_counter() < window.end:
                began = time.perf_counter()
                error = None
                try:
                    await once()
                except (IterationError, httpx.HTTPError, ValueError, KeyError) as exc:
                    error = f"{type(exc).__name__}: {exc}"[:240]
                finished = time.perf_counter()
                window.record(began, finished, error)
                if error is not None and scenario == "refresh":
                    try:  # start a new chain (untimed)
                        body = await driver.login(browsers[index])
                        chains[index] = str(body["refresh_token"])
                    except (IterationError, httpx.HTTPError, ValueError, KeyError):
                        await asyncio.sleep(0.2)

        async def sample_cpu() -> None:
            await asyncio.sleep(max(0.0, window.start - time.perf_counter()))
            cpu["server0"], cpu["self0"] = cpu_seconds(pids), time.process_time()
            cpu["machine0"] = machine_busy_seconds()
            await asyncio.sleep(max(0.0, window.end - time.perf_counter()))
            cpu["server1"], cpu["self1"] = cpu_seconds(pids), time.process_time()
            cpu["machine1"] = machine_busy_seconds()

        loops = [asyncio.create_task(loop(i)) for i in range(part.workers)]
        await sample_cpu()
        # Bounded: what is still in flight GRACE seconds after the window is abandoned and
        # counted as unfinished (a hung server cannot stretch a run).
        _, pending = await asyncio.wait(loops, timeout=GRACE_SECONDS)
        unfinished = len(pending)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
    finally:
        await driver.close()
    return {
        "latencies": window.latencies,
        "errors": window.errors,
        "warmup_errors": window.warmup_errors,
        "unfinished": unfinished,
        "messages": window.messages,
        "pages": window.pages,
        "server_cpu": cpu["server1"] - cpu["server0"] if pids else None,
        "machine_cpu": cpu["machine1"] - cpu["machine0"] if part.sample_server else None,
        "self_cpu": cpu["self1"] - cpu["self0"],
    }


def _part_main(
    args: argparse.Namespace, target: dict[str, Any], part: Part, barrier: Any
) -> dict[str, Any]:
    try:
        import uvloop  # the load generator's own overhead matters on 2 cores

        return uvloop.run(run_part(args, target, part, barrier))  # type: ignore[no-any-return]
    except ImportError:
        return asyncio.run(run_part(args, target, part, barrier))


def merge(args: argparse.Namespace, target: dict[str, Any], parts: list[dict[str, Any]]) -> dict:
    """One run's result from its processes' raw results."""
    setup_errors = [part["setup_error"] for part in parts if "setup_error" in part]
    ran = [part for part in parts if "setup_error" not in part]
    latencies = sorted(value for part in ran for value in part["latencies"])
    messages: dict[str, int] = {}
    for part in ran:
        for message, count in part["messages"].items():
            messages[message] = messages.get(message, 0) + count
    for message in setup_errors:
        messages[message] = messages.get(message, 0) + 1
    abandoned = sum(part["unfinished"] for part in ran)
    if abandoned:
        messages[f"no answer within {GRACE_SECONDS:g} s after the window (abandoned)"] = abandoned
    server_cpu = next((part["server_cpu"] for part in ran if part["server_cpu"] is not None), None)
    self_cpu = sum(part["self_cpu"] for part in ran)
    machine = next((part["machine_cpu"] for part in ran if part["machine_cpu"] is not None), None)

    def percentile(q: float) -> float | None:
        if not latencies:
            return None
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2)

    ok = not setup_errors
    return {
        "target": target.get("name"),
        "scenario": args.scenario,
        "concurrency": args.concurrency,
        "processes": args.procs,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "completed": len(latencies),
        "rps": round(len(latencies) / args.duration, 2) if ok else 0.0,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "mean_ms": round(1000 * statistics.fmean(latencies), 2) if latencies else None,
        # failed iterations that finished after the warm-up, plus those still in flight
        # GRACE_SECONDS after the window (abandoned), plus a failed set-up
        "errors": sum(part["errors"] + part["unfinished"] for part in ran) + len(setup_errors),
        "unfinished": sum(part["unfinished"] for part in ran),
        "warmup_errors": sum(part["warmup_errors"] for part in ran),
        "error_messages": dict(sorted(messages.items(), key=lambda item: -item[1])[:5]),
        "pages": next((part["pages"] for part in ran if part["pages"]), []),
        # CPU seconds per second of the window (1.0 = one core busy), and per iteration
        "server_cores": round(server_cpu / args.duration, 3) if server_cpu is not None else None,
        "server_cpu_ms_per_iteration": round(1000 * server_cpu / len(latencies), 3)
        if server_cpu is not None and latencies
        else None,
        "loadgen_cores": round(self_cpu / args.duration, 3) if ran else None,
        # every core's busy time: what neither the server nor the load generator used was
        # other work on this (shared) machine
        "machine_cores": round(machine / args.duration, 3) if machine is not None else None,
        "other_cores": round((machine - (server_cpu or 0) - self_cpu) / args.duration, 3)
        if machine is not None and server_cpu is not None
        else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="target description (JSON file)")
    parser.add_argument("--scenario", required=True, choices=SCENARIOS)
    parser.add_argument("--concurrency", type=int, default=8, help="workers in all")
    parser.add_argument("--procs", type=int, default=1, help="load-generator processes")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument(
        "--server-pids", default="", help="comma-separated PIDs whose CPU time to measure"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.procs <= args.concurrency:
        parser.error("need 1 <= --procs <= --concurrency")
    with open(args.target, encoding="utf-8") as handle:
        target = json.load(handle)
    shares = [
        args.concurrency // args.procs + (1 if i < args.concurrency % args.procs else 0)
        for i in range(args.procs)
    ]
    parts = [Part(i, share, i == 0, sum(shares[:i])) for i, share in enumerate(shares)]
    if args.procs == 1:
        results = [_part_main(args, target, parts[0], None)]
    else:
        # fork: the barrier and the queue are inherited, not pickled
        context = multiprocessing.get_context("fork")
        barrier = context.Barrier(args.procs)
        queue = context.Queue()

        def child(part: Part) -> None:
            queue.put((part.index, _part_main(args, target, part, barrier)))

        processes = [context.Process(target=child, args=(part,)) for part in parts]
        for process in processes:
            process.start()
        collected = dict(queue.get(timeout=900) for _ in processes)
        for process in processes:
            process.join()
        results = [collected[i] for i in range(args.procs)]
    json.dump(merge(args, target, results), sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
