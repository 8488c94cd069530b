"""Passkeys (W3C Web Authentication Level 2, FIDO2): the credential of level of assurance 3.

:mod:`idp.passkeys.webauthn` verifies registrations (§7.1) and assertions (§7.2) without
state; :mod:`idp.passkeys.storage` holds the registered credentials;
:mod:`idp.passkeys.service` keeps challenges, counters and the audit trail.
"""
