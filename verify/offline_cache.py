"""What an offline verifier keeps between scans: the pinned root certificate, the last trust
list and the last status lists, each with the time it was fetched.

A refresh downloads the trust list and the status lists it names from the service, checks
them against the pinned root before it replaces anything (a bad download never overwrites a
good cached copy), and records when. Without a network the cached copies are used, and the
verifier says how old they are.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from cryptography import x509

from verify.status_list import StatusListError, StatusListToken, read_status_list
from verify.trust_list import TrustList, TrustListError, read_trust_list

ROOT_FILE = "root.pem"
TRUST_FILE = "trust-list.jwt"
META_FILE = "cache.json"
TIMEOUT_SECONDS = 5.0


class CacheError(ValueError):
    """The cache cannot serve a verification (no pinned root, no trust list)."""


def _status_file(uri: str) -> str:
    return "status-" + hashlib.sha256(uri.encode()).hexdigest()[:16] + ".jwt"


@dataclass(frozen=True)
class CachedLists:
    trust: TrustList
    status_lists: dict[str, StatusListToken]
    fetched_at: datetime | None
    service: str | None


class OfflineCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    # -- the pinned root ----------------------------------------------------------------

    def pin_root(self, pem: bytes) -> x509.Certificate:
        certificate = x509.load_pem_x509_certificate(pem)
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / ROOT_FILE).write_bytes(pem)
        return certificate

    def root(self) -> x509.Certificate:
        path = self.directory / ROOT_FILE
        if not path.exists():
            raise CacheError(
                f"no pinned root certificate in {self.directory}: "
                "pass --root ROOT.pem (from the issuing authority) once"
            )
        return x509.load_pem_x509_certificate(path.read_bytes())

    # -- metadata -------------------------------------------------------------------------

    def _meta(self) -> dict[str, str]:
        path = self.directory / META_FILE
        if not path.exists():
            return {}
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}

    def _write_meta(self, **values: str) -> None:
        meta = self._meta() | values
        (self.directory / META_FILE).write_text(json.dumps(meta, indent=2))

    def service(self) -> str | None:
        return self._meta().get("service")

    # -- loading and refreshing -----------------------------------------------------------

    def load(self) -> CachedLists:
        root = self.root()
        trust_path = self.directory / TRUST_FILE
        if not trust_path.exists():
            raise CacheError("no trust list cached: refresh once when online (--service URL)")
        trust = read_trust_list(trust_path.read_text().strip(), root)
        lists: dict[str, StatusListToken] = {}
        for uri in trust.status_lists:
            path = self.directory / _status_file(uri)
            if path.exists():
                try:
                    lists[uri] = read_status_list(path.read_text().strip(), trust.jws_keys())
                except StatusListError:
                    continue
        meta = self._meta()
        fetched = meta.get("fetched_at")
        return CachedLists(
            trust=trust,
            status_lists=lists,
            fetched_at=datetime.fromisoformat(fetched) if fetched else None,
            service=meta.get("service"),
        )

    def store(self, trust_token: str, status_tokens: dict[str, str], fetched_at: datetime) -> None:
        """Check and keep downloaded lists (the status lists keyed by their URI). A list
        signed before the one cached is refused: a mirror replaying an old status list
        would otherwise turn a revoked licence back to valid until the old list expires."""
        trust = read_trust_list(trust_token, self.root())
        cached = self._cached_trust()
        if cached is not None and trust.issued_at < cached.issued_at:
            raise TrustListError(_older("the trust list", trust.issued_at, cached.issued_at))
        checked = {}
        for uri, token in status_tokens.items():
            status = read_status_list(token, trust.jws_keys())
            if status.uri != uri:
                raise StatusListError(f"the list fetched from {uri} says it is {status.uri}")
            kept = self._cached_status(uri, trust)
            if kept is not None and status.issued_at < kept.issued_at:
                raise StatusListError(_older(f"the list {uri}", status.issued_at, kept.issued_at))
            checked[uri] = token
        (self.directory / TRUST_FILE).write_text(trust_token)
        for uri, token in checked.items():
            (self.directory / _status_file(uri)).write_text(token)
        self._write_meta(fetched_at=fetched_at.isoformat())

    def _cached_trust(self) -> TrustList | None:
        path = self.directory / TRUST_FILE
        try:
            return read_trust_list(path.read_text().strip(), self.root()) if path.exists() else None
        except TrustListError:  # unreadable or expired: nothing to compare with
            return None

    def _cached_status(self, uri: str, trust: TrustList) -> StatusListToken | None:
        path = self.directory / _status_file(uri)
        try:
            return (
                read_status_list(path.read_text().strip(), trust.jws_keys())
                if path.exists()
                else None
            )
        except StatusListError:
            return None

    def refresh(self, service: str, client: httpx.Client | None = None) -> None:
        """Download the trust list and its status lists from ``service``; raises
        ``httpx.HTTPError`` when offline and TrustListError/StatusListError for bad lists."""
        own = client is None
        http = client or httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False)
        try:
            response = http.get(service.rstrip("/") + "/verify/trust-list")
            response.raise_for_status()
            trust_token = response.text.strip()
            trust = read_trust_list(trust_token, self.root())
            tokens = {}
            for uri in trust.status_lists:
                fetched = http.get(uri)
                fetched.raise_for_status()
                tokens[uri] = fetched.text.strip()
        finally:
            if own:
                http.close()
        self.store(trust_token, tokens, datetime.now(UTC))
        self._write_meta(service=service.rstrip("/"))


def _older(what: str, downloaded: datetime, cached: datetime) -> str:
    return (
        f"{what} downloaded was signed at {downloaded.isoformat()}, before the cached one "
        f"({cached.isoformat()}): an old list replayed is refused"
    )
