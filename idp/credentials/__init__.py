"""Credentials of the identity provider: passwords, TOTP, SMS one-time codes, throttling.

* :mod:`idp.credentials.passwords` -- argon2id hashing (RFC 9106) and the password policy.
* :mod:`idp.credentials.totp` -- HOTP (RFC 4226) and TOTP (RFC 6238) with replay protection.
* :mod:`idp.credentials.otp_sms` -- one-time codes sent by SMS, kept hashed in the shared cache.
* :mod:`idp.credentials.throttle` -- brute-force protection of the login (per account, per IP).
"""
