"""``govtrust keys ...``: create, list, rotate, export, re-wrap, revoke."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import click
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ReasonFlags
from pydantic import ValidationError

from core.errors.problem import DependencyUnavailable
from core.services import Services, build_services
from core.settings import InsecureConfiguration, Settings
from keys.algorithms import UnsupportedKeyType, parse_key_type
from keys.master import MasterKeyError
from keys.purposes import UnknownPurpose
from keys.revocation import Revocation, UnknownCertificate, UnusableRevocationReason
from keys.trust import export_trust

T = TypeVar("T")
KEY_ERRORS = (
    DependencyUnavailable,
    MasterKeyError,
    UnknownPurpose,
    UnsupportedKeyType,
    UnknownCertificate,
    UnusableRevocationReason,
)


@contextmanager
def _services() -> Iterator[Services]:
    try:
        services = build_services(Settings())
    except (ValidationError, InsecureConfiguration) as exc:
        raise click.ClickException(f"configuration refused: {exc}") from exc
    except KEY_ERRORS as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield services
    finally:
        services.close()


def _run(action: Callable[[Services], T]) -> T:
    """Run ``action`` with the services; key errors become a clear message and exit 1."""
    with _services() as services:
        try:
            return action(services)
        except KEY_ERRORS as exc:
            raise click.ClickException(str(exc)) from exc


@click.group()
def keys() -> None:
    """Keys, certificates and the trust bundle."""


@keys.command("init")
@click.option(
    "--key-type",
    default=None,
    help="EC_P256 (default), RSA_2048, RSA_3072, ED25519. SM2 keys are not chosen here: "
    "GOVTRUST_SM2_ENABLED=true adds the SM2 hierarchy (sm2-* purposes).",
)
def keys_init(key_type: str | None) -> None:
    """Create the CA hierarchy and every missing key (idempotent); with
    GOVTRUST_SM2_ENABLED=true, the SM2 hierarchy beside it."""
    try:
        chosen = parse_key_type(key_type) if key_type else None
    except UnsupportedKeyType as exc:
        raise click.ClickException(str(exc)) from exc
    created = _run(lambda services: services.keys.init(actor="cli", key_type=chosen))
    for key in created:
        click.echo(f"created {key.kid} ({key.purpose}, {key.key_type.value}, {key.state})")
    click.echo(f"{len(created)} keys created")


def _day(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


@keys.command("list")
@click.option("--purpose", default=None, help="Only the keys of this purpose.")
def keys_list(purpose: str | None) -> None:
    """Purpose, algorithm, state and dates of every key."""
    rows = _run(lambda services: services.keys.list_keys(purpose))
    header = (
        "KID",
        "PURPOSE",
        "ALGORITHM",
        "BACKEND",
        "STATE",
        "CREATED",
        "ACTIVATED",
        "RETIRED",
        "PUBLISHED UNTIL",
    )
    lines = [header] + [
        (
            key.kid,
            key.purpose,
            key.key_type.value,
            key.backend,
            key.state,
            _day(key.created_at),
            _day(key.activated_at),
            _day(key.retired_at),
            _day(key.publish_until),
        )
        for key in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


#: Signature algorithms ``cryptography`` does not name (GM/T 0006-2012).
_ALGORITHM_NAMES = {"1.2.156.10197.1.501": "SM2-with-SM3"}


def _signature_algorithm(certificate: x509.Certificate) -> str:
    oid = certificate.signature_algorithm_oid
    name = _ALGORITHM_NAMES.get(oid.dotted_string, oid._name)
    return f"{name} ({oid.dotted_string})"


@keys.command("show")
@click.argument("kid")
@click.option("--pem", is_flag=True, help="Also print the certificate in PEM.")
def keys_show(kid: str, pem: bool) -> None:
    """One key: its record and, if it has one, its certificate."""
    key = _run(lambda services: services.keys.key(kid))
    fields = [
        ("kid", key.kid),
        ("purpose", key.purpose),
        ("algorithm", key.key_type.value),
        ("backend", key.backend),
        ("state", key.state),
        ("created", _day(key.created_at)),
        ("activated", _day(key.activated_at)),
        ("retired", _day(key.retired_at)),
        ("published until", _day(key.publish_until)),
        ("issuer kid", key.issuer_kid or "-"),
    ]
    certificate = key.certificate
    if certificate is not None:
        fields += [
            ("subject", certificate.subject.rfc4514_string()),
            ("issuer", certificate.issuer.rfc4514_string()),
            ("serial", format(certificate.serial_number, "x")),
            ("not before", _day(certificate.not_valid_before_utc)),
            ("not after", _day(certificate.not_valid_after_utc)),
            ("signature", _signature_algorithm(certificate)),
        ]
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        click.echo(f"{name.ljust(width)}  {value}")
    if pem and certificate is not None:
        click.echo(certificate.public_bytes(Encoding.PEM).decode(), nl=False)


@keys.command("rotate")
@click.argument("purpose")
def keys_rotate(purpose: str) -> None:
    """Activate the pre-published next key of PURPOSE and publish a new next one."""
    active = _run(lambda services: services.keys.rotate(purpose, actor="cli"))
    click.echo(f"{purpose}: {active.kid} is now active")


@keys.command("export-trust")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def keys_export_trust(directory: Path) -> None:
    """Write the root and issuing certificates (PEM; the SM2 ones too when that hierarchy is
    on), the JWKS and the audit verifier keys."""
    written = _run(
        lambda services: export_trust(
            services.keys, services.audit.signer, directory, services.audit.hasher.name
        )
    )
    for path in written:
        click.echo(str(path))


@keys.command("rewrap")
def keys_rewrap() -> None:
    """Re-wrap every software key under the current master key (after rotating it)."""
    count = _run(lambda services: services.keys.rewrap(actor="cli"))
    click.echo(f"{count} keys re-wrapped")


@keys.command("revoke-certificate")
@click.argument("issuer_kid")
@click.argument("serial")
@click.option(
    "--reason",
    default="unspecified",
    show_default=True,
    help="RFC 5280 reason name: key_compromise, superseded, cessation_of_operation...",
)
def keys_revoke_certificate(issuer_kid: str, serial: str, reason: str) -> None:
    """Revoke the certificate SERIAL (hex) issued by ISSUER_KID."""
    try:
        flag = ReasonFlags[reason]
        number = int(serial, 16)
    except (KeyError, ValueError) as exc:
        raise click.ClickException("SERIAL is hex; --reason is an RFC 5280 reason name") from exc
    when = _run(
        lambda services: Revocation(services.keys).revoke(issuer_kid, number, flag, actor="cli")
    )
    click.echo(f"revoked {issuer_kid}/{serial} at {when:%Y-%m-%d %H:%M:%S}")
