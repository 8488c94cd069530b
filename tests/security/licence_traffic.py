"""Licence and token traffic over HTTP for the PostgreSQL fault tests, and the checks that
nothing was half-applied by a fault (``test_fault_postgres_restart.py``,
``test_fault_postgres_partition.py``).

govtrust runs on a PostgreSQL cluster of the test's own, served by uvicorn on loopback,
with the in-process cache (so that only the database is faulted). Threads drive it:
licence administrators change licences (each change supersedes the version before), issue
new ones, and a department system asks for ``client_credentials`` tokens.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import text

from certs.service import ACTIONS
from core.app import create_app
from core.errors.problem import PROBLEM_MEDIA_TYPE
from core.services import Services, build_services
from idp.accounts.service import set_password
from idp.clients.channels import Channel
from idp.clients.service import ClientService
from idp.identities.service import IdentityService
from keys.master import new_master_key
from tests.certs.test_licence_api import ADMIN_A, AUTHORITY_A, COMPANY, business_body
from tests.conftest import make_settings
from tests.idp.oidc_helpers import PASSWORD, REDIRECT, code_flow_tokens
from tests.security.conftest import LiveClock, serve
from tests.security.faults import assert_consistent, private_env, run_govtrust, set_up_authority

CHAINS = 3  # licences changed over and over, one thread each
REQUEST_TIMEOUT = 15.0
PAUSE_AFTER_503 = 0.1  # a client backs off a little (Retry-After says 5 s; this is a test)
ISSUER = "https://govtrust.test"
DRIVERS = ("change", "issue", "token")  # the kinds of answer each must recover


@dataclass
class Answer:
    """One request and what became of it."""

    kind: str  # change, issue, token, resolve
    started: float
    ended: float
    status: int | None  # None: no HTTP answer (transport error)
    body: Any = None
    content_type: str = ""
    retry_after: str | None = None
    error: str = ""
    sent: str = ""  # the change's new address, or the issued licence's identifier


@dataclass
class Record:
    answers: list[Answer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, answer: Answer) -> None:
        with self.lock:
            self.answers.append(answer)

    def of(self, kind: str) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if a.kind == kind]


@dataclass
class Scene:
    services: Services
    env: dict[str, str]
    data_dir: Path
    base: str
    admin_token: str
    service_client: tuple[str, str]
    chains: list[str]  # identifier of version 1 of each changed licence


def _request(
    http: httpx.Client,
    record: Record,
    kind: str,
    method: str,
    url: str,
    sent: str = "",
    **kwargs: Any,
) -> Answer:
    started = time.monotonic()
    try:
        response = http.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        answer = Answer(kind, started, time.monotonic(), None, error=repr(exc), sent=sent)
    else:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:300]
        answer = Answer(
            kind,
            started,
            time.monotonic(),
            response.status_code,
            body,
            response.headers.get("content-type", ""),
            response.headers.get("retry-after"),
            sent=sent,
        )
    record.add(answer)
    if answer.status != 200 and answer.status != 201:
        time.sleep(PAUSE_AFTER_503)
    return answer


def _admin_token(app: Any, client_id: str, secret: str) -> str:
    browser = TestClient(app, base_url=ISSUER)
    tokens = code_flow_tokens(
        browser, client_id, secret, username=ADMIN_A, scope="openid licence:admin"
    )
    assert tokens["expires_in"] > 120  # outlives the test
    return str(tokens["access_token"])


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _current_version(http: httpx.Client, record: Record, token: str, first: str) -> str:
    """The newest version of the chain that starts at ``first`` (asked until answered)."""
    while True:
        answer = _request(
            http, record, "resolve", "GET", f"/licences/{first}/versions", headers=_bearer(token)
        )
        if answer.status == 200:
            return str(answer.body[-1]["identifier"])


def _changer(scene: Scene, record: Record, stop: threading.Event, chain: int) -> None:
    first = scene.chains[chain]
    with httpx.Client(base_url=scene.base, timeout=REQUEST_TIMEOUT) as http:
        current = first
        attempt = 0
        while not stop.is_set():
            attempt += 1
            address = f"福建省福州市台江区测试路{chain}-{attempt}号"
            fields = dict(business_body()["fields"], address=address)
            answer = _request(
                http,
                record,
                "change",
                "POST",
                f"/licences/{current}/change",
                sent=address,
                json={"reason": "住所变更", "fields": fields},
                headers=_bearer(scene.admin_token),
            )
            if answer.status == 200:
                current = str(answer.body["identifier"])
            else:  # it may or may not have been written: ask which version is the newest
                current = _current_version(http, record, scene.admin_token, first)


def _repeatedly(
    scene: Scene, record: Record, stop: threading.Event, kind: str, url: str, **kwargs: Any
) -> None:
    """``POST url`` over and over until ``stop``, each answer recorded as ``kind``."""
    with httpx.Client(base_url=scene.base, timeout=REQUEST_TIMEOUT) as http:
        while not stop.is_set():
            _request(http, record, kind, "POST", url, **kwargs)


def assert_answer_is_honest(answer: Answer) -> None:
    """A success, or a clear 503 of the kind the endpoint speaks; nothing else."""
    assert answer.status is not None, f"{answer.kind}: no answer: {answer.error}"
    if answer.status in (200, 201):
        return
    assert answer.status == 503, (answer.kind, answer.status, answer.body)
    assert answer.retry_after, answer
    if answer.kind == "token":
        assert answer.body == {
            "error": "temporarily_unavailable",
            "error_description": "a backing service is not reachable",
        }, answer.body
    else:
        assert answer.content_type == PROBLEM_MEDIA_TYPE, answer
        assert answer.body["type"] == "/problems/unavailable", answer.body
        assert answer.body["status"] == 503
    assert "Traceback" not in str(answer.body)


def _licence_rows(services: Services) -> dict[str, dict[str, Any]]:
    with services.sessions() as session:
        rows = session.execute(
            text(
                "SELECT identifier, licence_number, version, state, supersedes, superseded_by, "
                "fields "
                "FROM licences"
            )
        ).mappings()
        return {row["identifier"]: dict(row) for row in rows}


def _events_and_entries(services: Services) -> tuple[Counter[str], Counter[str]]:
    """Per licence version: (event) and (audit action) multisets, as 'identifier event'."""
    with services.sessions() as session:
        events = Counter(
            f"{identifier} {event}"
            for identifier, event in session.execute(
                text("SELECT identifier, event FROM licence_events")
            )
        )
        entries = Counter(
            f"{object_id} {EVENT_OF[action]}"
            for object_id, action in session.execute(
                text(
                    "SELECT object_id, action FROM audit_entries "
                    "WHERE object_type = 'licence' AND action LIKE 'licence.%'"
                )
            )
        )
    return events, entries


EVENT_OF = {action: event.value for event, action in ACTIONS.items()}


def _last_answers(record: Record, recovered: set[str], up_at: float) -> dict[str, list[str]]:
    """Per driver not recovered, its last three answers (times from the start, in seconds):
    a request that hangs shows as one that ended long after it started."""
    last: dict[str, list[str]] = {}
    for kind in set(DRIVERS) - recovered:
        last[kind] = [
            f"{a.started - up_at:+.2f}..{a.ended - up_at:+.2f}: {a.status or a.error}"
            for a in record.of(kind)[-3:]
        ]
    return last


@contextmanager
def traffic(scene: Scene) -> Iterator[Record]:
    """Every driver running while inside, each on a thread of its own; on leaving they are
    stopped, and none may still be waiting for an answer."""
    record = Record()
    stop = threading.Event()
    targets: list[Callable[[], None]] = [
        lambda chain=chain: _changer(scene, record, stop, chain)  # type: ignore[misc]
        for chain in range(CHAINS)
    ]
    targets += [
        lambda: _repeatedly(
            scene,
            record,
            stop,
            "issue",
            "/licences",
            json=business_body(),
            headers=_bearer(scene.admin_token),
        ),
        lambda: _repeatedly(
            scene,
            record,
            stop,
            "token",
            "/token",
            data={"grant_type": "client_credentials", "scope": "licence:read"},
            auth=scene.service_client,
        ),
    ]
    threads = [threading.Thread(target=target, daemon=True) for target in targets]
    for thread in threads:
        thread.start()
    try:
        yield record
    finally:
        stop.set()
        for thread in threads:
            thread.join(REQUEST_TIMEOUT + 5)
    assert not any(thread.is_alive() for thread in threads), "a driver hangs"


@contextmanager
def licence_scene(tmp_path: Path, database_url: str, *, rows_flushed: bool) -> Iterator[Scene]:
    """The service on ``database_url`` (an empty database), served on loopback: a licence
    administrator with a token, a department system's client, and :data:`CHAINS`
    licences to change."""
    master = new_master_key()
    env = private_env(
        tmp_path,
        master,
        ISSUER,
        {
            "GOVTRUST_DATABASE_URL": database_url,
            "GOVTRUST_ACCESS_TOKEN_ROWS_FLUSHED": "true" if rows_flushed else "false",
        },
    )
    settings = make_settings(
        tmp_path,
        database_url=database_url,
        master_key=master,
        issuer=ISSUER,
        access_token_rows_flushed=rows_flushed,
    )
    services = build_services(settings, clock=LiveClock())
    try:
        made = set_up_authority(services, admin_id_number=ADMIN_A, uscc=AUTHORITY_A)
        set_password(services.idp, made.admin.id, PASSWORD)
        clock = services.keys.clock
        ids = IdentityService(services.sessions, services.identifiers, services.audit, clock)
        citizen = ids.register_person("11010519491231002X", "张三", actor="t")
        ids.register_organisation(COMPANY, "福州示例科技有限公司", citizen.id, actor="t")
        clients = ClientService(services.sessions, services.audit, services.idp.ctx.hash_key, clock)
        web, web_secret = clients.register(
            name="电子证照制证系统",
            channel=Channel.WEB,
            redirect_uris=[REDIRECT],
            scope="openid licence:admin",
        )
        system, system_secret = clients.register(
            name="部门系统", channel=Channel.SERVICE, scope="licence:read"
        )
        assert web_secret and system_secret
        app = create_app(services=services)
        token = _admin_token(app, web.client_id, web_secret)
        with serve(app) as base, httpx.Client(base_url=base, timeout=30) as http:
            chains = []
            for _ in range(CHAINS):
                made = http.post("/licences", json=business_body(), headers=_bearer(token))
                assert made.status_code == 201, made.text
                chains.append(str(made.json()["identifier"]))
            yield Scene(
                services, env, tmp_path, base, token, (system.client_id, system_secret), chains
            )
    finally:
        services.close()


def signed_checkpoint(scene: Scene) -> str:
    checkpoint = run_govtrust(["audit", "checkpoint"], scene.env, scene.data_dir)
    assert checkpoint.returncode == 0, checkpoint.stdout + checkpoint.stderr
    return checkpoint.stdout


def assert_recovered(
    record: Record, since: float, bound: float, server_log: Callable[[], str]
) -> dict[str, float]:
    """Every driver succeeds again, by itself, within ``bound`` seconds of ``since``: per
    driver, how long after ``since`` its first success begun after then ended."""
    recovered: dict[str, float] = {}
    deadline = since + bound
    while time.monotonic() < deadline and len(recovered) < len(DRIVERS):
        for kind in DRIVERS:
            done = [
                a.ended for a in record.of(kind) if a.started > since and a.status in (200, 201)
            ]
            if done and kind not in recovered:
                recovered[kind] = min(done) - since
        time.sleep(0.1)
    assert set(recovered) == set(DRIVERS), (
        f"not recovered within {bound} s: {recovered}; "
        f"last answers of the others: {_last_answers(record, set(recovered), since)}; "
        f"server log: {server_log()}"
    )
    return recovered


def assert_only_successes(record: Record, *, ended_before: float, started_after: float) -> None:
    """Every answer that ended before the fault or began once it was over a success (so a
    503 is the fault's, never the service's own)."""
    calm = [a for a in record.answers if a.ended < ended_before or a.started > started_after]
    assert calm and all(a.status in (200, 201) for a in calm), [
        (a.kind, a.status, a.body) for a in calm if a.status not in (200, 201)
    ]


def assert_tokens_active(scene: Scene, record: Record) -> None:
    """The service is ready, and every client-credentials token it answered is active."""
    with httpx.Client(base_url=scene.base, timeout=REQUEST_TIMEOUT) as http:
        assert http.get("/readyz").status_code == 200
        client_id, secret = scene.service_client
        for answer in record.of("token"):
            if answer.status == 200:
                active = http.post(
                    "/introspect",
                    data={"token": answer.body["access_token"]},
                    auth=(client_id, secret),
                )
                assert active.status_code == 200 and active.json()["active"] is True


def assert_nothing_half_applied(scene: Scene, record: Record) -> tuple[int, int]:
    """Every licence version entirely there (its row, history event and audit entry, and
    for a change the superseded version marked so), each change asked for written once or
    not at all, every change and issue answered written. Returns how many changes not
    answered 200 were written all the same, and of how many."""
    rows = _licence_rows(scene.services)
    events, entries = _events_and_entries(scene.services)
    assert events == entries  # each history event has its audit entry and no more
    for identifier, row in rows.items():
        first = "issue" if row["version"] == 1 else "change"
        assert events[f"{identifier} {first}"] >= 1, (identifier, row)
        if row["superseded_by"] is not None:
            successor = rows[row["superseded_by"]]
            assert row["state"] == "superseded", row
            assert successor["supersedes"] == identifier
            assert successor["version"] == row["version"] + 1
            # the supersession is written with the successor (and a changed version was
            # itself made by a change)
            assert events[f"{identifier} change"] == (1 if row["version"] == 1 else 2), row
        else:
            assert row["state"] == "valid", row
        if row["supersedes"] is not None:
            assert rows[row["supersedes"]]["superseded_by"] == identifier
    for chain in scene.chains:
        number = rows[chain]["licence_number"]
        versions = sorted(r["version"] for r in rows.values() if r["licence_number"] == number)
        assert versions == list(range(1, len(versions) + 1))

    # each change asked for is there once (answered 200: certainly) or not at all
    addresses = Counter(r["fields"]["address"] for r in rows.values() if r["version"] > 1)
    asked = {a.sent: a for a in record.of("change")}
    assert all(count == 1 for count in addresses.values()), addresses
    assert set(addresses) <= set(asked), set(addresses) - set(asked)
    for address, answer in asked.items():
        if answer.status == 200:
            assert addresses[address] == 1
            assert rows[answer.body["identifier"]]["fields"]["address"] == address
    unknown = [a for a in asked.values() if a.status != 200]
    written_anyway = [a for a in unknown if addresses[a.sent]]
    for answer in record.of("issue"):
        if answer.status == 201:
            identifier = answer.body["identifier"]
            assert rows[identifier]["version"] == 1 and events[f"{identifier} issue"] == 1
    issued = [r for r in rows.values() if r["version"] == 1]
    answered_issues = sum(1 for a in record.of("issue") if a.status == 201)
    refused_issues = sum(1 for a in record.of("issue") if a.status != 201)
    assert answered_issues <= len(issued) - CHAINS <= answered_issues + refused_issues
    return len(written_anyway), len(unknown)


def assert_trail_intact(scene: Scene, checkpoint_before: str) -> tuple[int, int]:
    """``govtrust audit verify`` passes, and a checkpoint signed now is consistent with
    the one signed before (RFC 9162); the trail's sizes before and after."""
    verified = run_govtrust(["audit", "verify"], scene.env, scene.data_dir)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "audit trail intact" in verified.stdout
    sizes = assert_consistent(scene.services, checkpoint_before, signed_checkpoint(scene))
    assert sizes[1] > sizes[0]
    return sizes
