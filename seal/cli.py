"""``govtrust seal ...``: make, list, authorise, stamp, validate and revoke seals.

The command line acts with the server's own credentials (its database and keys), on behalf
of the person named by ``--by`` (their opaque subject); the registry still checks that this
person is a seal administrator or holds a grant. An operator at the console is trusted as
having authenticated that person at two factors (``urn:govtrust:loa:2``): every use is
recorded with the actor ``cli``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import click

from core.errors.problem import ProblemError
from core.services import Services
from idp.identities.storage import SqlIdentityStore
from idp.oauth.sessions import LOA_TWO_FACTOR
from keys.cli import _services
from keys.revocation import Revocation
from seal.registry import SealRegistry
from seal.service import StampingService, StampRequest
from seal.stamping.placement import AtAnchor, AtPosition, CrossPage
from seal.validation.validate import InvalidPdf, validate_document

T = TypeVar("T")


@contextmanager
def _seals() -> Iterator[tuple[Services, SealRegistry]]:
    with _services() as services:
        yield (
            services,
            SealRegistry(services.sessions, services.keys, services.audit, services.keys.clock),
        )


def _person(services: Services, subject: str) -> str:
    with services.sessions() as session:
        person = SqlIdentityStore().person_by_subject(session, subject)
    if person is None:
        raise click.ClickException(f"no person with subject {subject}")
    return person.id


def _run(action: Callable[[], T]) -> T:
    try:
        return action()
    except ProblemError as problem:
        body = problem.problem
        raise click.ClickException(f"{body.title}: {body.detail or ''}".rstrip(": ")) from problem


@click.group()
def seal() -> None:
    """Electronic seals."""


@seal.command("create")
@click.option("--organisation", "uscc", required=True, help="The organisation's USCC.")
@click.option(
    "--kind",
    required=True,
    type=click.Choice(["official", "approval", "contract", "finance", "invoice", "name"]),
)
@click.option("--name", default=None, help="Seal name (default: the kind's name).")
@click.option("--by", "by", required=True, help="Subject of a seal administrator.")
@click.option(
    "--image",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A transparent PNG instead of the generated image.",
)
def seal_create(uscc: str, kind: str, name: str | None, by: str, image: Path | None) -> None:
    """Make a seal with its own key and certificate."""
    with _seals() as (services, seals):
        with services.sessions() as session:
            organisation = SqlIdentityStore().organisation_by_uscc(session, uscc)
        if organisation is None:
            raise click.ClickException("no such organisation")
        made = _run(
            lambda: seals.create(
                organisation_id=organisation.id,
                kind=kind,  # type: ignore[arg-type]  # click.Choice checked it
                by=_person(services, by),
                name=name,
                image_png=image.read_bytes() if image else None,
            )
        )
    click.echo(f"{made.id}  {made.kind}  {made.name}  valid until {made.valid_until:%Y-%m-%d}")


@seal.command("list")
@click.option("--organisation", "uscc", required=True, help="The organisation's USCC.")
def seal_list(uscc: str) -> None:
    """The organisation's seals."""
    with _seals() as (services, seals):
        with services.sessions() as session:
            organisation = SqlIdentityStore().organisation_by_uscc(session, uscc)
        if organisation is None:
            raise click.ClickException("no such organisation")
        for item in seals.seals_of(organisation.id):
            click.echo(f"{item.id}  {item.kind:9}  {item.status:9}  {item.name}")


@seal.command("authorise")
@click.argument("seal_id")
@click.option("--person", required=True, help="Subject of the approver.")
@click.option("--until", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--by", "by", required=True, help="Subject of a seal administrator.")
def seal_authorise(seal_id: str, person: str, until: datetime, by: str) -> None:
    """Let PERSON use SEAL_ID until a date."""
    with _seals() as (services, seals):
        grant = _run(
            lambda: seals.grant(
                seal_id,
                _person(services, person),
                by=_person(services, by),
                valid_until=until.replace(tzinfo=UTC),
            )
        )
    click.echo(f"authorisation {grant.id} until {grant.valid_until:%Y-%m-%d}")


@seal.command("stamp")
@click.argument("seal_id")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--by", "by", required=True, help="Subject of the approver.")
@click.option("--anchor", default=None, help="Put the seal over this text, e.g. 盖章.")
@click.option("--page", type=int, default=None)
@click.option("--x", type=float, default=None)
@click.option("--y", type=float, default=None)
@click.option("--cross-page", is_flag=True, help="A seal across the right edge of every page.")
@click.option("--size", type=float, default=120.0, show_default=True)
@click.option(
    "--level", type=click.Choice(["B-B", "B-T", "B-LT"]), default="B-T", show_default=True
)
@click.option("--purpose", default="")
def seal_stamp(
    seal_id: str,
    source: Path,
    target: Path,
    by: str,
    anchor: str | None,
    page: int | None,
    x: float | None,
    y: float | None,
    cross_page: bool,
    size: float,
    level: str,
    purpose: str,
) -> None:
    """Seal SOURCE into TARGET."""
    placement: AtPosition | AtAnchor | CrossPage
    if cross_page:
        placement = CrossPage(size=size)
    elif anchor:
        placement = AtAnchor(text=anchor, size=size)
    elif page is not None and x is not None and y is not None:
        placement = AtPosition(page=page, x=x, y=y, size=size)
    else:
        raise click.ClickException("give --anchor, or --page --x --y, or --cross-page")
    with _seals() as (services, seals):
        request = StampRequest(seal_id, source.read_bytes(), placement, level, purpose)  # type: ignore[arg-type]
        stamped = _run(
            lambda: StampingService(seals, services.keys).stamp(
                request, person_id=_person(services, by), acr=LOA_TWO_FACTOR
            )
        )
    target.write_bytes(stamped.pdf)
    click.echo(
        f"sealed {target} (document sha256 {stamped.document_sha256}, "
        f"audit entry {stamped.audit_index})"
    )


@seal.command("validate")
@click.argument("document", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def seal_validate(document: Path) -> None:
    """Validate every signature of DOCUMENT (a JSON report; exit 1 unless all passed)."""
    with _services() as services:
        root = services.keys.signer("root").certificate_chain()[0]
        revocation = Revocation(services.keys)
        crls = [revocation.crl(ca.kid) for ca in revocation.certificate_authorities()]
        try:
            report = validate_document(
                document.read_bytes(),
                trust_roots=[root],
                crls=crls,
                validation_time=services.keys.clock(),
            )
        except InvalidPdf as exc:
            raise click.ClickException(f"not a readable PDF: {exc}") from exc
    body = report.to_json()
    click.echo(json.dumps(body, ensure_ascii=False, indent=2))
    if body["overall"] != "TOTAL-PASSED":
        raise SystemExit(1)


@seal.command("revoke")
@click.argument("seal_id")
@click.option("--by", "by", required=True, help="Subject of a seal administrator.")
@click.option("--reason", required=True)
def seal_revoke(seal_id: str, by: str, reason: str) -> None:
    """Revoke SEAL_ID and its certificate."""
    with _seals() as (services, seals):
        done = _run(
            lambda: seals.set_status(seal_id, "revoked", by=_person(services, by), reason=reason)
        )
    click.echo(f"{done.id} {done.status}")
