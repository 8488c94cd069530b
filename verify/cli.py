"""``govtrust verify FILE``: verify a licence QR offline.

FILE is a photo or scan of a QR (PNG/JPEG), a licence PDF, or a text file holding the
scanned text (``-`` reads the text from standard input). The signature is checked against
the cached trust list and the status against the cached status list; both are refreshed
first when the service answers (``--offline`` skips that), and the verdict says how old they
are. Exit status: 0 only for a valid licence, 1 for any other verdict, 2 when nothing could
be verified (no pinned root or trust list yet, a file that cannot be read).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import httpx

from verify.offline_cache import CacheError, OfflineCache
from verify.qr_image import QrImageError, read_qr_texts
from verify.status_list import StatusListError
from verify.status_sources import StatusListStatus
from verify.trust_list import TrustListError
from verify.verdict import Verification
from verify.verifier import DEFAULT_SKEW, verify_qr_text

DEFAULT_CACHE = Path(os.environ.get("GOVTRUST_VERIFY_CACHE", "~/.cache/govtrust-verify"))


def _texts(file: str) -> list[str]:
    if file == "-":
        return [sys.stdin.read().strip()]
    path = Path(file)
    if not path.is_file():
        raise click.ClickException(f"{file}: no such file")
    data = path.read_bytes()
    if data.startswith((b"GT", b"HTTP", b"http")) or path.suffix.lower() == ".txt":
        return [data.decode("utf-8", errors="replace").strip()]
    return read_qr_texts(path)


def _age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "unknown age"
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds} s old"
    if seconds < 7200:
        return f"{seconds // 60} min old"
    return f"{seconds // 3600} h old"


def _report(result: Verification, now: datetime, ages: dict[str, str]) -> dict[str, Any]:
    licence = asdict(result.licence) if result.licence else None
    return {
        "verdict": result.verdict.value,
        "valid": result.is_valid,
        "reasons": list(result.reasons),
        "warnings": list(result.warnings),
        "checks": {check.value: value for check, value in result.checks.items()},
        "licence": licence,
        "key_id": result.key_id,
        "signed_at": result.signed_at,
        "status_as_of": result.status_as_of,
        "verified_at": now,
        "lists": ages,
        "clock_skew_tolerance_seconds": int(DEFAULT_SKEW.total_seconds()),
    }


def _print_human(report: dict[str, Any]) -> None:
    click.echo(f"verdict: {report['verdict'].upper()}")
    for reason in report["reasons"]:
        click.echo(f"  {reason}")
    for warning in report["warnings"]:
        click.echo(f"  warning: {warning}")
    licence = report["licence"]
    if licence:
        until = licence["valid_until"] or "long-term"
        click.echo(
            f"licence: {licence['type_name']} ({licence['kind']}), version {licence['version']}"
        )
        click.echo(f"holder:  {licence['holder_name']}")
        click.echo(f"issuer:  {licence['issuer_name']}")
        click.echo(f"valid:   {licence['valid_from']} - {until}")
        click.echo(f"id:      {licence['identifier']}")
    lists = report["lists"]
    click.echo(f"trust list: {lists['trust_list']}; status list: {lists['status_list']}")


@click.command("verify")
@click.argument("file")
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_CACHE,
    show_default=True,
    help="Where the pinned root, trust list and status lists are kept.",
)
@click.option("--service", help="The service to refresh the lists from (remembered).")
@click.option(
    "--root", "root_file", type=click.Path(exists=True, path_type=Path), help="Pin this root CA."
)
@click.option("--offline", is_flag=True, help="Do not try to refresh the lists.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--at",
    "at_text",
    help="Verify as of this ISO 8601 time instead of now (to re-check a past scan).",
    hidden=True,
)
def verify_command(
    file: str,
    cache_dir: Path,
    service: str | None,
    root_file: Path | None,
    offline: bool,
    as_json: bool,
    at_text: str | None,
) -> None:
    """Verify a licence QR (image, PDF or text) offline; exit 0 only if it is valid."""
    cache = OfflineCache(cache_dir.expanduser())
    now = datetime.fromisoformat(at_text) if at_text else datetime.now(UTC)
    if now.tzinfo is None:
        raise click.BadParameter(
            "give a time zone, e.g. 2026-11-27T09:00:00+08:00", param_hint="--at"
        )
    try:
        if root_file is not None:
            cache.pin_root(root_file.read_bytes())
        source = service or cache.service()
        if source and not offline:
            try:
                cache.refresh(source)
            except httpx.HTTPError as exc:
                click.echo(f"offline ({type(exc).__name__}): using the cached lists", err=True)
            except (TrustListError, StatusListError) as exc:
                click.echo(f"refusing the downloaded lists: {exc}; using the cached ones", err=True)
        cached = cache.load()
        texts = _texts(file)
    except (CacheError, TrustListError, QrImageError, ValueError) as exc:
        click.echo(f"cannot verify: {exc}", err=True)
        sys.exit(2)
    status_token = next(iter(cached.status_lists.values()), None)
    ages = {
        "trust_list": f"signed {_age(cached.trust.issued_at, now)}",
        "status_list": "none cached"
        if status_token is None
        else f"signed {_age(status_token.issued_at, now)}",
    }
    warnings = []
    if now > cached.trust.expires_at:
        warnings.append("the cached trust list has expired: refresh it when online")
    results = [
        verify_qr_text(text, cached.trust, StatusListStatus(cached.status_lists), now, DEFAULT_SKEW)
        for text in texts
    ]
    reports = [_report(result, now, ages) for result in results]
    for report in reports:
        report["warnings"].extend(warnings)
    if as_json:
        click.echo(
            json.dumps(
                reports if len(reports) > 1 else reports[0],
                default=str,
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        for report in reports:
            _print_human(report)
    sys.exit(0 if all(result.is_valid for result in results) else 1)
