"""Verifying licence QRs end to end: made with the registry's licence key, read back through
the published trust list, with the status from the registry (online, at once) or from the
published status list (offline, after a refresh). Every verdict of the issue: valid,
suspended, revoked, superseded, print lost, expired, not yet valid, not genuine, unreadable."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import cbor2
import pytest

from certs.demo_types import FOOD_BUSINESS_LICENCE
from core.services import Services
from tests.certs.conftest import (
    ADMIN,
    BUSINESS_FIELDS,
    COMPANY_USCC,
    FOOD_FIELDS,
    ISSUER,
    ISSUER_NAME,
    issue_business,
    issue_guide,
)
from tests.verify.conftest import LocalSigner, Scene, offline_status
from verify.cose import decode_sign1, sign1
from verify.issuing import DYNAMIC_LIFETIME
from verify.payload import QrKind, decode_claims, encode_claims
from verify.qr_text import payload_of, qr_text
from verify.status_sources import StatusListStatus
from verify.verdict import Check, Verdict
from verify.verifier import DEFAULT_SKEW

VALID = (Verdict.VALID, Verdict.VALID)
SECOND = timedelta(seconds=1)


def test_a_fresh_licence_verifies_online_and_offline(scene: Scene) -> None:
    text = scene.qr(issue_business(scene.licences))
    result = scene.online(text)
    assert result.verdict is Verdict.VALID
    assert result.checks == dict.fromkeys(Check, True)
    assert result.licence is not None
    assert result.licence.holder_name == BUSINESS_FIELDS["name"]  # an organisation: in full
    assert result.licence.type_name == "营业执照"
    assert result.licence.issuer_name == ISSUER_NAME
    assert result.licence.version == 1
    assert result.status_source == "registry"
    offline = scene.offline(text)
    assert offline.verdict is Verdict.VALID
    assert offline.status_source == "status-list"
    assert offline.status_as_of == scene.clock()


def test_a_person_holders_name_is_masked(scene: Scene) -> None:
    result = scene.online(scene.qr(issue_guide(scene.licences)))
    assert result.verdict is Verdict.VALID
    assert result.licence is not None and result.licence.holder_name == "李*"


def test_revocation_is_seen_online_at_once_and_offline_after_a_refresh(scene: Scene) -> None:
    licence = issue_business(scene.licences)
    text = scene.qr(licence)
    stale = offline_status(scene.publisher, scene.trust())  # downloaded before the revocation
    scene.licences.revoke(licence.identifier, "营业执照注销", ADMIN)
    assert scene.online(text).verdict is Verdict.REVOKED
    assert scene.offline(text, status=stale).verdict is Verdict.VALID
    refreshed = scene.offline(text)
    assert refreshed.verdict is Verdict.REVOKED
    assert refreshed.checks[Check.STATUS] is False
    assert refreshed.checks[Check.SIGNATURE] is True


def test_suspension_and_resumption(scene: Scene) -> None:
    licence = issue_business(scene.licences)
    text = scene.qr(licence)
    scene.licences.suspend(licence.identifier, "暂扣", ADMIN)
    assert scene.both(text) == (Verdict.SUSPENDED, Verdict.SUSPENDED)
    scene.licences.resume(licence.identifier, "恢复", ADMIN)
    assert scene.both(text) == VALID


def test_a_changed_licence_supersedes_the_old_qr(scene: Scene) -> None:
    licence = issue_business(scene.licences)
    old = scene.qr(licence)
    fields = {**BUSINESS_FIELDS, "registered_capital": "壹仟万元整"}
    changed = scene.licences.change(licence.identifier, fields, "增资", ADMIN)
    assert scene.online(old).reasons == ("superseded by version 2",)
    assert scene.both(old) == (Verdict.SUPERSEDED, Verdict.SUPERSEDED)
    assert scene.both(scene.qr(changed)) == VALID


def test_the_paper_print_scenario(scene: Scene) -> None:
    """Issue, print, change, reprint: the old print says superseded, the new one valid; a
    print reported lost stops verifying; after revocation every print says revoked."""
    licence = issue_business(scene.licences)
    _, old_paper = scene.print_qr(licence)
    fields = {**BUSINESS_FIELDS, "address": "吉林省长春市朝阳区"}
    changed = scene.licences.change(licence.identifier, fields, "迁址", ADMIN)
    serial, new_paper = scene.print_qr(changed)

    assert scene.both(old_paper) == (Verdict.SUPERSEDED, Verdict.SUPERSEDED)
    assert scene.online(old_paper).reasons == ("superseded by version 2",)
    assert scene.both(new_paper) == VALID
    shown = scene.online(new_paper).licence
    assert shown is not None and shown.print_serial == serial and shown.kind == "print"

    scene.licences.report_print_lost(serial, ADMIN)
    lost_online = scene.online(new_paper)
    assert lost_online.verdict is Verdict.PRINT_LOST
    assert lost_online.reasons == ("print reported lost",)
    lost_offline = scene.offline(new_paper)
    assert lost_offline.verdict is Verdict.REVOKED
    assert "lost" in lost_offline.reasons[0]
    # the electronic licence of the same version is not affected by a lost paper copy
    assert scene.both(scene.qr(changed)) == VALID

    scene.licences.revoke(changed.identifier, "注销", ADMIN)
    assert scene.both(old_paper) == (Verdict.REVOKED, Verdict.REVOKED)


def test_a_print_qr_must_name_a_print_of_its_own_version(scene: Scene) -> None:
    licence, other = issue_business(scene.licences), issue_business(scene.licences)
    serial, _ = scene.print_qr(other)
    text = scene.qr(licence, QrKind.PRINT, print_serial=serial, print_index=10_000)
    assert scene.online(text).verdict is Verdict.STATUS_UNKNOWN
    with pytest.raises(ValueError, match="names the print"):
        scene.issuer.claims(licence, QrKind.PRINT)


def test_a_dynamic_qr_expires_minutes_after_it_was_shown(scene: Scene) -> None:
    text = scene.qr(issue_business(scene.licences), QrKind.DYNAMIC)
    start = scene.clock()
    assert scene.online(text).verdict is Verdict.VALID
    last_moment = start + DYNAMIC_LIFETIME + DEFAULT_SKEW - SECOND
    assert scene.online(text, at=last_moment).verdict is Verdict.VALID
    late = scene.online(text, at=last_moment + 2 * SECOND)
    assert late.verdict is Verdict.EXPIRED
    assert late.checks[Check.EXPIRY] is False
    assert "dynamic QR expired" in late.reasons[0]


def test_validity_dates_are_checked_in_china_time(scene: Scene) -> None:
    food = scene.licences.issue(
        FOOD_BUSINESS_LICENCE,
        ISSUER,
        ISSUER_NAME,
        FOOD_FIELDS["operator"],
        COMPANY_USCC,
        FOOD_FIELDS,
        date(2026, 12, 10),
        ADMIN,
    )
    text = scene.qr(food)
    early = scene.online(text)
    assert early.verdict is Verdict.NOT_YET_VALID
    assert early.reasons == ("valid from 2026-12-10",)
    assert food.valid_until == date(2031, 12, 9)
    # 2031-12-09 23:59 in China is 15:59 UTC: the last valid minute
    last_minute = scene.clock().replace(year=2031, month=12, day=9, hour=15, minute=59)
    assert scene.online(text, at=last_minute).checks[Check.EXPIRY] is True
    after = scene.online(text, at=last_minute + DEFAULT_SKEW + timedelta(minutes=2))
    assert after.verdict is Verdict.EXPIRED
    assert after.reasons[0] == "expired after 2031-12-09"


def test_a_qr_signed_in_the_future_is_not_yet_valid(scene: Scene) -> None:
    text = scene.qr(issue_business(scene.licences))
    result = scene.online(text, at=scene.clock() - DEFAULT_SKEW - SECOND)
    assert result.verdict is Verdict.NOT_YET_VALID
    assert "clock" in result.reasons[0]


def test_forgeries_are_not_genuine(scene: Scene) -> None:
    genuine = scene.qr(issue_business(scene.licences))
    message = decode_sign1(payload_of(genuine))
    claims = decode_claims(message.payload)
    url = scene.issuer.url_base

    # a field changed after signing, the signature kept
    edited_payload = encode_claims(replace(claims, holder_name="冒名顶替有限公司"))
    edited_message = [message.protected, {}, edited_payload, message.signature]
    edited = scene.online(qr_text(cbor2.dumps(cbor2.CBORTag(18, edited_message)), url))
    assert edited.verdict is Verdict.NOT_GENUINE
    assert edited.checks == {Check.DECODE: True, Check.SIGNATURE: False}
    assert edited.licence is None  # nothing of a forged payload is shown

    # signed by a foreign key that claims the genuine key's id
    foreign = sign1(message.payload, message.kid or b"", LocalSigner())
    assert scene.online(qr_text(foreign, url)).verdict is Verdict.NOT_GENUINE

    # signed by a key that is not on the trust list
    unknown = scene.online(qr_text(sign1(message.payload, b"12345678", LocalSigner()), url))
    assert unknown.verdict is Verdict.NOT_GENUINE
    assert unknown.reasons == ("signed by a key that is not on the trust list",)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("HC1:6BFOXN%TS3DH0YOJ58S", "unknown prefix"),
        ("GT1:GGW", "bad base45"),
        ("GT1:FGW", "not CBOR"),
        ("GT1:BB8", "four items"),
    ],
)
def test_unreadable_codes_say_why(scene: Scene, text: str, reason: str) -> None:
    result = scene.online(text)
    assert result.verdict is Verdict.UNREADABLE
    assert reason in result.reasons[0]
    assert result.checks == {Check.DECODE: False}


def test_old_licences_still_verify_after_the_licence_key_is_rotated(
    scene: Scene, services: Services
) -> None:
    old_qr = scene.qr(issue_business(scene.licences))
    services.keys.rotate("licence")
    new_qr = scene.qr(issue_business(scene.licences))
    old_result, new_result = scene.online(old_qr), scene.online(new_qr)
    assert old_result.verdict is new_result.verdict is Verdict.VALID
    assert old_result.key_id != new_result.key_id
    states = {key.kid: key.state for key in scene.trust().keys}
    assert states[old_result.key_id or ""] == "retired"
    assert states[new_result.key_id or ""] == "active"


def test_an_expired_or_stale_status_list_is_reported(scene: Scene) -> None:
    text = scene.qr(issue_business(scene.licences))
    status = offline_status(scene.publisher, scene.trust())
    an_hour_later = scene.offline(text, at=scene.clock() + timedelta(hours=1), status=status)
    assert an_hour_later.verdict is Verdict.VALID
    assert an_hour_later.warnings == ("the status list is 60 minutes old",)
    lifetime = scene.publisher.policy.status_list_lifetime
    expired = scene.offline(text, at=scene.clock() + lifetime + SECOND, status=status)
    assert expired.verdict is Verdict.STATUS_UNKNOWN
    assert "expired" in expired.reasons[0]
    nothing = scene.offline(text, status=StatusListStatus({}))
    assert nothing.verdict is Verdict.STATUS_UNKNOWN
    assert "no status list" in nothing.reasons[0]
