"""Persons, organisations, representations and real-name proofing, on both backends."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from core.audit.entry import parse_entry
from core.db.engine import transaction
from core.db.migrate import upgrade
from core.identifiers.errors import InvalidIdentifier
from core.identifiers.resident_id import check_digit, parse_resident_id
from core.services import Services, build_services
from idp.identities.errors import (
    AgentExists,
    IdentityExists,
    IdentityNotFound,
    InvalidGrant,
    InvalidName,
    InvalidPhone,
    NotAllowed,
)
from idp.identities.models import Person, Representation
from idp.identities.proofing import LocalRegistryProofing, RealNameProofing
from idp.identities.service import IdentityService
from idp.identities.storage import OrganisationRow, PersonRow, SqlIdentityStore
from tests.conftest import FrozenClock, make_settings

ZHANG = "11010519491231002X"
LI = "440300199001011238"
WANG = "310115198506152343"
ZHAO = "510108200002294560"
USCC = "91350100M000100Y43"
PHONE = "13812345678"
SECRETS = (ZHANG, LI, WANG, ZHAO, PHONE)

store = SqlIdentityStore()


@pytest.fixture
def identities(services: Services, clock: FrozenClock) -> IdentityService:
    return IdentityService(services.sessions, services.identifiers, services.audit, clock)


def _values(services: Services) -> list[tuple[str, str, object]]:
    """Every value of every row of every table: (table, column, value)."""
    found: list[tuple[str, str, object]] = []
    with services.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            result = connection.execute(text(f'SELECT * FROM "{table}"'))
            for row in result.mappings():
                found.extend((table, column, value) for column, value in row.items())
    return found


def _as_text(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return data.decode("latin-1") + data.hex() + data.decode("utf-16-le", "ignore")
    return str(value)


def _leaks(services: Services, secret: str) -> list[tuple[str, str]]:
    """Where the secret (or its first 17 digits) appears in clear in the database."""
    needles = {secret, secret[:17], secret.lower()}
    return [
        (table, column)
        for table, column, value in _values(services)
        if any(needle in _as_text(value) for needle in needles)
    ]


def _audit(services: Services) -> list[tuple[str, str, str, bytes]]:
    with services.sessions() as session:
        return [
            (e.actor, e.action, e.object_id, e.entry) for e in services.audit.store.entries(session)
        ]


def _count_persons(services: Services) -> int:
    with services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(PersonRow)) or 0)


# Persons


def test_register_person_then_find_by_id_number_as_typed(
    identities: IdentityService, services: Services
) -> None:
    person = identities.register_person(ZHANG, "张三", phone=f"+86 {PHONE}", actor="counter:1")
    assert person.name == "张三"
    assert person.status == "active"
    assert person.id_number_masked == "110105********002X"
    assert person.phone_masked == "138****5678"
    with services.sessions() as session:
        for typed in (ZHANG.lower(), f"  {ZHANG[:6]} {ZHANG[6:14]} {ZHANG[14:].lower()} "):
            assert store.person_by_id_number(session, services.identifiers, typed) == person
        assert store.person_by_id(session, person.id) == person
        assert store.person_by_subject(session, person.subject) == person
        # Negative: another valid number, unknown ids.
        assert store.person_by_id_number(session, services.identifiers, LI) is None
        assert store.person_by_id(session, "0" * 32) is None
        assert store.person_by_subject(session, "0" * 32) is None


def test_database_holds_no_clear_id_or_phone_number(
    identities: IdentityService, services: Services
) -> None:
    person = identities.register_person(ZHANG, "张三", phone=PHONE, actor="counter:1")
    other = identities.register_person(LI, "李四", actor="counter:1")
    identities.register_organisation(USCC, "示例科技有限公司", person.id, actor="admin")
    LocalRegistryProofing(services.sessions, services.identifiers).add(WANG, "王五")
    # The scan does see the rows: the masked forms and the subject are there.
    seen = {_as_text(value) for _, _, value in _values(services)}
    assert {person.id_number_masked, other.id_number_masked, "138****5678"} <= seen
    assert person.subject in seen
    for secret in (ZHANG, LI, WANG, PHONE):
        assert _leaks(services, secret) == []
    # Negative control: the scanner would have found a clear number.
    assert ("organisations", "uscc") in _leaks(services, USCC)
    with services.sessions() as session:
        row = session.get(PersonRow, person.id)
        assert row is not None
        assert row.id_number_index != ZHANG
        assert ZHANG.encode() not in bytes(row.id_number_encrypted)


def test_decrypt_id_number_is_the_way_back(identities: IdentityService, services: Services) -> None:
    person = identities.register_person(ZHANG.lower(), "张三", actor="counter:1")
    with services.sessions() as session:
        number = store.decrypt_id_number(session, services.identifiers, person.id)
        assert number.value == ZHANG
        assert ZHANG not in repr(number)
        with pytest.raises(IdentityNotFound):
            store.decrypt_id_number(session, services.identifiers, "0" * 32)


def test_duplicate_person_refused(identities: IdentityService, services: Services) -> None:
    identities.register_person(ZHANG, "张三", actor="counter:1")
    with pytest.raises(IdentityExists) as caught:
        identities.register_person(f" {ZHANG.lower()} ", "张三丰", actor="counter:2")
    assert ZHANG not in str(caught.value) and ZHANG not in repr(caught.value.args)
    assert _count_persons(services) == 1
    identities.register_person(LI, "李四", actor="counter:2")  # another number is fine
    assert _count_persons(services) == 2


def test_duplicate_lost_race_is_refused_by_the_unique_index(
    identities: IdentityService, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    identities.register_person(ZHANG, "张三", actor="counter:1")
    monkeypatch.setattr(identities.store, "person_by_id_number", lambda *args: None)
    with pytest.raises(IdentityExists):
        identities.register_person(ZHANG, "张三", actor="counter:2")
    assert _count_persons(services) == 1


@pytest.mark.parametrize(
    "bad",
    [
        "110105194912310021",  # wrong check digit
        "11010519491231002",  # 17 characters
        "1101051949123100X2",  # X not last
        "110105202801010000",  # wrong check digit
        "11010520280101000" + check_digit("11010520280101000"),  # born after today
    ],
)
def test_invalid_id_number_refused(
    identities: IdentityService, services: Services, bad: str
) -> None:
    before = _audit(services)
    with pytest.raises(InvalidIdentifier) as caught:
        identities.register_person(bad, "张三", actor="counter:1")
    assert bad not in str(caught.value)
    assert _count_persons(services) == 0
    assert _audit(services) == before
    with services.sessions() as session, pytest.raises(InvalidIdentifier):
        store.person_by_id_number(session, services.identifiers, bad)


def test_invalid_name_and_phone_refused(identities: IdentityService, services: Services) -> None:
    for name in ("", "   ", "张\x00三", "名" * 201):
        with pytest.raises(InvalidName):
            identities.register_person(ZHANG, name, actor="counter:1")
    with pytest.raises(InvalidPhone):
        identities.register_person(ZHANG, "张三", phone="12812345678", actor="counter:1")
    assert _count_persons(services) == 0
    assert identities.register_person(ZHANG, " 张三 ", actor="counter:1").name == "张三"


def test_subject_is_random_not_derived_from_the_number(
    identities: IdentityService, services: Services, tmp_path: Path, clock: FrozenClock
) -> None:
    zhang = identities.register_person(ZHANG, "张三", actor="counter:1")
    li = identities.register_person(LI, "李四", actor="counter:1")
    for person in (zhang, li):
        assert re.fullmatch(r"[0-9a-f]{32}", person.subject)
        assert person.subject != person.id
    assert zhang.subject != li.subject
    # The same number, under the same secret, in another database: same blind index,
    # different subject. A subject derived from the number would come out equal.
    other = build_services(make_settings(tmp_path / "other"), clock=clock)
    try:
        upgrade(other.engine)
        again = IdentityService(other.sessions, other.identifiers, other.audit, clock)
        twin = again.register_person(ZHANG, "张三", actor="counter:1")
        assert twin.subject != zhang.subject
        with services.sessions() as first, other.sessions() as second:
            row_a = first.get(PersonRow, zhang.id)
            row_b = second.get(PersonRow, twin.id)
            assert row_a is not None and row_b is not None
            assert row_a.id_number_index == row_b.id_number_index
    finally:
        other.close()


def test_find_by_phone(identities: IdentityService, services: Services, clock: FrozenClock) -> None:
    zhang = identities.register_person(ZHANG, "张三", phone="138-1234-5678", actor="counter:1")
    clock.advance(seconds=1)
    li = identities.register_person(LI, "李四", phone="8613812345678", actor="counter:1")
    identities.register_person(WANG, "王五", phone="13912345678", actor="counter:1")
    with services.sessions() as session:
        assert store.person_by_phone(session, services.identifiers, "+86 138 1234 5678") == [
            zhang,
            li,
        ]
        assert store.person_by_phone(session, services.identifiers, "13700000000") == []
        with pytest.raises(InvalidPhone):
            store.person_by_phone(session, services.identifiers, "12345")


def test_store_unique_index_refuses_a_second_row(
    identities: IdentityService, services: Services, clock: FrozenClock
) -> None:
    identities.register_person(ZHANG, "张三", actor="counter:1")
    twin = Person("f" * 32, "e" * 32, "张三", "x", None, "active", clock())
    with pytest.raises(IntegrityError), transaction(services.sessions) as session:
        store.add_person(session, services.identifiers, twin, parse_resident_id(ZHANG))
    assert _count_persons(services) == 1


# Organisations and representation


def _company(identities: IdentityService) -> tuple[Person, str]:
    boss = identities.register_person(ZHANG, "张三", actor="counter:1")
    org = identities.register_organisation(USCC, "示例科技有限公司", boss.id, actor="admin")
    return boss, org.id


def test_organisation_with_its_legal_representative(
    identities: IdentityService, services: Services, clock: FrozenClock
) -> None:
    boss = identities.register_person(ZHANG, "张三", actor="counter:1")
    outsider = identities.register_person(LI, "李四", actor="counter:1")
    org = identities.register_organisation(USCC.lower(), "示例科技有限公司", boss.id, actor="admin")
    assert org.uscc == USCC
    with services.sessions() as session:
        assert store.organisation_by_uscc(session, f" {USCC.lower()} ") == org
        assert store.organisation_by_id(session, org.id) == org
        assert store.organisation_by_id(session, "0" * 32) is None
        reps = store.representatives_of_organisation(session, org.id)
    assert [(r.person_id, r.role, r.scopes, r.granted_by) for r in reps] == [
        (boss.id, "legal_representative", ("*",), None)
    ]
    assert reps[0].is_valid_at(clock()) and reps[0].allows("seal:use")
    assert identities.acting_options(boss.id) == [org]
    assert identities.acting_options(outsider.id) == []


def test_organisation_refusals(identities: IdentityService, services: Services) -> None:
    boss, _ = _company(identities)
    with pytest.raises(IdentityExists):
        identities.register_organisation(USCC, "另一家公司", boss.id, actor="admin")
    with pytest.raises(IdentityNotFound):
        identities.register_organisation("91110000600037341L", "某公司", "0" * 32, actor="admin")
    with pytest.raises(InvalidIdentifier):
        identities.register_organisation("91350100M000100Y44", "某公司", boss.id, actor="admin")
    with services.sessions() as session:
        assert store.organisation_by_uscc(session, "91110000600037341L") is None


def test_agent_granted_by_the_legal_representative_may_act(
    identities: IdentityService, clock: FrozenClock
) -> None:
    boss, org_id = _company(identities)
    clerk = identities.register_person(LI, "李四", actor="counter:1")
    assert identities.acting_options(clerk.id) == []
    until = clock() + timedelta(days=30)
    grant = identities.grant_agent(
        org_id, clerk.id, ["licence:read", "seal:use", "seal:use"], until, granted_by=boss.id
    )
    assert (grant.role, grant.scopes, grant.granted_by) == (
        "agent",
        ("licence:read", "seal:use"),
        boss.id,
    )
    assert grant.valid_until == until and grant.is_valid_at(clock())
    assert grant.allows("seal:use") and not grant.allows("licence:issue")
    assert [o.id for o in identities.acting_options(clerk.id)] == [org_id]


def test_only_a_legal_representative_may_grant(
    identities: IdentityService, clock: FrozenClock
) -> None:
    boss, org_id = _company(identities)
    clerk = identities.register_person(LI, "李四", actor="counter:1")
    third = identities.register_person(WANG, "王五", actor="counter:1")
    other_boss = identities.register_person(ZHAO, "赵六", actor="counter:1")
    identities.register_organisation("91110000600037341L", "别家公司", other_boss.id, actor="admin")
    identities.grant_agent(org_id, clerk.id, ["seal:use"], None, granted_by=boss.id)
    for granter in (clerk.id, third.id, other_boss.id, "0" * 32):
        with pytest.raises(NotAllowed):
            identities.grant_agent(org_id, third.id, ["seal:use"], None, granted_by=granter)
    assert identities.acting_options(third.id) == []
    with pytest.raises(IdentityNotFound):
        identities.grant_agent("0" * 32, third.id, ["seal:use"], None, granted_by=boss.id)
    with pytest.raises(IdentityNotFound):
        identities.grant_agent(org_id, "0" * 32, ["seal:use"], None, granted_by=boss.id)
    past = clock() - timedelta(seconds=1)
    for scopes, until in (([], None), (["*"], None), (["seal use"], None), (["seal:use"], past)):
        with pytest.raises(InvalidGrant):
            identities.grant_agent(org_id, third.id, scopes, until, granted_by=boss.id)
    identities.grant_agent(org_id, third.id, ["licence:read"], None, granted_by=boss.id)
    assert [o.id for o in identities.acting_options(third.id)] == [org_id]


def test_one_valid_agent_authority_per_person_and_organisation(
    identities: IdentityService, clock: FrozenClock
) -> None:
    """A grant sent twice (a form sent again, two at once) makes one authority, so that one
    withdrawal ends it; after a withdrawal or the end of one, a new one may be granted."""
    boss, org_id = _company(identities)
    clerk = identities.register_person(LI, "李四", actor="counter:1")
    outcomes: list[object] = []
    barrier = threading.Barrier(2)

    def grant() -> None:
        barrier.wait()
        try:
            outcomes.append(
                identities.grant_agent(org_id, clerk.id, ["seal:use"], None, granted_by=boss.id)
            )
        except AgentExists as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=grant) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    [made] = [o for o in outcomes if isinstance(o, Representation)]
    assert [type(o) for o in outcomes if not isinstance(o, Representation)] == [AgentExists]
    identities.revoke_agent(made.id, by=boss.id)
    assert identities.acting_options(clerk.id) == []  # one withdrawal ended it
    again = identities.grant_agent(org_id, clerk.id, ["seal:use"], None, granted_by=boss.id)
    assert again.is_valid_at(clock())


def test_expired_grant_is_not_valid(
    identities: IdentityService, services: Services, clock: FrozenClock
) -> None:
    boss, org_id = _company(identities)
    clerk = identities.register_person(LI, "李四", actor="counter:1")
    grant = identities.grant_agent(
        org_id, clerk.id, ["licence:read"], clock() + timedelta(days=1), granted_by=boss.id
    )
    clock.advance(days=1, seconds=-1)
    assert grant.is_valid_at(clock())
    assert [o.id for o in identities.acting_options(clerk.id)] == [org_id]
    clock.advance(seconds=1)
    assert not grant.is_valid_at(clock())
    assert identities.acting_options(clerk.id) == []
    with services.sessions() as session:
        assert store.representations_of_person(session, clerk.id, clock()) == []
        assert store.representatives_of_organisation(session, org_id, clock())[0].person_id == (
            boss.id
        )
        assert len(store.representatives_of_organisation(session, org_id)) == 2


def test_organisations_a_person_represents_each_once_while_valid_and_active(
    identities: IdentityService, services: Services, clock: FrozenClock
) -> None:
    boss, first = _company(identities)
    second = identities.register_organisation(
        "91110000600037341L", "第二家公司", boss.id, actor="admin"
    ).id
    clerk = identities.register_person(LI, "李四", actor="counter:1")
    identities.grant_agent(second, clerk.id, ["seal:use"], None, granted_by=boss.id)
    clock.advance(seconds=1)
    identities.grant_agent(first, clerk.id, ["seal:use"], None, granted_by=boss.id)
    with transaction(services.sessions) as session:  # a second one of that organisation, as
        store.add_representation(  # older records may hold (grant_agent refuses it now)
            session,
            Representation(
                id="f" * 32,
                organisation_id=second,
                person_id=clerk.id,
                role="agent",
                scopes=("licence:read",),
                valid_from=clock(),
                valid_until=None,
                granted_by=boss.id,
                revoked_at=None,
            ),
        )
    with services.sessions() as session:
        found = store.organisations_represented_by(session, clerk.id, clock())
        # oldest representation first; the second one of an organisation adds nothing
        assert [o.id for o in found] == [second, first]
        assert store.organisations_represented_by(session, clerk.id, clock() - timedelta(1)) == []
    with transaction(services.sessions) as session:
        row = session.get(OrganisationRow, second)
        assert row is not None
        row.status = "disabled"
    with services.sessions() as session:
        assert [o.id for o in store.organisations_represented_by(session, clerk.id, clock())] == [
            first
        ]
    assert [o.id for o in identities.acting_options(clerk.id)] == [first]


def test_revoked_grant_is_not_valid_at_once(
    identities: IdentityService, services: Services, clock: FrozenClock
) -> None:
    boss, org_id = _company(identities)
    clerk = identities.register_person(LI, "李四", actor="counter:1")
    grant = identities.grant_agent(org_id, clerk.id, ["seal:use"], None, granted_by=boss.id)
    with pytest.raises(NotAllowed):  # an agent cannot revoke, not even itself
        identities.revoke_agent(grant.id, by=clerk.id)
    assert [o.id for o in identities.acting_options(clerk.id)] == [org_id]
    revoked = identities.revoke_agent(grant.id, by=boss.id)
    assert revoked.revoked_at == clock()
    assert not revoked.is_valid_at(clock())
    assert identities.acting_options(clerk.id) == []
    clock.advance(minutes=5)
    assert identities.revoke_agent(grant.id, by=boss.id).revoked_at == revoked.revoked_at
    assert [a for _, a, _, _ in _audit(services)].count("agent.revoked") == 1
    with services.sessions() as session:
        reps = store.representatives_of_organisation(session, org_id)
    [lr] = [r for r in reps if r.role == "legal_representative"]
    with pytest.raises(NotAllowed):  # the legal representative is not revoked as an agent
        identities.revoke_agent(lr.id, by=boss.id)
    with pytest.raises(IdentityNotFound):
        identities.revoke_agent("0" * 32, by=boss.id)


def test_is_valid_at_bounds() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rep = Representation(
        "r", "o", "p", "agent", ("seal:use",), start, start + timedelta(days=2), "b", None
    )
    assert not rep.is_valid_at(start - timedelta(microseconds=1))
    assert rep.is_valid_at(start)
    assert not rep.is_valid_at(start + timedelta(days=2))
    revoked = Representation(
        "r", "o", "p", "agent", ("seal:use",), start, None, "b", start + timedelta(days=1)
    )
    assert revoked.is_valid_at(start + timedelta(hours=23))
    assert not revoked.is_valid_at(start + timedelta(days=1))


# Audit


def test_audit_entries_recorded_without_personal_data(
    identities: IdentityService, services: Services
) -> None:
    boss = identities.register_person(ZHANG, "张三", phone=PHONE, actor="counter:1")
    clerk = identities.register_person(LI, "李四", actor="counter:1")
    org = identities.register_organisation(USCC, "示例科技有限公司", boss.id, actor="admin")
    grant = identities.grant_agent(org.id, clerk.id, ["seal:use"], None, granted_by=boss.id)
    identities.revoke_agent(grant.id, by=boss.id)
    entries = _audit(services)
    mine = [(actor, action, object_id) for actor, action, object_id, _ in entries][-5:]
    assert mine == [
        ("counter:1", "person.registered", boss.id),
        ("counter:1", "person.registered", clerk.id),
        ("admin", "organisation.registered", org.id),
        (boss.id, "agent.granted", grant.id),
        (boss.id, "agent.revoked", grant.id),
    ]
    granted = parse_entry(entries[-2][3]).event.details
    assert granted["person"] == clerk.id and granted["scopes"] == ["seal:use"]
    for _, _, _, raw in entries:
        body = raw.decode("utf-8")
        for secret in (*SECRETS, ZHANG[:17], LI[:17], "张三", "李四", USCC):
            assert secret not in body
    with services.sessions() as session:
        assert services.audit.verify(session).ok


# Real-name proofing


def test_local_registry_proofing(services: Services) -> None:
    proofing: RealNameProofing = LocalRegistryProofing(services.sessions, services.identifiers)
    assert isinstance(proofing, LocalRegistryProofing)
    proofing.add(ZHANG.lower(), "张三")
    proofing.add(parse_resident_id(LI), "艾力·买买提")
    assert proofing.verify(parse_resident_id(ZHANG), "张三")
    assert proofing.verify(parse_resident_id(ZHANG), " 张三 ")
    assert not proofing.verify(parse_resident_id(ZHANG), "张四")
    assert not proofing.verify(parse_resident_id(ZHANG), "")
    assert not proofing.verify(parse_resident_id(WANG), "张三")  # not registered
    assert proofing.verify(parse_resident_id(LI), "艾力•买买提")  # look-alike dot
    assert not proofing.verify(parse_resident_id(LI), "艾力买买提")
    proofing.add(ZHANG, "张叁")  # a correction replaces the name
    assert proofing.verify(parse_resident_id(ZHANG), "张叁")
    assert not proofing.verify(parse_resident_id(ZHANG), "张三")
    with pytest.raises(InvalidName):
        proofing.add(WANG, " ")
