"""Services with the SM2 hierarchy on (``GOVTRUST_SM2_ENABLED``), for tests of keys/, seal/
and certs/ that need registry-made SM2 keys."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives.serialization import Encoding

from core.db.migrate import upgrade
from core.services import Services, build_services
from keys.master import new_master_key
from tests.conftest import REDIS_URL, FrozenClock, _need, make_settings


def sm2_services(
    tmp_path: Path,
    clock: FrozenClock,
    backend: str = "embedded",
    request: pytest.FixtureRequest | None = None,
    **overrides: object,
) -> Services:
    """Migrated services with ``sm2_enabled``; ``backend="real"`` needs ``request`` (for the
    ``pg_schema`` fixture)."""
    values: dict[str, object] = {"master_key": new_master_key(), "sm2_enabled": True}
    schema = None
    if backend == "real":
        assert request is not None
        url, schema = request.getfixturevalue("pg_schema")
        values.update(
            database_url=url,
            redis_url=_need(REDIS_URL, "GOVTRUST_TEST_REDIS_URL"),
            cache_prefix=f"test:{uuid.uuid4().hex[:8]}:",
        )
    values.update(overrides)
    built = build_services(make_settings(tmp_path, **values), schema=schema, clock=clock)
    upgrade(built.engine)
    return built


def asn1_certificate(services: Services, kid: str) -> asn1_x509.Certificate:
    """A registry key's certificate as asn1crypto reads it (what seal/ses takes)."""
    certificate = services.keys.key(kid).certificate
    assert certificate is not None
    return asn1_x509.Certificate.load(certificate.public_bytes(Encoding.DER))


__test__ = False
