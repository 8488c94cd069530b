"""Imports every module that defines tables, so that Base.metadata knows them all."""

from certs import import_storage as licence_import_storage
from certs import sharing_storage as licence_sharing_storage
from certs import storage as licence_storage
from certs.ofd import seals as ofd_seal_storage
from core.audit import storage as audit_storage
from idp.accounts import storage as account_storage
from idp.clients import storage as client_storage
from idp.identities import storage as identity_storage
from idp.oauth import ciba as ciba_storage
from idp.oauth import storage as oauth_storage
from idp.passkeys import storage as passkey_storage
from keys import storage as key_storage
from seal import storage as seal_storage

__all__ = [
    "account_storage",
    "audit_storage",
    "ciba_storage",
    "client_storage",
    "identity_storage",
    "key_storage",
    "licence_import_storage",
    "licence_sharing_storage",
    "licence_storage",
    "oauth_storage",
    "ofd_seal_storage",
    "passkey_storage",
    "seal_storage",
]
