"""``govtrust licence ...``: list types; issue, show, change, suspend, resume, revoke,
reissue, renew and print licences; write a licence as a sealed PDF; run the expiry sweeper;
import existing licences from CSV.

The command line acts with the server's own credentials (its database and keys), on behalf
of the licence administrator named by ``--by`` (their opaque subject): :mod:`certs.access`
still checks that this person administers the licence's issuing authority, and every step
is recorded in the audit trail with that person's subject as the actor. A holder code is
read from ``--holder-code`` or, better (it stays out of the shell history and the process
list), from standard input; it is never printed back in clear.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from certs import access
from certs.access import Caller
from certs.bulk_import import LicenceImporter
from certs.documents import LicenceDocuments
from certs.lifecycle import china_date, effective_state
from certs.metadata import LABELS, licence_metadata
from certs.models import Licence
from certs.service import LicenceService
from core.errors.problem import ProblemError
from core.identifiers.resident_id import redact_resident_ids
from keys.cli import _services
from seal.registry import SealRegistry
from seal.service import StampingService

T = TypeVar("T")


@contextmanager
def _licences() -> Iterator[LicenceService]:
    with _services() as services:
        yield LicenceService(
            services.sessions, services.identifiers, services.audit, services.keys.clock
        )


def _run(action: Callable[[], T]) -> T:
    try:
        return action()
    except ProblemError as problem:
        body = problem.problem
        raise click.ClickException(f"{body.title}: {body.detail or ''}".rstrip(": ")) from problem


def _admin(licences: LicenceService, subject: str) -> Caller:
    caller = access.caller_by_subject(licences, subject)
    if caller is None:
        raise click.ClickException(f"no active person with subject {subject}")
    if not caller.authorities:
        raise click.ClickException("this person is not a licence administrator of any authority")
    return caller


def _licence(licences: LicenceService, caller: Caller, identifier: str) -> Licence:
    return _run(lambda: access.administered_licence(licences, caller, identifier))


def _fields(text: str) -> dict[str, Any]:
    """``--fields``: a JSON object, or ``@path`` of a file holding one."""
    raw = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"--fields is not JSON: {exc.msg}") from exc
    if not isinstance(value, dict):
        raise click.ClickException("--fields must be a JSON object")
    return value


def _holder_code(option: str | None) -> str:
    """The holder code from the option, or (absent or ``-``) from standard input."""
    if option is not None and option != "-":
        return option
    if sys.stdin.isatty():
        return str(click.prompt("Holder code", hide_input=True, err=True))
    line = sys.stdin.readline().strip()
    if not line:
        raise click.ClickException("no holder code on standard input")
    return line


def _summary(licences: LicenceService, licence: Licence) -> str:
    state = effective_state(licence, licences.clock()).value
    return (
        f"{licence.identifier}  number {licence.licence_number}  "
        f"version {licence.version:03d}  {state}  holder {licence.holder_code_masked}"
    )


day = click.DateTime(["%Y-%m-%d"])
by_option = click.option("--by", "by", required=True, help="Subject of a licence administrator.")
reason_option = click.option("--reason", required=True, help="Why (goes to the audit trail).")


@click.group()
def licence() -> None:
    """Electronic licences (电子证照)."""


@licence.command("types")
def licence_types() -> None:
    """The registered licence types."""
    with _licences() as licences:
        for item in licences.list_types():
            validity = "long-term" if item.validity_years is None else f"{item.validity_years}y"
            click.echo(
                f"{item.code}  {item.name}  holder {item.holder_kind} ({item.holder_code_type})"
                f"  {validity}  defined by {item.defining_authority_name}"
            )


@licence.command("issue")
@click.option("--type", "type_code", required=True, help="The licence type code (21 chars).")
@click.option("--holder-name", required=True)
@click.option(
    "--holder-code",
    default=None,
    help="Resident ID number or USCC; leave out (or '-') to read it from standard input.",
)
@click.option("--fields", "fields_text", required=True, help="JSON object, or @file.")
@click.option("--issuer", "issuer_uscc", default=None, help="The issuing authority's USCC.")
@click.option("--valid-from", type=day, default=None, help="Default: today (China).")
@click.option("--reason", default="issued", show_default=True)
@by_option
def licence_issue(
    type_code: str,
    holder_name: str,
    holder_code: str | None,
    fields_text: str,
    issuer_uscc: str | None,
    valid_from: datetime | None,
    reason: str,
    by: str,
) -> None:
    """Issue a licence of the administrator's issuing authority."""
    fields = _fields(fields_text)
    code = _holder_code(holder_code)
    with _licences() as licences:
        caller = _admin(licences, by)
        authority = _run(lambda: caller.authority(issuer_uscc))
        start: date = valid_from.date() if valid_from else china_date(licences.clock())
        issued = _run(
            lambda: licences.issue(
                type_code,
                authority.uscc,
                authority.name,
                holder_name,
                code,
                fields,
                start,
                caller.subject,
                reason=reason,
            )
        )
        click.echo(_summary(licences, issued))


@licence.command("show")
@click.argument("identifier")
@by_option
def licence_show(identifier: str, by: str) -> None:
    """The GB/T 36903 metadata, state and fields of a licence version."""
    with _licences() as licences:
        caller = _admin(licences, by)
        found = _licence(licences, caller, identifier)
        licence_type = licences.get_type(found.type_code)
        for key, value in licence_metadata(found, licence_type).items():
            click.echo(f"{LABELS[key]} ({key}): {redact_resident_ids(value)}")
        click.echo(
            f"state: {effective_state(found, licences.clock()).value} ({found.state_reason})"
        )
        if found.superseded_by:
            click.echo(f"superseded by: {found.superseded_by}")
        text = json.dumps(found.fields, ensure_ascii=False, indent=2, sort_keys=True)
        click.echo("fields: " + redact_resident_ids(text))


@licence.command("change")
@click.argument("identifier")
@click.option(
    "--fields", "fields_text", required=True, help="The complete new fields: JSON or @file."
)
@click.option("--holder-name", default=None, help="A new holder name.")
@reason_option
@by_option
def licence_change(
    identifier: str, fields_text: str, holder_name: str | None, reason: str, by: str
) -> None:
    """Change a licence: a new version supersedes IDENTIFIER (变更)."""
    fields = _fields(fields_text)
    with _licences() as licences:
        caller = _admin(licences, by)
        _licence(licences, caller, identifier)
        changed = _run(
            lambda: licences.change(
                identifier, fields, reason, caller.subject, holder_name=holder_name
            )
        )
        click.echo(_summary(licences, changed))


def _step_command(name: str, help_text: str) -> None:
    @licence.command(name, help=help_text)
    @click.argument("identifier")
    @reason_option
    @by_option
    def command(identifier: str, reason: str, by: str) -> None:
        with _licences() as licences:
            caller = _admin(licences, by)
            _licence(licences, caller, identifier)
            step: Callable[[str, str, str], Licence] = getattr(licences, name)
            done = _run(lambda: step(identifier, reason, caller.subject))
            click.echo(_summary(licences, done))


_step_command("suspend", "Suspend IDENTIFIER (暂扣).")
_step_command("resume", "Resume the suspended IDENTIFIER.")
_step_command("revoke", "Revoke IDENTIFIER (注销, final).")
_step_command("reissue", "Reissue IDENTIFIER after loss (补发): a new version supersedes it.")


@licence.command("renew")
@click.argument("identifier")
@click.option("--until", "until", required=True, type=day, help="The new last valid day.")
@click.option("--reason", default="renewed", show_default=True)
@by_option
def licence_renew(identifier: str, until: datetime, reason: str, by: str) -> None:
    """Renew IDENTIFIER (延续): a new version valid until --until."""
    with _licences() as licences:
        caller = _admin(licences, by)
        _licence(licences, caller, identifier)
        renewed = _run(
            lambda: licences.renew(identifier, until.date(), caller.subject, reason=reason)
        )
        click.echo(_summary(licences, renewed))


@contextmanager
def _documents() -> Iterator[tuple[LicenceService, LicenceDocuments]]:
    with _services() as services:
        licences = LicenceService(
            services.sessions, services.identifiers, services.audit, services.keys.clock
        )
        seals = SealRegistry(services.sessions, services.keys, services.audit, services.keys.clock)
        yield (
            licences,
            LicenceDocuments(
                licences,
                seals,
                StampingService(seals, services.keys),
                services.licence_qr,
                services.settings.data_dir / "fonts",
            ),
        )


output_option = click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the sealed PDF here.",
)


@licence.command("print")
@click.argument("identifier")
@output_option
@by_option
def licence_print(identifier: str, output: Path | None, by: str) -> None:
    """Record one printing of IDENTIFIER; prints the print serial, and with --output writes
    the sealed PDF to print, its QR naming this print."""
    with _documents() as (licences, documents):
        caller = _admin(licences, by)
        _licence(licences, caller, identifier)
        serial = _run(lambda: licences.record_print(identifier, caller.subject))
        click.echo(f"print serial {serial}  status path /licence-prints/{serial}/status")
        if output is not None:
            output.write_bytes(_run(lambda: documents.sealed_pdf(identifier, serial)))
            click.echo(f"wrote {output}")


@licence.command("document")
@click.argument("identifier")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write the sealed PDF (or the PNG preview with --preview).",
)
@click.option("--preview", is_flag=True, help="A PNG picture of the page instead of the PDF.")
@by_option
def licence_document(identifier: str, output: Path, preview: bool, by: str) -> None:
    """Write the electronic licence IDENTIFIER as a sealed PDF (or a PNG preview)."""
    with _documents() as (licences, documents):
        _licence(licences, _admin(licences, by), identifier)
        render = documents.preview_png if preview else documents.sealed_pdf
        output.write_bytes(_run(lambda: render(identifier)))
        click.echo(f"wrote {output}")


@licence.command("expire-due")
def licence_expire_due() -> None:
    """Record the expiry of every licence whose last valid day has passed (the sweeper)."""
    with _licences() as licences:
        expired = _run(licences.expire_due)
    for identifier in expired:
        click.echo(f"expired {identifier}")
    click.echo(f"{len(expired)} licences expired")


@licence.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--type", "type_code", required=True, help="The licence type of every row.")
@click.option("--issuer", "issuer_uscc", required=True, help="The issuing authority's USCC.")
@click.option("--all-or-nothing", is_flag=True, help="Import nothing unless every row is valid.")
@click.option("--dry-run", is_flag=True, help="Check every row; write nothing.")
@click.option("--reason", default="imported", show_default=True)
@by_option
def licence_import(
    file: Path,
    type_code: str,
    issuer_uscc: str,
    all_or_nothing: bool,
    dry_run: bool,
    reason: str,
    by: str,
) -> None:
    """Import existing licences of one type from a CSV FILE (columns: certs/csv_import.py),
    printing one line per row; exits 1 if any row was not imported."""
    data = file.read_bytes()
    with _services() as services:
        importer = LicenceImporter(
            services.sessions, services.identifiers, services.audit, services.keys.clock
        )
        caller = _admin(importer, by)
        authority = _run(lambda: caller.authority(issuer_uscc))
        report = _run(
            lambda: importer.import_csv(
                data,
                type_code,
                authority.uscc,
                authority.name,
                caller.subject,
                mode="all_or_nothing" if all_or_nothing else "valid_rows",
                dry_run=dry_run,
                reason=reason,
            )
        )
    for row in report.rows:
        parts = [f"row {row.row}", row.status]
        parts += [f"holder {row.holder_code_masked}"] if row.holder_code_masked else []
        parts += [row.identifier] if row.identifier else []
        parts += [row.error] if row.error else []
        click.echo("  ".join(parts))
    counts = ", ".join(f"{count} {status}" for status, count in report.counts.items() if count)
    click.echo(f"batch {report.batch_id}: {counts}")
    if any(row.status in ("rejected", "not_imported") for row in report.rows):
        sys.exit(1)
