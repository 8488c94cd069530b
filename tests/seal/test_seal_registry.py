"""The seal registry: who may make, authorise, use, suspend and revoke seals."""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from core.audit.storage import AuditEntryRow
from core.errors.problem import ProblemError
from core.identifiers.free_text import PersonalDataInText
from core.services import Services
from idp.identities.service import IdentityService
from idp.identities.storage import OrganisationRow, PersonRow
from keys.revocation import Revocation
from seal.registry import NotSealAdministrator, SealGrantExists, SealRegistry, SealUseRefused
from tests.conftest import FrozenClock

LOA1, LOA2 = "urn:govtrust:loa:1", "urn:govtrust:loa:2"


class People:
    def __init__(self, services: Services) -> None:
        ids = IdentityService(
            services.sessions, services.identifiers, services.audit, services.keys.clock
        )
        self.boss = ids.register_person("11010519491231002X", "张三", actor="t").id
        self.clerk = ids.register_person("350102198001010011", "李四", actor="t").id
        self.stranger = ids.register_person("110105198506150014", "王五", actor="t").id
        self.org = ids.register_organisation(
            "91350100M000100Y43", "福州示例科技有限公司", self.boss, actor="t"
        ).id


@pytest.fixture
def people(services: Services) -> People:
    return People(services)


@pytest.fixture
def seals(services: Services) -> SealRegistry:
    return SealRegistry(services.sessions, services.keys, services.audit, services.keys.clock)


def actions(services: Services) -> list[str]:
    with services.sessions() as session:
        return [row.action for row in session.scalars(select(AuditEntryRow))]


def test_the_legal_representative_makes_a_seal_with_its_own_certificate(
    services: Services, people: People, seals: SealRegistry
) -> None:
    seal = seals.create(organisation_id=people.org, kind="approval", by=people.boss)
    assert seal.name == "审批专用章" and seal.uscc == "91350100M000100Y43"
    chain = services.keys.signer_by_kid(seal.key_kid).certificate_chain()
    subject = chain[0].subject
    assert subject.get_attributes_for_oid(x509.NameOID.SERIAL_NUMBER)[0].value == seal.uscc
    assert subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "审批专用章"
    assert seals.image(seal.id).startswith(b"\x89PNG")
    assert "seal.created" in actions(services)


def test_only_a_seal_administrator_makes_or_grants(people: People, seals: SealRegistry) -> None:
    with pytest.raises(NotSealAdministrator):
        seals.create(organisation_id=people.org, kind="official", by=people.stranger)
    seal = seals.create(organisation_id=people.org, kind="contract", by=people.boss)
    with pytest.raises(NotSealAdministrator):
        seals.grant(
            seal.id, people.stranger, by=people.clerk, valid_until=seals.clock() + timedelta(days=1)
        )


def test_use_needs_a_grant_its_period_and_two_factors(
    services: Services, people: People, seals: SealRegistry, clock: FrozenClock
) -> None:
    seal = seals.create(organisation_id=people.org, kind="approval", by=people.boss)
    with pytest.raises(SealUseRefused, match="no valid authorisation"):
        seals.authorise_use(seal.id, people.clerk, LOA2)
    grant = seals.grant(
        seal.id, people.clerk, by=people.boss, valid_until=clock.now + timedelta(days=30)
    )
    assert seals.authorise_use(seal.id, people.clerk, LOA2).id == seal.id
    with pytest.raises(SealUseRefused, match="log in at"):
        seals.authorise_use(seal.id, people.clerk, LOA1)
    with pytest.raises(SealUseRefused):
        seals.authorise_use(seal.id, people.stranger, LOA2)
    clock.advance(days=31)
    with pytest.raises(SealUseRefused, match="no valid authorisation"):
        seals.authorise_use(seal.id, people.clerk, LOA2)
    assert grant.valid_until < clock.now
    assert actions(services).count("seal.use_refused") == 4


def test_withdrawing_a_grant_takes_effect_at_once(people: People, seals: SealRegistry) -> None:
    seal = seals.create(organisation_id=people.org, kind="approval", by=people.boss)
    grant = seals.grant(
        seal.id, people.clerk, by=people.boss, valid_until=seals.clock() + timedelta(days=30)
    )
    seals.authorise_use(seal.id, people.clerk, LOA2)
    seals.withdraw(grant.id, by=people.boss)
    with pytest.raises(SealUseRefused):
        seals.authorise_use(seal.id, people.clerk, LOA2)


def test_one_valid_grant_per_person_and_seal(
    people: People, seals: SealRegistry, clock: FrozenClock
) -> None:
    """A second grant would outlive the withdrawal of the first: refused (409) while the
    first is valid; once it is withdrawn or has run out, the person may be granted again."""
    seal = seals.create(organisation_id=people.org, kind="approval", by=people.boss)
    grant = seals.grant(
        seal.id, people.clerk, by=people.boss, valid_until=clock.now + timedelta(days=30)
    )
    with pytest.raises(SealGrantExists) as refused:
        seals.grant(
            seal.id, people.clerk, by=people.boss, valid_until=clock.now + timedelta(days=60)
        )
    assert refused.value.problem.status == 409
    seals.grant(  # another person, or another seal, is another grant
        seal.id, people.stranger, by=people.boss, valid_until=clock.now + timedelta(days=30)
    )
    seals.withdraw(grant.id, by=people.boss)
    again = seals.grant(
        seal.id, people.clerk, by=people.boss, valid_until=clock.now + timedelta(days=1)
    )
    clock.advance(days=2)
    seals.grant(seal.id, people.clerk, by=people.boss, valid_until=clock.now + timedelta(days=1))
    assert again.valid_until < clock.now


def test_a_grant_made_twice_at_once_is_made_once(
    people: People, seals: SealRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two grants at the same moment (a form sent twice): each waits for the other after
    reading the seal, so both would find no grant if the read did not hold the seal's row."""
    seal = seals.create(organisation_id=people.org, kind="approval", by=people.boss)
    meeting = threading.Barrier(2)
    require_admin = SealRegistry._require_admin

    def slow_require_admin(registry: SealRegistry, *args: Any) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            meeting.wait(timeout=1)  # the other grant, unless the seal's row holds it
        require_admin(registry, *args)

    monkeypatch.setattr(SealRegistry, "_require_admin", slow_require_admin)

    def grant(_: int) -> str:
        until = seals.clock() + timedelta(days=30)
        try:
            return seals.grant(seal.id, people.clerk, by=people.boss, valid_until=until).id
        except SealGrantExists:
            return "refused"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(grant, (1, 2)))
    assert outcomes[1] == "refused" and outcomes[0] != "refused"
    with seals.sessions() as session:
        assert len(seals.store.grants(session, seal.id, people.clerk)) == 1


def test_a_disabled_person_or_organisation_stamps_nothing(
    services: Services, people: People, seals: SealRegistry
) -> None:
    """A grant outlives neither its person's nor its seal's organisation's account: once
    either is disabled, the seal is refused (for the system's use too, for the
    organisation), until enabled again."""
    seal = seals.create(organisation_id=people.org, kind="approval", by=people.boss)
    seals.grant(
        seal.id, people.clerk, by=people.boss, valid_until=seals.clock() + timedelta(days=30)
    )
    seals.authorise_use(seal.id, people.clerk, LOA2)
    for row_type, row_id, refusal in (
        (PersonRow, people.clerk, "person is disabled"),
        (OrganisationRow, people.org, "organisation is disabled"),
    ):
        with services.sessions.begin() as session:
            session.execute(update(row_type).where(row_type.id == row_id).values(status="disabled"))
        with pytest.raises(SealUseRefused, match=refusal):
            seals.authorise_use(seal.id, people.clerk, LOA2)
        if row_type is OrganisationRow:
            with pytest.raises(SealUseRefused, match=refusal):
                seals.authorise_system_use(seal.id, "licence-issuing")
        with services.sessions.begin() as session:
            session.execute(update(row_type).where(row_type.id == row_id).values(status="active"))
        seals.authorise_use(seal.id, people.clerk, LOA2)


def test_suspend_resume_and_revoke(services: Services, people: People, seals: SealRegistry) -> None:
    seal = seals.create(organisation_id=people.org, kind="approval", by=people.boss)
    seals.grant(
        seal.id, people.clerk, by=people.boss, valid_until=seals.clock() + timedelta(days=30)
    )
    seals.set_status(seal.id, "suspended", by=people.boss, reason="印章保管人调岗")
    with pytest.raises(SealUseRefused, match="suspended"):
        seals.authorise_use(seal.id, people.clerk, LOA2)
    seals.set_status(seal.id, "active", by=people.boss, reason="恢复使用")
    seals.authorise_use(seal.id, people.clerk, LOA2)
    seals.set_status(seal.id, "revoked", by=people.boss, reason="机构注销")
    with pytest.raises(SealUseRefused, match="revoked"):
        seals.authorise_use(seal.id, people.clerk, LOA2)
    certificate = services.keys.signer_by_kid(seal.key_kid).certificate_chain()
    status = Revocation(services.keys).status(certificate[1], certificate[0].serial_number)
    assert status is not None and status.status == "revoked"
    with pytest.raises(Exception, match="cannot become"):
        seals.set_status(seal.id, "active", by=people.boss, reason="想恢复")
    with pytest.raises(Exception, match="reason"):
        seals.set_status(seal.id, "suspended", by=people.boss, reason=" ")


def test_a_reason_with_an_id_number_is_refused_before_anything_changes(
    people: People, seals: SealRegistry
) -> None:
    """The reason goes into the audit entry, which holds no ID numbers: a 422 naming the
    field, the seal unchanged (not a 500 when the entry is written)."""
    seal = seals.create(organisation_id=people.org, kind="approval", by=people.boss)
    with pytest.raises(PersonalDataInText) as refused:
        seals.set_status(
            seal.id, "suspended", by=people.boss, reason="保管人11010519491231002X调岗"
        )
    assert refused.value.problem.status == 422 and "reason" in str(refused.value.problem.detail)
    assert seals.get(seal.id).status == "active"


def test_a_seal_is_revoked_with_its_certificate_or_not_at_all(
    services: Services, people: People, seals: SealRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The certificate's revocation fails (the database gives up on a lock, say): the seal
    stays as it was, so the administrator can revoke it again, instead of a seal called
    revoked whose certificate CRL and OCSP still call good, which a second revocation could
    no longer reach (revoked to revoked is refused)."""
    seal = seals.create(organisation_id=people.org, kind="approval", by=people.boss)
    certificate = services.keys.signer_by_kid(seal.key_kid).certificate_chain()

    def failing(*_args: object, **_kwargs: object) -> None:
        raise OperationalError("UPDATE issued_certificates", {}, Exception("lock timeout"))

    monkeypatch.setattr(Revocation, "revoke_in", failing)
    with pytest.raises(OperationalError):
        seals.set_status(seal.id, "revoked", by=people.boss, reason="机构注销")
    assert seals.get(seal.id).status == "active"
    monkeypatch.undo()
    assert seals.set_status(seal.id, "revoked", by=people.boss, reason="机构注销").status == (
        "revoked"
    )
    status = Revocation(services.keys).status(certificate[1], certificate[0].serial_number)
    assert status is not None and status.status == "revoked"


def test_a_seal_whose_certificate_was_revoked_elsewhere_is_refused(
    services: Services, people: People, seals: SealRegistry
) -> None:
    """Revoked with ``govtrust keys revoke-certificate``, not through the seal: the seal is
    still active in the registry, but it seals nothing a validator would refuse."""
    seal = seals.create(organisation_id=people.org, kind="approval", by=people.boss)
    seals.grant(
        seal.id, people.clerk, by=people.boss, valid_until=seals.clock() + timedelta(days=30)
    )
    seals.authorise_use(seal.id, people.clerk, LOA2)
    leaf, issuer = services.keys.signer_by_kid(seal.key_kid).certificate_chain()[:2]
    seal_ca = next(k for k in services.keys.list_keys("seal-ca") if k.certificate == issuer)
    Revocation(services.keys).revoke(
        seal_ca.kid, leaf.serial_number, x509.ReasonFlags.key_compromise
    )
    with pytest.raises(SealUseRefused, match="certificate is revoked"):
        seals.authorise_use(seal.id, people.clerk, LOA2)
    with pytest.raises(SealUseRefused, match="certificate is revoked"):
        seals.authorise_system_use(seal.id, "licence-issuing")
    assert actions(services).count("seal.use_refused") == 2


def test_a_revocation_and_a_resumption_at_once_leave_the_seal_revoked(
    services: Services, people: People, seals: SealRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A suspended seal revoked and resumed at the same moment: each change waits for the
    other after reading the seal, so both would see it suspended if the read did not hold
    the row. Revoked is final: whichever comes second must see the first."""
    seal = seals.create(organisation_id=people.org, kind="approval", by=people.boss)
    seals.set_status(seal.id, "suspended", by=people.boss, reason="印章保管人调岗")
    meeting = threading.Barrier(2)
    asked = threading.local()
    require_admin = SealRegistry._require_admin

    def slow_require_admin(registry: SealRegistry, *args: Any) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            meeting.wait(timeout=1)  # the other change, unless the seal's row holds it
        if asked.status == "active":
            time.sleep(0.3)  # the resumption, if it read the seal suspended, commits last
        require_admin(registry, *args)

    monkeypatch.setattr(SealRegistry, "_require_admin", slow_require_admin)

    def change(status: str) -> str:
        asked.status = status
        try:
            return seals.set_status(seal.id, status, by=people.boss, reason="同时").status
        except ProblemError as refused:
            return refused.problem.type.rsplit("/", 1)[-1]

    with ThreadPoolExecutor(2) as pool:
        outcomes = dict(
            zip(("revoked", "active"), pool.map(change, ("revoked", "active")), strict=True)
        )
    assert outcomes["revoked"] == "revoked"  # active or suspended: either may be revoked
    assert outcomes["active"] in ("active", "illegal-transition")
    assert seals.get(seal.id).status == "revoked"
