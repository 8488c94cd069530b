"""Fault: two workers issuing, changing, revoking and printing licences at once.

Two :class:`~core.services.Services` on one PostgreSQL schema (each with its own engine and
connection pool, as two ``govtrust serve`` workers have) act on the same licences from
threads released together by a barrier:

* a revocation and a change of the same version: exactly one wins; the other is refused
  with 409/422 and leaves nothing (no second version, no event, no audit entry); five rounds;
* both workers issue licences of the same type and issuer at once: distinct serials,
  identifiers and status-list indices;
* both workers print the same licence at once: distinct print serials and status-list
  indices, one ``licence.printed`` entry per print;
* changes and issues at once never deadlock (a change took the audit trail's append lock
  before the status-list counter, an issue the other way round: PostgreSQL aborted one of
  them with ``deadlock detected``, answered 503; found by ``test_fault_postgres_restart.py``);
* the audit trail verifies afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, text

from certs.demo_types import BUSINESS_LICENCE, demo_licence_types
from certs.lifecycle import LicenceState, china_date
from certs.models import Licence
from certs.service import LicenceService
from core.db.migrate import upgrade
from core.errors.problem import ProblemError
from core.services import Services, build_services
from tests.certs.conftest import ADMIN, BUSINESS_FIELDS, COMPANY_USCC, ISSUER, ISSUER_NAME
from tests.conftest import REDIS_URL, _need, make_settings
from tests.security.conftest import LiveClock

ROUNDS = 5


@dataclass
class Workers:
    one: Services
    two: Services

    def registries(self) -> tuple[LicenceService, LicenceService]:
        return tuple(  # type: ignore[return-value]
            LicenceService(s.sessions, s.identifiers, s.audit, s.keys.clock)
            for s in (self.one, self.two)
        )


@pytest.fixture
def workers(tmp_path: Path, pg_schema: tuple[str, str]) -> Iterator[Workers]:
    url, schema = pg_schema
    settings = make_settings(
        tmp_path,
        database_url=url,
        redis_url=_need(REDIS_URL, "GOVTRUST_TEST_REDIS_URL"),
        cache_prefix=f"test:{schema}:",
    )
    one = build_services(settings, schema=schema, clock=LiveClock())
    two = build_services(settings, schema=schema, clock=LiveClock())
    try:
        upgrade(one.engine)
        one.keys.init()
        registry = LicenceService(one.sessions, one.identifiers, one.audit, one.keys.clock)
        for licence_type in demo_licence_types(seal_id="seal-demo-1"):
            registry.register_type(licence_type, ADMIN)
        yield Workers(one, two)
    finally:
        one.close()
        two.close()


def issue(registry: LicenceService) -> Licence:
    return registry.issue(
        BUSINESS_LICENCE,
        ISSUER,
        ISSUER_NAME,
        BUSINESS_FIELDS["name"],
        COMPANY_USCC,
        BUSINESS_FIELDS,
        china_date(registry.clock()),
        ADMIN,
    )


def at_once(*actions: Callable[[], Any]) -> list[Any]:
    """Run ``actions`` in threads released together; each result or the exception raised."""
    barrier = threading.Barrier(len(actions))

    def run(action: Callable[[], Any]) -> Any:
        barrier.wait(10)
        try:
            return action()
        except Exception as exc:  # the outcome under test
            return exc

    with ThreadPoolExecutor(len(actions)) as pool:
        return list(pool.map(run, actions))


def audit_of(services: Services, identifiers: list[str]) -> list[str]:
    with services.sessions() as session:
        rows = session.execute(
            text(
                "SELECT action FROM audit_entries WHERE object_id IN :ids ORDER BY idx"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": identifiers},
        ).scalars()
        return list(rows)


def test_revoke_and_change_at_once_exactly_one_wins(workers: Workers) -> None:
    one, two = workers.registries()
    changed_fields = {**BUSINESS_FIELDS, "address": "吉林省长春市朝阳区人民大街9号"}
    for _ in range(ROUNDS):
        licence = issue(one)
        revoked, changed = at_once(
            lambda: one.revoke(licence.identifier, "注销登记", ADMIN),  # noqa: B023
            lambda: two.change(licence.identifier, changed_fields, "住所变更", ADMIN),  # noqa: B023
        )
        outcomes = [not isinstance(result, Exception) for result in (revoked, changed)]
        assert outcomes.count(True) == 1, (revoked, changed)
        loser = changed if outcomes[0] else revoked
        assert isinstance(loser, ProblemError), repr(loser)
        assert loser.problem.status in (409, 422), loser.problem
        first = one.get(licence.identifier)
        if outcomes[0]:
            assert first.state is LicenceState.REVOKED and first.superseded_by is None
            assert audit_of(workers.one, [licence.identifier]) == [
                "licence.issued",
                "licence.revoked",
            ]
        else:
            assert first.superseded_by is not None
            second = one.get(first.superseded_by)
            assert second.version == 2 and second.state is LicenceState.VALID
            assert second.fields["address"] == changed_fields["address"]
            actions = audit_of(workers.one, [licence.identifier, second.identifier])
            assert "licence.revoked" not in actions
            assert actions.count("licence.issued") == 1
    with workers.one.sessions() as session:
        assert workers.one.audit.verify(session).ok


def test_concurrent_issues_and_prints_get_distinct_numbers(workers: Workers) -> None:
    one, two = workers.registries()
    issued = at_once(*[lambda r=registry: issue(r) for registry in (one, two) * 6])
    assert all(isinstance(licence, Licence) for licence in issued), issued
    assert len({licence.identifier for licence in issued}) == 12
    assert len({licence.licence_number for licence in issued}) == 12
    licence = issued[0]
    serials = at_once(
        *[
            lambda r=registry: r.record_print(licence.identifier, ADMIN)
            for registry in (one, two) * 8
        ]
    )
    assert all(isinstance(serial, str) for serial in serials), serials
    assert len(set(serials)) == 16
    prints = one.prints(licence.identifier)
    assert {p.print_serial for p in prints} == set(serials)
    with workers.one.sessions() as session:
        indices = session.execute(
            text(
                "SELECT status_list_index FROM licences UNION ALL "
                "SELECT status_list_index FROM licence_prints"
            )
        ).scalars()
        taken = list(indices)
        assert len(taken) == len(set(taken)) == 12 + 16
        printed = session.execute(
            text("SELECT count(*) FROM audit_entries WHERE action = 'licence.printed'")
        ).scalar_one()
        assert printed == 16
        assert workers.one.audit.verify(session).ok


def test_changes_and_issues_at_once_do_not_deadlock(workers: Workers) -> None:
    one, two = workers.registries()
    chains = [issue(one) for _ in range(4)]
    for round_ in range(ROUNDS):
        fields = {**BUSINESS_FIELDS, "address": f"吉林省长春市朝阳区人民大街{round_ + 10}号"}
        outcomes = at_once(
            *[
                lambda r=registry, c=chain, f=fields: r.change(c.identifier, f, "住所变更", ADMIN)
                for registry, chain in zip((one, two) * 2, chains, strict=True)
            ],
            *[lambda r=registry: issue(r) for registry in (one, two) * 2],
        )
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        chains = outcomes[:4]
    with workers.one.sessions() as session:
        assert workers.one.audit.verify(session).ok
