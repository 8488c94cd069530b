"""When a key the registry holds is made anew (plain rules, no storage): a CA's own OCSP
responder (RFC 6960 §4.2.2.2) and a service key (licences, timestamps) are renewed
:data:`RENEW_BEFORE` ahead of their certificate's end (RFC 5280 §4.1.2.5), unless a new
certificate could end no later. :class:`keys.registry.KeyRegistry` applies them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from cryptography import x509

from keys.purposes import Purpose
from keys.storage import KeyRow

RENEW_BEFORE = timedelta(days=30)
"""A key is made anew this long before its certificate ends: a CA's responder by the first
OCSP answer that finds it so (:meth:`keys.revocation.Revocation.responder`), a service key by
the first signature that does (:meth:`keys.registry.KeyRegistry.renew_due`), either by
``init`` (each start of the service, ``govtrust keys init``) or by a rotation, whichever
comes first."""

RESPONDING_CA_STATES = ("active", "retired")
"""The CAs that have their own OCSP responder key (a retired one until its certificate ends:
:func:`responder_due`)."""


def certificate_end(row: KeyRow) -> datetime | None:
    """When ``row``'s certificate ends (None: the key has none)."""
    if not row.certificate:
        return None
    return x509.load_pem_x509_certificate(row.certificate.encode()).not_valid_after_utc


def responder_due(ends: Sequence[datetime | None], ca_end: datetime | None, now: datetime) -> bool:
    """Whether a CA whose active responder certificates end at ``ends`` (None: a key
    without one) is to get a responder key anew (RFC 6960 §4.2.2.2): it has none, or every
    one ends within :data:`RENEW_BEFORE`, and a new certificate would end later. A
    certificate never outlives its issuer's (:func:`keys.certificates.build_certificate`
    ends it with the CA's, RFC 5280 §4.1.2.5), so a responder that already ends with its CA
    (``ca_end``) is not made anew: that would be a new key on every request of the CA's
    last month. Nor is one made for a CA that has ended."""
    if any(end is None or end > now + RENEW_BEFORE for end in ends):
        return False
    if ca_end is not None and ca_end <= now:
        return False
    latest = max((end for end in ends if end is not None), default=None)
    return latest is None or ca_end is None or latest < ca_end


def lasts(end: datetime, issuer_end: datetime | None, now: datetime) -> bool:
    """Whether a certificate ending at ``end`` serves on: not within :data:`RENEW_BEFORE` of
    its end, or ending with its issuer's (``issuer_end``), when a new one would end no later
    (as :func:`responder_due` says of responders; the CA's own rotation is the operator's)."""
    return end > now + RENEW_BEFORE or (issuer_end is not None and issuer_end <= end)


def service_key(purpose: Purpose) -> bool:
    """A certified key the service signs with (licences, timestamps, ...): not a CA's, not a
    CA's own responder, not one object's; renewed by
    :meth:`keys.registry.KeyRegistry.renew_due`."""
    return (
        purpose.certified
        and not purpose.is_ca
        and not purpose.per_ca
        and not purpose.per_object
        and purpose.rotatable
    )
