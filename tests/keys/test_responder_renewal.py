"""A running service renews its OCSP responder keys itself (RFC 6960 §4.2.2.2, a delegated
responder key per CA, certified for a year): the first OCSP answer that finds a responder
certificate within ``RENEW_BEFORE`` (30 days) of its end has the key made anew, without a
restart or ``govtrust keys init``, and answers with the new key; the old one is retired,
both audited; a CA rotated out gets one too while its certificate lasts. Far from the end
nothing is made (and nothing more is read or locked). Two workers, or two threads of one,
that notice at once make one new key per CA. A responder that already ends with its CA is
not made anew on every request of the CA's last month. A renewal that fails leaves the
answer to the keys there are, and is tried again a minute later, not on every request.

Every case runs on the embedded default (SQLite) and on PostgreSQL, on a frozen clock that
the tests move (2026-11-27 09:00 UTC at the start; the responder certificates end a year
later)."""

from __future__ import annotations

import base64
import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

import keys.revocation
from core.app import create_app
from core.audit.storage import AuditEntryRow
from core.services import Services
from keys.algorithms import verify_signature
from keys.registry import KeyInfo, KeyRegistry
from keys.renewal_policy import RENEW_BEFORE
from keys.revocation import RESPONDER_RETRY, Revocation
from tests.conftest import FrozenClock
from tests.keys.test_ca_responders import key_backend, seal_certificate  # noqa: F401
from tests.keys.test_registry import keyed, settings_for, start  # noqa: F401 (fixtures)

YEAR = timedelta(days=365)  # the responder certificates' lifetime (keys/purposes.py)
Status = ocsp.OCSPResponseStatus


def request_for(leaf: x509.Certificate, issuer: x509.Certificate) -> bytes:
    return (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, issuer, hashes.SHA256())
        .build()
        .public_bytes(Encoding.DER)
    )


def answer(
    services: Services, leaf: x509.Certificate, issuer: x509.Certificate
) -> ocsp.OCSPResponse:
    """The OCSP answer as the endpoint gives it (keys/router.py: a new Revocation each time)."""
    response = Revocation(services.keys).responder().respond(request_for(leaf, issuer))
    return ocsp.load_der_ocsp_response(response)


def ocsp_keys(services: Services) -> dict[str, KeyInfo]:
    return {key.kid: key for key in services.keys.list_keys("ocsp")}


def active_responders(services: Services) -> dict[str, str]:
    """CA kid -> its active responder's kid (one each, or the test fails)."""
    active = [key for key in services.keys.list_keys("ocsp") if key.state == "active"]
    by_ca = {str(key.issuer_kid): key.kid for key in active}
    assert len(by_ca) == len(active), "a CA with two active responder keys"
    return by_ca


def audited(services: Services, action: str) -> list[str]:
    """The object ids of the audit entries with ``action``, in order."""
    with services.sessions() as session:
        rows = session.scalars(select(AuditEntryRow).where(AuditEntryRow.action == action))
        return [row.object_id for row in rows]


def assert_answered_by(
    response: ocsp.OCSPResponse, responder: KeyInfo, ca: x509.Certificate, clock: FrozenClock
) -> None:
    """A good answer signed by ``responder``'s key, whose certificate it carries: issued by
    the CA with id-kp-OCSPSigning (RFC 6960 §4.2.2.2) and valid now (RFC 5280 §4.1.2.5)."""
    assert response.response_status is Status.SUCCESSFUL
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert responder.certificate is not None
    (sent,) = response.certificates
    assert sent == responder.certificate
    sent.verify_directly_issued_by(ca)
    usage = sent.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.OCSP_SIGNING in usage
    assert sent.not_valid_before_utc <= clock.now < sent.not_valid_after_utc
    verify_signature(sent.public_key(), response.signature, response.tbs_response_bytes)


@pytest.fixture
def renewals(monkeypatch: pytest.MonkeyPatch) -> list[KeyRegistry]:
    """Each call of ``KeyRegistry.renew_responders`` (by which registry), which then runs."""
    calls: list[KeyRegistry] = []
    renew = KeyRegistry.renew_responders

    def counting(registry: KeyRegistry, actor: str = "system") -> list[KeyInfo]:
        calls.append(registry)
        return renew(registry, actor)

    monkeypatch.setattr(KeyRegistry, "renew_responders", counting)
    return calls


def test_a_responder_29_days_from_its_end_is_renewed_by_the_next_ocsp_answer(
    keyed: Services, clock: FrozenClock, renewals: list[KeyRegistry]
) -> None:
    leaf, issuer = seal_certificate(keyed, "章")
    seal_ca = keyed.keys.signer("seal-ca").kid
    before = active_responders(keyed)
    old = ocsp_keys(keyed)
    clock.advance(days=365 - 29)  # no restart, no init: 29 days before the certificates end
    for kid in before.values():
        certificate = old[kid].certificate
        assert certificate is not None
        assert certificate.not_valid_after_utc - clock.now == timedelta(days=29)

    response = answer(keyed, leaf, issuer)

    after = active_responders(keyed)
    assert after.keys() == before.keys() and not set(after.values()) & set(before.values())
    now = ocsp_keys(keyed)
    assert_answered_by(response, now[after[seal_ca]], issuer, clock)
    for ca, kid in after.items():
        new = now[kid].certificate
        assert new is not None and new.not_valid_after_utc == clock.now + YEAR, ca
    for kid in before.values():  # retired, published until their certificate ends
        assert now[kid].state == "retired" and now[kid].retired_at == clock.now
        assert now[kid].publish_until == old[kid].certificate.not_valid_after_utc  # type: ignore[union-attr]
    assert set(audited(keyed, "key.retired")) >= set(before.values())
    assert set(audited(keyed, "key.created.active")) >= set(after.values())
    with keyed.sessions() as session:
        assert keyed.audit.verify(session).ok
    assert len(renewals) == 1

    answer(keyed, leaf, issuer)  # the next answer: nothing left to renew
    assert active_responders(keyed) == after and len(renewals) == 1


def test_a_service_that_runs_past_a_responder_certificate_s_end_still_answers_over_http(
    keyed: Services, clock: FrozenClock
) -> None:
    """The defect: a service started once (init at start) and never restarted answered 503
    once the responder certificates had ended. Through the app, POST and GET."""
    leaf, issuer = seal_certificate(keyed, "章")
    client = TestClient(create_app(services=keyed))
    der = request_for(leaf, issuer)
    headers = {"content-type": "application/ocsp-request"}
    for days in (100, 240, 5, 30, 100):  # day 475: past the end of the first certificates
        clock.advance(days=days)
        posted = client.post("/pki/ocsp", content=der, headers=headers)
        assert posted.status_code == 200, posted.text
        got = client.get(f"/pki/ocsp/{quote(base64.b64encode(der).decode())}")
        assert got.status_code == 200, got.text
        for body in (posted.content, got.content):
            response = ocsp.load_der_ocsp_response(body)
            kid = active_responders(keyed)[keyed.keys.signer("seal-ca").kid]
            assert_answered_by(response, keyed.keys.key(kid), issuer, clock)
    assert len(audited(keyed, "key.retired")) >= 3  # the three CAs' first responders


def test_nothing_is_renewed_far_from_the_end(
    keyed: Services, clock: FrozenClock, renewals: list[KeyRegistry]
) -> None:
    leaf, issuer = seal_certificate(keyed, "章")
    before = ocsp_keys(keyed)
    for days in (1, 200, 365 - 31 - 201):  # 31 days before the end, at the latest
        clock.advance(days=days)
        assert answer(keyed, leaf, issuer).response_status is Status.SUCCESSFUL
    assert ocsp_keys(keyed).keys() == before.keys()
    assert not renewals  # not even a transaction to find nothing to do
    assert not keyed.keys.renew_responders()  # and asked, it makes nothing
    assert ocsp_keys(keyed).keys() == before.keys()


@pytest.fixture(params=["two workers", "two threads of one worker"])
def two(
    request: pytest.FixtureRequest,
    keyed: Services,
    tmp_path: Path,
    settings_for: dict[str, object],
    clock: FrozenClock,
) -> Iterator[tuple[Services, Services]]:
    """Two workers: two Services on the one database (each with its own engine and pool, as
    two uvicorn workers have: SQLite file or PostgreSQL schema). Or one worker twice."""
    if request.param == "two threads of one worker":
        yield keyed, keyed
        return
    other = start(tmp_path, settings_for, clock)
    try:
        yield keyed, other
    finally:
        other.close()


def test_workers_that_notice_at_once_make_one_new_responder_key_per_ca(
    two: tuple[Services, Services],
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    renewals: list[KeyRegistry],
) -> None:
    """Both read the responder keys and find them due before either renews (a barrier);
    inside the renewal each waits up to a second for the other after taking the lock, so
    that without the lock, or without reading the keys again under it, both would make a
    key for every CA."""
    one, other = two
    leaf, issuer = seal_certificate(one, "章")
    before = active_responders(one)
    count_before = len(ocsp_keys(one))
    clock.advance(days=365 - 29)
    noticed = threading.Barrier(2)
    inside = threading.Barrier(2)
    renewal_due = keys.revocation._renewal_due
    each_ca_s_own_keys = KeyRegistry._each_ca_s_own_keys

    def due_after_both_noticed(*args: Any) -> bool:
        due = renewal_due(*args)
        noticed.wait(timeout=10)  # raises if the other never notices
        return due

    def waiting_for_the_other(registry: KeyRegistry, *args: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            inside.wait(timeout=1)  # the other renewal, unless the lock holds it
        return each_ca_s_own_keys(registry, *args)

    monkeypatch.setattr(keys.revocation, "_renewal_due", due_after_both_noticed)
    monkeypatch.setattr(KeyRegistry, "_each_ca_s_own_keys", waiting_for_the_other)

    def ask(services: Services) -> ocsp.OCSPResponse:
        return answer(services, leaf, issuer)

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(ask, (one, other)))

    after = active_responders(one)  # fails if a CA has two active responder keys
    assert after.keys() == before.keys() and not set(after.values()) & set(before.values())
    assert len(ocsp_keys(one)) == count_before + len(before)
    made = [kid for kid in audited(one, "key.created.active") if kid.startswith("ocsp-")]
    assert set(after.values()) <= set(made) and len(made) == 2 * len(before)  # init + renewal
    assert len(audited(one, "key.retired")) == len(before)
    for response in responses:  # each with the key it read: the new one or the old one
        assert response.response_status is Status.SUCCESSFUL
        assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
        (sent,) = response.certificates
        verify_signature(sent.public_key(), response.signature, response.tbs_response_bytes)
    if one is other:  # the second thread found the first at it: it answered at once
        assert len(renewals) == 1
    else:
        assert len(renewals) == 2  # both tried; the second found nothing left to do
    assert active_responders(other) == after


def test_a_responder_that_ends_with_its_ca_is_not_made_anew_on_every_request(
    keyed: Services, clock: FrozenClock, renewals: list[KeyRegistry]
) -> None:
    """In a CA's last month a new responder certificate could not end later (it never
    outlives its CA's, RFC 5280 §4.1.2.5): made once, then left."""
    leaf, issuer = seal_certificate(keyed, "章")
    seal_ca = keyed.keys.key(keyed.keys.signer("seal-ca").kid)
    assert seal_ca.certificate is not None
    ca_end = seal_ca.certificate.not_valid_after_utc
    clock.now = ca_end - timedelta(days=20)  # ten years on; the seal certificate ended too
    assert answer(keyed, leaf, issuer).response_status is Status.SUCCESSFUL
    responder = keyed.keys.key(active_responders(keyed)[seal_ca.kid])
    assert responder.certificate is not None
    assert responder.certificate.not_valid_after_utc == ca_end
    assert len(renewals) == 1
    made = len(ocsp_keys(keyed))
    for _ in range(3):
        clock.advance(days=1)
        assert answer(keyed, leaf, issuer).response_status is Status.SUCCESSFUL
    assert len(renewals) == 1 and len(ocsp_keys(keyed)) == made
    made_by_init = keyed.keys.init()  # the service keys whose certificates ended, renewed
    assert made_by_init and "ocsp" not in {key.purpose for key in made_by_init}
    assert not keyed.keys.init()  # nor anything by each start after
    assert len(ocsp_keys(keyed)) == made


def test_a_failed_renewal_answers_with_the_keys_there_are_and_is_retried_a_minute_later(
    keyed: Services, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    leaf, issuer = seal_certificate(keyed, "章")
    before = active_responders(keyed)
    seal_ca = keyed.keys.signer("seal-ca").kid
    clock.advance(days=365 - RENEW_BEFORE.days + 1)
    attempts: list[object] = []
    renew = keyed.keys.renew_responders

    def failing(actor: str = "system") -> list[KeyInfo]:
        attempts.append(actor)
        raise OperationalError("SELECT pg_advisory_xact_lock", {}, Exception("lock timeout"))

    monkeypatch.setattr(keyed.keys, "renew_responders", failing)
    for _ in range(2):
        response = answer(keyed, leaf, issuer)  # the old key: valid for four weeks yet
        assert_answered_by(response, keyed.keys.key(before[seal_ca]), issuer, clock)
    assert len(attempts) == 1  # not a failing transaction on every request
    clock.advance(seconds=RESPONDER_RETRY.total_seconds())
    answer(keyed, leaf, issuer)
    assert len(attempts) == 2
    monkeypatch.setattr(keyed.keys, "renew_responders", renew)
    clock.advance(seconds=RESPONDER_RETRY.total_seconds())
    response = answer(keyed, leaf, issuer)
    after = active_responders(keyed)
    assert not set(after.values()) & set(before.values())
    assert_answered_by(response, keyed.keys.key(after[seal_ca]), issuer, clock)


def test_a_retired_ca_s_responder_is_renewed_while_its_certificates_are_checked(
    keyed: Services, clock: FrozenClock
) -> None:
    """A CA rotated out still answers for what it issued (its certificate has not ended,
    ``Revocation.certificate_authorities``): its responder key is made anew too, by the CA
    key that signs its CRLs, else its seals get ``unauthorized`` a year on."""
    old_leaf, old_ca = seal_certificate(keyed, "旧章")
    retired = keyed.keys.signer("seal-ca").kid
    keyed.keys.rotate("seal-ca")
    assert keyed.keys.key(retired).state == "retired"
    before = active_responders(keyed)[retired]
    for days in (336, 64):  # renewed 29 days before the end; asked again past that end
        clock.advance(days=days)
        response = answer(keyed, old_leaf, old_ca)
        assert response.response_status is Status.SUCCESSFUL, days
        now = active_responders(keyed)[retired]
        assert now != before
        assert_answered_by(response, keyed.keys.key(now), old_ca, clock)
