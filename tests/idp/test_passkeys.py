"""Passkeys (W3C WebAuthn Level 2): registration through ``/me/passkeys`` (§7.1) and a
step-up to level of assurance 3 with an assertion (§7.2), driven by a software
authenticator written here (an EC P-256 key, ``none`` attestation built with cbor2).

Every refusal sits next to the success it mirrors: wrong origin, wrong RP id hash,
replayed challenge, a counter that does not grow, no user verification, someone else's
credential, a revoked one, a tampered signature, an unknown one; and TOTP (level 2) is not
enough where level 3 is asked for.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cbor2
import httpx
import pyotp
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from core.app import create_app
from core.audit.entry import AuditEntry, parse_entry
from core.db.base import Base
from core.services import Services
from idp.identities.service import IdentityService
from idp.passkeys import service as passkeys
from idp.passkeys.webauthn import (
    FLAG_AT,
    FLAG_UP,
    FLAG_UV,
    Registration,
    WebAuthnError,
    b64url_decode,
    b64url_encode,
    counter_advances,
    parse_cose_key,
    verify_registration,
)
from idp.second_factor import enrol_totp
from tests.conftest import FrozenClock
from tests.idp.oidc_helpers import (
    ACCOUNT_TOKEN_SCOPE,
    REDIRECT,
    World,
    authorize_params,
    callback_params,
    csrf_of,
    login_and_consent,
    pkce_pair,
)
from tests.idp.test_step_up import finish, second_factor_page, submit

LOA2, LOA3 = "urn:govtrust:loa:2", "urn:govtrust:loa:3"
RP_ID, ORIGIN = "govtrust.test", "https://govtrust.test"
FAILED = "通行密钥验证未通过"


# --- the software authenticator -------------------------------------------------------------


@dataclass
class SoftAuthenticator:
    """A platform authenticator in software: one P-256 credential, a signature counter."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    counter: int = 0
    aaguid: bytes = bytes(16)

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _auth_data(self, rp_id: str, flags: int, counter: int, attested: bool) -> bytes:
        data = hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", counter)
        if attested:
            data += self.aaguid + struct.pack(">H", len(self.credential_id)) + self.credential_id
            data += self.cose_key()
        return data

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
        ).encode()

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str = ORIGIN,
        rp_id: str | None = None,
        flags: int = FLAG_UP | FLAG_UV,
        fmt: str = "none",
        statement: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``navigator.credentials.create()``, as ``PublicKeyCredential.toJSON()``."""
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        auth_data = self._auth_data(
            rp_id or options["rp"]["id"], flags | FLAG_AT, self.counter, True
        )
        attestation = cbor2.dumps({"fmt": fmt, "attStmt": statement or {}, "authData": auth_data})
        return {
            "id": b64url_encode(self.credential_id),
            "rawId": b64url_encode(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url_encode(client_data),
                "attestationObject": b64url_encode(attestation),
                "transports": ["internal", "hybrid"],
            },
            "name": "我的手机",
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str = ORIGIN,
        rp_id: str | None = None,
        flags: int = FLAG_UP | FLAG_UV,
        counter: int | None = None,
        tamper: bool = False,
    ) -> str:
        """``navigator.credentials.get()``: the JSON the step-up page posts."""
        if counter is None:
            self.counter += 1
            counter = self.counter
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        auth_data = self._auth_data(rp_id or options["rpId"], flags, counter, False)
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        if tamper:
            auth_data = auth_data[:-1] + bytes([auth_data[-1] ^ 1])  # another counter value
        return json.dumps(
            {
                "id": b64url_encode(self.credential_id),
                "rawId": b64url_encode(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64url_encode(client_data),
                    "authenticatorData": b64url_encode(auth_data),
                    "signature": b64url_encode(signature),
                    "userHandle": None,
                },
            }
        )


# --- helpers ----------------------------------------------------------------------------------


def audit(services: Services, prefix: str = "passkey.") -> list[AuditEntry]:
    with services.sessions() as session:
        entries = [parse_entry(stored.entry) for stored in services.audit.store.entries(session)]
    return [e for e in entries if e.event.action.startswith(prefix)]


def refusals(services: Services) -> list[str]:
    return [e.event.details["reason"] for e in audit(services) if "refused" in e.event.action]


def access_token(client: TestClient, world: World, code: str, verifier: str) -> dict[str, Any]:
    response = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(world.web_client_id, world.web_secret),
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    claims = tokens["id_token"].split(".")[1]
    tokens["claims"] = json.loads(b64url_decode(claims))
    return tokens


def two_factor_headers(
    client: TestClient, world: World, services: Services, clock: FrozenClock
) -> dict[str, str]:
    """A Bearer token from a login stepped up with TOTP (level 2)."""
    secret, _ = enrol_totp(services.idp, world.citizen_id, "张三")
    verifier, challenge = pkce_pair()
    page = second_factor_page(client, world, challenge, ACCOUNT_TOKEN_SCOPE)
    back = finish(client, submit(client, page, "totp", pyotp.TOTP(secret).at(clock.now)))
    token = access_token(client, world, back["code"], verifier)
    assert token["claims"]["acr"] == LOA2
    return {"Authorization": f"Bearer {token['access_token']}"}


def register_directly(
    services: Services, person_id: str, device: SoftAuthenticator
) -> passkeys.Passkey:
    options = passkeys.registration_options(services.idp, person_id, "someone")
    created = device.create(options)
    return passkeys.register(
        services.idp,
        person_id,
        "test",
        "key",
        passkeys.AttestationResponse(
            device.credential_id,
            b64url_decode(created["response"]["clientDataJSON"]),
            b64url_decode(created["response"]["attestationObject"]),
        ),
    )


@dataclass
class StepUpPage:
    browser: TestClient
    world: World
    html: str
    interaction: str
    verifier: str

    @property
    def person_id(self) -> str:
        return self.world.citizen_id

    def options(self) -> dict[str, Any]:
        answer = self.browser.get(f"{self.interaction}/passkey/options")
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
        options: dict[str, Any] = answer.json()
        return options

    def post(self, credential: str) -> httpx.Response:
        return self.browser.post(  # type: ignore[no-any-return]
            f"{self.interaction}/passkey",
            data={"credential": credential, "csrf": csrf_of(self.html)},
            follow_redirects=False,
        )


def step_up_page(browser: TestClient, world: World, acr: str = LOA3) -> StepUpPage:
    verifier, challenge = pkce_pair()
    page = login_and_consent(
        browser, authorize_params(world.web_client_id, challenge, acr_values=acr)
    )
    assert page.status_code == 200, page.text[:300]
    action = re.search(r'action="(/interaction/[^"/]+)/passkey"', page.text)
    assert action, page.text
    return StepUpPage(browser, world, page.text, action.group(1), verifier)


# --- registration and step-up: the way through -----------------------------------------------


def test_register_a_passkey_and_step_up_to_level_3(
    client: TestClient, world: World, services: Services, clock: FrozenClock
) -> None:
    headers = two_factor_headers(client, world, services, clock)
    started = client.post("/me/passkeys/options", headers=headers)
    assert started.status_code == 200 and started.headers["cache-control"] == "no-store"
    options = started.json()
    assert options["rp"] == {"id": RP_ID, "name": "govtrust"}
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert len(b64url_decode(options["challenge"])) == 32
    assert "11010519491231002X" not in started.text  # the user handle is opaque
    device = SoftAuthenticator()
    created = client.post("/me/passkeys", headers=headers, json=device.create(options))
    assert created.status_code == 201, created.text
    passkey = created.json()
    assert (passkey["name"], passkey["algorithm"]) == ("我的手机", -7)
    assert passkey["transports"] == ["hybrid", "internal"]
    # the challenge was single use: the same attestation again is refused
    again = client.post("/me/passkeys", headers=headers, json=device.create(options))
    assert again.status_code == 422 and again.json()["reason"] == "no-challenge"
    # a new challenge, but the credential is registered already (§7.1 step 22)
    fresh = client.post("/me/passkeys/options", headers=headers).json()
    assert fresh["excludeCredentials"][0]["id"] == b64url_encode(device.credential_id)
    duplicate = client.post("/me/passkeys", headers=headers, json=device.create(fresh))
    assert duplicate.status_code == 422 and duplicate.json()["reason"] == "already-registered"

    # level 3 asked for: the step-up page offers the passkey, and no code
    page = step_up_page(client, world)
    assert 'id="passkey-form"' in page.html and 'name="otp"' not in page.html
    assert "navigator.credentials.get" in page.html
    request_options = page.options()
    assert request_options["rpId"] == RP_ID
    assert request_options["userVerification"] == "required"
    assert [c["id"] for c in request_options["allowCredentials"]] == [passkey_id(device)]
    assertion = device.get(request_options)
    accepted = page.post(assertion)
    assert accepted.status_code == 303, accepted.text[:300]
    assert FAILED in page.post(assertion).text  # the same assertion again: refused
    claims = access_token(client, world, finish(client, accepted)["code"], page.verifier)["claims"]
    assert claims["acr"] == LOA3
    assert {"pwd", "otp", "hwk", "user", "mfa"} <= set(claims["amr"])

    listed = client.get("/me/passkeys", headers=headers).json()["passkeys"]
    assert listed[0]["last_used_at"] is not None and listed[0]["revoked_at"] is None
    actions = [e.event.action for e in audit(services)]
    assert actions[:1] == ["passkey.registered"] and "passkey.used" in actions
    assert refusals(services) == ["no-challenge", "already-registered", "no-challenge"]
    [stepped] = [e for e in audit(services, "login.stepped_up") if e.event.details["acr"] == LOA3]
    assert stepped.event.details["method"] == "passkey"

    # revocation: the person's own passkey only; another's answers like a missing one
    identities = IdentityService(
        services.sessions, services.identifiers, services.audit, services.idp.ctx.clock
    )
    other = identities.register_person("350102198001010011", "李四", None, actor="test")
    theirs = register_directly(services, other.id, SoftAuthenticator())
    for unknown in (theirs.id, "no-such-passkey"):
        assert client.post(f"/me/passkeys/{unknown}/revoke", headers=headers).status_code == 404
    revoked = client.post(f"/me/passkeys/{passkey['id']}/revoke", headers=headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert [e.event.object_id for e in audit(services, "passkey.revoked")] == [passkey["id"]]
    browser = TestClient(create_app(services=services), base_url=ORIGIN)
    _, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge, acr_values=LOA3)
    assert "此业务需要通行密钥" in login_and_consent(browser, params).text


def passkey_id(device: SoftAuthenticator) -> str:
    return b64url_encode(device.credential_id)


def test_registering_needs_a_two_factor_token(
    client: TestClient, world: World, services: Services
) -> None:
    verifier, challenge = pkce_pair()
    params = authorize_params(world.web_client_id, challenge, scope=ACCOUNT_TOKEN_SCOPE)
    back = callback_params(login_and_consent(client, params))
    token = access_token(client, world, back["code"], verifier)
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    for answer in (
        client.post("/me/passkeys/options", headers=headers),
        client.post(
            "/me/passkeys",
            headers=headers,
            json=SoftAuthenticator().create({"challenge": "AA", "rp": {"id": RP_ID}}),
        ),
    ):
        assert answer.status_code == 403
        assert answer.json()["type"] == "/problems/step-up-required"
    assert client.post("/me/passkeys/options").status_code == 401


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ({"origin": "https://evil.example"}, "wrong-origin"),
        ({"rp_id": "evil.example"}, "wrong-rp-id"),
        ({"flags": FLAG_UP}, "user-not-verified"),
        ({"flags": FLAG_UV}, "user-not-present"),
        (
            {"fmt": "packed", "statement": {"alg": -7, "sig": b"x", "x5c": [b"cert"]}},
            "unsupported-attestation",
        ),
        ({"fmt": "android-key", "statement": {"alg": -7}}, "unsupported-attestation"),
    ],
)
def test_a_registration_is_refused(
    client: TestClient,
    world: World,
    services: Services,
    clock: FrozenClock,
    case: dict[str, Any],
    reason: str,
) -> None:
    headers = two_factor_headers(client, world, services, clock)
    options = client.post("/me/passkeys/options", headers=headers).json()
    refused = client.post(
        "/me/passkeys", headers=headers, json=SoftAuthenticator().create(options, **case)
    )
    assert refused.status_code == 422 and refused.json()["reason"] == reason, refused.text
    assert refusals(services) == [reason]
    assert client.get("/me/passkeys", headers=headers).json()["passkeys"] == []


def test_at_most_twenty_passkeys_even_when_registered_at_once(
    world: World, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit is counted in the transaction that adds the passkey, with the person's row
    held: of two registrations verified at the same moment with one place left, one is
    refused. Counted before that transaction, both counted the same passkeys and both were
    added."""
    person = world.citizen_id
    for _ in range(passkeys.MAX_PASSKEYS - 1):
        register_directly(services, person, SoftAuthenticator())
    real = passkeys.verify_registration
    verified = threading.Event()
    together = threading.Barrier(2, timeout=10)

    def verify_then_wait(**kwargs: Any) -> Registration:
        registration = real(**kwargs)
        verified.set()
        together.wait()
        return registration

    monkeypatch.setattr(passkeys, "verify_registration", verify_then_wait)
    outcomes: list[str] = []

    def register() -> None:
        try:
            register_directly(services, person, SoftAuthenticator())
            outcomes.append("registered")
        except passkeys.PasskeyRefused as refused:
            outcomes.append(refused.reason)

    first = threading.Thread(target=register)
    first.start()
    assert verified.wait(timeout=10)  # its challenge taken: the second may start its own
    second = threading.Thread(target=register)
    second.start()
    first.join()
    second.join()
    assert sorted(outcomes) == ["registered", "too-many"]
    assert len(passkeys.passkeys_of(services.idp, person)) == passkeys.MAX_PASSKEYS
    monkeypatch.setattr(passkeys, "verify_registration", real)
    with pytest.raises(passkeys.PasskeyRefused) as refused:
        register_directly(services, person, SoftAuthenticator())
    assert refused.value.reason == "too-many"


# --- authentication: each refusal next to the success -----------------------------------------


Attack = Callable[[StepUpPage, SoftAuthenticator, Services], str]


def _someone_elses(page: StepUpPage, device: SoftAuthenticator, services: Services) -> str:
    identities = IdentityService(
        services.sessions, services.identifiers, services.audit, services.idp.ctx.clock
    )
    other = identities.register_person("350102198001010011", "李四", None, actor="test")
    theirs = SoftAuthenticator()
    register_directly(services, other.id, theirs)
    return theirs.get(page.options())


def _revoked(page: StepUpPage, device: SoftAuthenticator, services: Services) -> str:
    second = SoftAuthenticator()
    person_id = page.person_id
    passkey = register_directly(services, person_id, second)
    options = page.options()
    assert passkey_id(second) in [c["id"] for c in options["allowCredentials"]]
    passkeys.revoke(services.idp, person_id, passkey.id, "test")
    assert passkey_id(second) not in [c["id"] for c in page.options()["allowCredentials"]]
    return second.get(page.options())


def _replayed_challenge(page: StepUpPage, device: SoftAuthenticator, services: Services) -> str:
    options = page.options()
    assert FAILED in page.post(device.get(options, tamper=True)).text  # uses the challenge up
    return device.get(options)


def _counter_not_increasing(page: StepUpPage, device: SoftAuthenticator, services: Services) -> str:
    """The same counter value twice (a cloned authenticator, or a replayed assertion)."""
    browser = TestClient(create_app(services=services), base_url=ORIGIN)
    elsewhere = step_up_page(browser, page.world)
    assert elsewhere.post(device.get(elsewhere.options(), counter=7)).status_code == 303
    return device.get(page.options(), counter=7)


def _malformed(page: StepUpPage, device: SoftAuthenticator, services: Services) -> str:
    page.options()
    return '{"id": "!!", "response": {}}'


ATTACKS: dict[str, tuple[Attack, str]] = {
    "wrong origin": (
        lambda p, d, s: d.get(p.options(), origin="https://evil.example"),
        "wrong-origin",
    ),
    "wrong rp id hash": (lambda p, d, s: d.get(p.options(), rp_id="evil.example"), "wrong-rp-id"),
    "no user verification": (
        lambda p, d, s: d.get(p.options(), flags=FLAG_UP),
        "user-not-verified",
    ),
    "tampered signature": (lambda p, d, s: d.get(p.options(), tamper=True), "bad-signature"),
    "unknown credential": (
        lambda p, d, s: SoftAuthenticator().get(p.options()),
        "unknown-credential",
    ),
    "someone else's credential": (_someone_elses, "not-owner"),
    "revoked credential": (_revoked, "revoked"),
    "replayed challenge": (_replayed_challenge, "no-challenge"),
    "counter not increasing": (_counter_not_increasing, "counter"),
    "malformed": (_malformed, "malformed"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_an_assertion_is_refused(
    client: TestClient, world: World, services: Services, attack: str
) -> None:
    build, reason = ATTACKS[attack]
    device = SoftAuthenticator()
    register_directly(services, world.citizen_id, device)
    page = step_up_page(client, world)
    refused = page.post(build(page, device, services))
    assert refused.status_code == 200 and FAILED in refused.text, refused.text[:300]
    assert refusals(services)[-1] == reason
    # still below level 3: the interaction shows the step-up page again, no code
    again = client.get(page.interaction, follow_redirects=False)
    assert again.status_code == 200 and 'id="passkey-form"' in again.text
    if reason == "counter":
        [clone] = audit(services, "passkey.clone_suspected")
        assert clone.event.details == {"stored_count": 7, "received_count": 7}
    # and the person's own passkey, used properly, still works
    assert page.post(device.get(page.options(), counter=100)).status_code == 303


def test_totp_does_not_satisfy_level_3(
    client: TestClient, world: World, services: Services, clock: FrozenClock
) -> None:
    secret, _ = enrol_totp(services.idp, world.citizen_id, "张三")
    _, challenge = pkce_pair()
    without = login_and_consent(
        client, authorize_params(world.web_client_id, challenge, acr_values=LOA3)
    )
    assert "此业务需要通行密钥" in without.text  # no passkey: nothing reaches level 3
    assert 'name="otp"' not in without.text and "<form" not in without.text.split("<main>")[1]

    device = SoftAuthenticator()
    register_directly(services, world.citizen_id, device)
    both = step_up_page(TestClient(create_app(services=services), base_url=ORIGIN), world, LOA2)
    assert 'name="otp"' in both.html  # level 2 asked for: a code or a passkey

    page = step_up_page(client, world)  # level 3: the passkey only
    assert 'name="otp"' not in page.html
    code = pyotp.TOTP(secret).at(clock.now)
    posted = client.post(  # a TOTP code posted anyway steps up to level 2 only
        f"{page.interaction}/second-factor",
        data={"method": "totp", "otp": code, "csrf": csrf_of(page.html)},
        follow_redirects=False,
    )
    assert posted.status_code == 303
    again = client.get(posted.headers["location"], follow_redirects=False)
    assert again.status_code == 200 and 'id="passkey-form"' in again.text
    accepted = page.post(device.get(page.options()))
    claims = access_token(client, world, finish(client, accepted)["code"], page.verifier)["claims"]
    assert claims["acr"] == LOA3 and {"otp", "hwk"} <= set(claims["amr"])


# --- the verification functions on their own ------------------------------------------------


def _register(key_cose: bytes, sign: Callable[[bytes], bytes] | None, alg: int) -> Registration:
    """A registration ceremony on its own: ``none``, or ``packed`` self attestation."""
    challenge = b"c" * 32
    client_data = json.dumps(
        {"type": "webauthn.create", "challenge": b64url_encode(challenge), "origin": ORIGIN}
    ).encode()
    credential = b"\x01" * 16
    auth = (
        hashlib.sha256(RP_ID.encode()).digest()
        + bytes([FLAG_UP | FLAG_UV | FLAG_AT])
        + struct.pack(">I", 0)
        + bytes(16)
        + struct.pack(">H", len(credential))
        + credential
        + key_cose
    )
    statement: dict[str, Any] = {}
    fmt = "none"
    if sign is not None:
        fmt = "packed"
        statement = {"alg": alg, "sig": sign(auth + hashlib.sha256(client_data).digest())}
    attestation = cbor2.dumps({"fmt": fmt, "attStmt": statement, "authData": auth})
    return verify_registration(
        client_data_json=client_data,
        attestation_object=attestation,
        challenge=challenge,
        origin=ORIGIN,
        rp_id=RP_ID,
    )


def _wrongly(sign: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    return lambda data: sign(data + b"x")


def test_eddsa_and_rs256_keys_with_packed_self_attestation() -> None:
    ed = Ed25519PrivateKey.generate()
    ed_cose = cbor2.dumps({1: 1, 3: -8, -1: 6, -2: ed.public_key().public_bytes_raw()})
    rsa_key = rsa.generate_private_key(65537, 2048)
    numbers = rsa_key.public_key().public_numbers()
    rsa_cose = cbor2.dumps(
        {1: 3, 3: -257, -1: numbers.n.to_bytes(256, "big"), -2: numbers.e.to_bytes(3, "big")}
    )
    cases: list[tuple[bytes, Callable[[bytes], bytes], int]] = [
        (ed_cose, ed.sign, -8),
        (rsa_cose, lambda data: rsa_key.sign(data, padding.PKCS1v15(), hashes.SHA256()), -257),
    ]
    for cose, sign, alg in cases:
        for signer in (None, sign):
            verified = _register(cose, signer, alg)
            assert verified.algorithm == alg and verified.public_key == cose
            assert verified.attestation_format == ("none" if signer is None else "packed")
        assert parse_cose_key(cose).verify(sign(b"data"), b"data")
        assert not parse_cose_key(cose).verify(sign(b"data"), b"other")
        with pytest.raises(WebAuthnError) as refused:
            _register(cose, _wrongly(sign), alg)
        assert refused.value.reason == "bad-attestation"


def test_weak_or_mismatched_keys_are_refused() -> None:
    small = rsa.generate_private_key(65537, 1024).public_key().public_numbers()
    weak = cbor2.dumps({1: 3, 3: -257, -1: small.n.to_bytes(128, "big"), -2: b"\x01\x00\x01"})
    mismatched = cbor2.dumps({1: 2, 3: -8, -1: 1, -2: bytes(32), -3: bytes(32)})
    off_curve = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: bytes(32), -3: bytes(32)})
    unsupported = cbor2.dumps({1: 2, 3: -35, -1: 2, -2: bytes(48), -3: bytes(48)})
    for cose in (weak, mismatched, off_curve, unsupported):
        with pytest.raises(WebAuthnError):
            parse_cose_key(cose)


def test_the_counter_rule() -> None:
    assert counter_advances(0, 0) and counter_advances(0, 1) and counter_advances(5, 6)
    assert not counter_advances(5, 5) and not counter_advances(5, 4) and not counter_advances(5, 0)


def test_the_migration_matches_the_model(services: Services) -> None:
    with services.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert [d for d in diff if "passkeys" in repr(d)] == []
