"""Imports every module that defines tables, so that Base.metadata knows them all."""

from core.audit import storage as audit_storage
from keys import storage as key_storage

__all__ = ["audit_storage", "key_storage"]
