"""A bounded soak: mixed traffic for a minute against ``govtrust serve --workers 2`` on
PostgreSQL (a database of its own, dropped afterwards) and a private Redis, on loopback.

The mix, from four client threads: client-credentials token issuance, introspection of
the tokens issued, licence verification (``POST /verify`` with a genuine QR), the status
list and the JWKS. Reported on stdout (``pytest -s``) and checked: no error at all (any
status other than 200/304, or a transport error) apart from 429s, which the mix does not
expect either; the resident set size of each worker grows by less than ``RSS_GROWTH_MB``
between the end of the warm-up and the end of the run. The numbers of a run are in
tests/security/README.md ("Faults").
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from random import Random
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from sqlalchemy import create_engine, text

from certs.demo_types import BUSINESS_LICENCE, demo_licence_types
from certs.lifecycle import china_date
from certs.service import LicenceService
from core.db.engine import normalise_url
from core.db.migrate import upgrade
from core.services import build_services
from tests.certs.conftest import ADMIN, BUSINESS_FIELDS, COMPANY_USCC, ISSUER, ISSUER_NAME
from tests.conftest import PG_URL, TEST_SECRET, _need, make_settings
from tests.idp.oidc_helpers import World, build_world
from tests.security.faults import (
    GOVTRUST,
    free_port,
    govtrust_env,
    private_redis,
    serve_workers,
)
from verify.issuing import QrIssuer
from verify.payload import QrKind
from verify.publication import status_list_uri

SOAK_SECONDS = 60.0
WARM_UP_SECONDS = 10.0
CLIENTS = 4
RSS_GROWTH_MB = 40.0
ISSUER_URL = "https://govtrust.test"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise LookupError(pid)


@pytest.fixture
def database() -> Iterator[str]:
    """A PostgreSQL database of this test only (URL), dropped afterwards."""
    base = normalise_url(_need(PG_URL, "GOVTRUST_TEST_DATABASE_URL"))
    name = f"soak_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    parts = urlsplit(base)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _prepare(data_dir: Path, database_url: str, redis_url: str) -> tuple[World, str]:
    settings = make_settings(
        data_dir, database_url=database_url, redis_url=redis_url, issuer=ISSUER_URL
    )
    services = build_services(settings)
    try:
        upgrade(services.engine)
        services.keys.init()
        world = build_world(services)
        clock = services.keys.clock
        licences = LicenceService(services.sessions, services.identifiers, services.audit, clock)
        for licence_type in demo_licence_types(seal_id="seal-demo-1"):
            licences.register_type(licence_type, ADMIN)
        licence = licences.issue(
            BUSINESS_LICENCE,
            ISSUER,
            ISSUER_NAME,
            BUSINESS_FIELDS["name"],
            COMPANY_USCC,
            BUSINESS_FIELDS,
            china_date(clock()),
            ADMIN,
        )
        qr = QrIssuer(ISSUER_URL, status_list_uri(ISSUER_URL), services.keys, clock)
        return world, qr.qr_text(qr.claims(licence, QrKind.ELECTRONIC))
    finally:
        services.close()


class Traffic:
    def __init__(self, base: str, world: World, qr: str) -> None:
        self.base = base
        self.world = world
        self.qr = qr
        self.lock = threading.Lock()
        self.outcomes: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def _one(self, client: httpx.Client, kind: str, tokens: list[str]) -> httpx.Response:
        world = self.world
        if kind == "token":
            response = client.post(
                "/token",
                data={"grant_type": "client_credentials", "scope": "licence:read"},
                auth=(world.service_client_id, world.service_secret),
            )
            if response.status_code == 200:
                tokens.append(response.json()["access_token"])
                del tokens[:-20]
            return response
        if kind == "introspect":
            token = tokens[-1] if tokens else "not-a-token"
            response = client.post(
                "/introspect",
                data={"token": token},
                auth=(world.service_client_id, world.service_secret),
            )
            if response.status_code == 200 and tokens and not response.json()["active"]:
                self.errors["introspect: issued token inactive"] += 1
            return response
        if kind == "verify":
            response = client.post("/verify", json={"qr": self.qr})
            if response.status_code == 200 and response.json()["verdict"] != "valid":
                self.errors[f"verify: {response.json()['verdict']}"] += 1
            return response
        if kind == "status":
            return client.get("/verify/status-lists/1")
        return client.get("/pki/jwks.json")

    def client(self, seed: int) -> None:
        random = Random(seed)
        tokens: list[str] = []
        kinds = ["token", "introspect", "verify", "status", "jwks"]
        with httpx.Client(base_url=self.base, timeout=15) as client:
            while not self.stop.is_set():
                kind = random.choices(kinds, weights=[3, 3, 3, 2, 2])[0]
                started = time.monotonic()
                try:
                    response = self._one(client, kind, tokens)
                    outcome = f"{kind} {response.status_code}"
                    ok = response.status_code in (200, 304, 429)
                except httpx.HTTPError as exc:
                    outcome, ok = f"{kind} {type(exc).__name__}", False
                with self.lock:
                    self.outcomes[outcome] += 1
                    self.latencies.append(time.monotonic() - started)
                    if not ok:
                        self.errors[outcome] += 1


@pytest.mark.slow
def test_soak_mixed_traffic_two_workers(tmp_path: Path, database: str) -> None:
    with private_redis(tmp_path) as redis:
        world, qr = _prepare(tmp_path, database, redis.url)
        port = free_port()
        env = govtrust_env(
            {
                "GOVTRUST_ENVIRONMENT": "test",
                "GOVTRUST_SECRET_KEY": TEST_SECRET,
                "GOVTRUST_DATA_DIR": str(tmp_path),
                "GOVTRUST_ISSUER": ISSUER_URL,
                "GOVTRUST_DATABASE_URL": database,
                "GOVTRUST_REDIS_URL": redis.url,
                "GOVTRUST_LOG_LEVEL": "WARNING",
            }
        )
        server = subprocess.Popen(
            [*GOVTRUST, "serve", "--port", str(port), "--workers", "2", "--no-migrate"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "serve.log").open("wb"),
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 40
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, (tmp_path / "serve.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "govtrust serve did not become ready"
                time.sleep(0.2)
            traffic = Traffic(base, world, qr)
            threads = [
                threading.Thread(target=traffic.client, args=(seed,), daemon=True)
                for seed in range(CLIENTS)
            ]
            for thread in threads:
                thread.start()
            time.sleep(WARM_UP_SECONDS)
            workers = serve_workers(server.pid)
            assert len(workers) == 2, workers
            warm = {pid: _rss_mb(pid) for pid in workers}
            warm_count = sum(traffic.outcomes.values())
            time.sleep(SOAK_SECONDS - WARM_UP_SECONDS)
            end = {pid: _rss_mb(pid) for pid in workers}
            traffic.stop.set()
            for thread in threads:
                thread.join(20)
            assert server.poll() is None, "a worker supervisor died"
            assert serve_workers(server.pid) == workers, "a worker was replaced during the soak"
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(5)

    total = sum(traffic.outcomes.values())
    latencies = sorted(traffic.latencies)
    growth = {pid: end[pid] - warm[pid] for pid in workers}
    print(
        f"\nsoak: {total} requests in {SOAK_SECONDS:.0f} s ({total / SOAK_SECONDS:.0f}/s), "
        f"{total - warm_count} after warm-up; p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms"
    )
    print("outcomes:", dict(sorted(traffic.outcomes.items())))
    print("errors:", dict(traffic.errors))
    for pid in workers:
        print(f"worker {pid}: RSS {warm[pid]:.1f} MB -> {end[pid]:.1f} MB ({growth[pid]:+.1f})")
    assert not traffic.errors, traffic.errors
    assert total > 500, "too little traffic to mean anything"
    assert all(kind in " ".join(traffic.outcomes) for kind in ("token", "verify", "jwks"))
    assert max(growth.values()) < RSS_GROWTH_MB, growth
