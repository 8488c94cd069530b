"""The ``govtrust`` command: serve, migrate, audit verify, openapi."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pydantic import ValidationError

from core.log import configure_logging
from core.settings import InsecureConfiguration, Settings

if TYPE_CHECKING:
    from core.services import Services

APP = "core.app:app_from_environment"  # the factory each uvicorn worker calls


def _settings() -> Settings:
    try:
        return Settings()
    except (ValidationError, InsecureConfiguration) as exc:
        raise click.ClickException(f"configuration refused: {exc}") from exc


class _ListingGroup(click.Group):
    """A top-level group whose --help lists every command, subcommands included."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows: list[tuple[str, str]] = []

        def walk(group: click.Group, prefix: str) -> None:
            for name in sorted(group.list_commands(ctx)):
                command = group.get_command(ctx, name)
                if command is None or command.hidden:
                    continue
                if isinstance(command, click.Group):
                    walk(command, f"{prefix}{name} ")
                else:
                    rows.append((f"govtrust {prefix}{name}", command.get_short_help_str(60)))

        walk(self, "")
        with formatter.section("Every command"):
            formatter.write_dl(rows)


@click.group(cls=_ListingGroup)
@click.version_option(package_name="govtrust")
def main() -> None:
    """govtrust: one identity for every channel, e-seals and verifiable electronic licences."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Seed demo data and write var/demo.json.")
@click.option("--no-migrate", is_flag=True, help="Do not upgrade the schema before starting.")
def serve(host: str, port: int, workers: int, demo: bool, no_migrate: bool) -> None:
    """Run the service with uvicorn (embedded SQLite and in-process cache by default)."""
    import uvicorn

    from core.db.migrate import upgrade
    from core.demo import seed_demo
    from core.reuse_port_workers import ReusePortWorkers, kernel_balances
    from core.services import build_services

    settings = _settings()
    configure_logging(settings.log_level)
    if workers > 1 and not settings.redis_url:
        raise click.ClickException(
            "several workers share state through Redis: set GOVTRUST_REDIS_URL"
        )
    services = build_services(settings)
    try:
        if not no_migrate:
            upgrade(services.engine)
        _check_audit_hash(services)
        _build_audit_nodes(services)
        created = services.keys.init()
        if created:
            click.echo(f"created {len(created)} keys (first start)", err=True)
        if demo:
            path = settings.data_dir / "demo.json"
            seed_demo(services, path)
            click.echo(f"demo credentials written to {path}", err=True)
    finally:
        services.close()
    options: dict[str, Any] = {
        "factory": True,
        "host": host,
        "port": port,
        "log_config": None,
        "proxy_headers": True,
        "http": "core.http_protocol:CorkedHttpToolsProtocol",  # one write per answer
    }
    if workers > 1 and kernel_balances():  # one socket per worker: core.reuse_port_workers
        config = uvicorn.Config(APP, **options)  # the count is the supervisor's
        try:
            status = ReusePortWorkers(config, workers).run()
        except OSError as exc:  # the port is taken
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc
        sys.exit(status)
    uvicorn.run(APP, workers=workers, **options)


@main.command()
def migrate() -> None:
    """Upgrade the database schema to the latest revision."""
    from core.db.engine import make_engine
    from core.db.migrate import current_revision, upgrade

    settings = _settings()
    engine = make_engine(settings.effective_database_url)
    try:
        upgrade(engine)
        click.echo(f"schema at revision {current_revision(engine)}")
    finally:
        engine.dispose()


@main.group()
def audit() -> None:
    """The tamper-evident audit trail."""


def _check_audit_hash(services: Services) -> None:
    """Refuse to go on when the stored audit log was built with another tree hash."""
    from core.audit.trail import AuditHashMismatch

    try:
        with services.sessions() as session:
            services.audit.check_hash(session)
    except AuditHashMismatch as exc:
        raise click.ClickException(f"configuration refused: {exc}") from exc


def _build_audit_nodes(services: Services) -> None:
    """Store the audit tree's nodes if the log has entries from before they were kept
    (migration 0016); a stored node that the entries contradict is told, not fatal."""
    from core.audit.trail import AuditTampered
    from core.db.engine import transaction

    try:
        with transaction(services.sessions) as session:
            if services.audit.build_nodes(session):
                click.echo("audit trail: tree nodes stored for the existing entries", err=True)
    except AuditTampered as exc:
        click.echo(f"AUDIT TRAIL TAMPERED: {exc}; run `govtrust audit verify`", err=True)


@audit.command("verify")
def audit_verify() -> None:
    """Recompute the Merkle tree from storage; name the first entry that does not match."""
    from core.audit.trail import AuditHashMismatch
    from core.services import build_services

    services = build_services(_settings())
    try:
        with services.sessions() as session:
            report = services.audit.verify(session)
    except AuditHashMismatch as exc:
        raise click.ClickException(f"refusing to verify: {exc}") from exc
    finally:
        services.close()
    if report.ok:
        click.echo(
            f"audit trail intact: {report.entries_checked} entries, "
            f"{report.checkpoints_checked} signed checkpoints verified"
        )
        return
    click.echo(
        f"AUDIT TRAIL TAMPERED: first bad entry {report.first_bad_index}: {report.problem}",
        err=True,
    )
    sys.exit(1)


@audit.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint of the current log and print it."""
    from core.audit.trail import AuditHashMismatch, AuditTampered
    from core.db.engine import transaction
    from core.services import build_services

    services = build_services(_settings())
    try:
        with transaction(services.sessions) as session:
            click.echo(services.audit.checkpoint(session), nl=False)
    except (AuditTampered, AuditHashMismatch) as exc:
        raise click.ClickException(f"refusing to sign: {exc}") from exc
    finally:
        services.close()


@main.command()
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
def openapi(output: Path | None) -> None:
    """Print the OpenAPI document of the service."""
    from core.openapi_document import openapi_document

    text = json.dumps(openapi_document(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


def _register_package_commands() -> None:
    from certs.cli import licence
    from keys.cli import keys
    from seal.cli import seal
    from verify.cli import verify_command

    main.add_command(keys)
    main.add_command(seal)
    main.add_command(licence)
    main.add_command(verify_command)


_register_package_commands()
