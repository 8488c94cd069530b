"""Service settings, read from ``GOVTRUST_*`` environment variables.

The embedded default (development) runs with no configuration at all: a SQLite file under
``./var/``, an in-process cache and a development secret. Any other environment refuses to
start with a default or weak secret (see :meth:`Settings.refuse_insecure_defaults`).
"""

from __future__ import annotations

import warnings
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.aead import AtRestCipher

DEVELOPMENT_SECRET = "govtrust-development-secret-do-not-use-in-production"  # noqa: S105
MIN_SECRET_LENGTH = 32

Environment = Literal["development", "test", "staging", "production"]


class InsecureConfiguration(RuntimeError):
    """The settings would run a non-development service with an unsafe configuration."""


def _inside(path: Path, directory: Path) -> bool:
    return path.resolve().is_relative_to(directory.resolve())


class Settings(BaseSettings):
    """Everything the service reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="GOVTRUST_", extra="ignore", frozen=True)

    environment: Environment = "development"
    issuer: str = Field(
        default="http://127.0.0.1:8000",
        description="Public base URL of this service; the OpenID Connect issuer.",
    )
    data_dir: Path = Path("var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; unset means a SQLite file under data_dir."
    )
    redis_url: str | None = Field(
        default=None, description="Redis URL; unset means the in-process cache."
    )
    cache_prefix: str = "govtrust:"
    secret_key: str = Field(
        default=DEVELOPMENT_SECRET,
        description="Root secret for keyed hashes and encryption of personal identifiers.",
    )
    log_level: str = "INFO"

    # keys/: where private keys live.
    key_backend: Literal["software", "pkcs11"] = "software"
    key_type: Literal["EC_P256", "RSA_2048", "RSA_3072", "ED25519"] = "EC_P256"
    master_key: SecretStr | None = Field(
        default=None, description="Base64 of 32 random bytes; wraps every software key."
    )
    master_key_file: Path | None = None
    master_key_previous: SecretStr | None = Field(
        default=None, description="Comma-separated previous master keys, during a rotation."
    )
    pkcs11_module: str | None = None
    pkcs11_token_label: str | None = None
    pkcs11_pin: SecretStr | None = None
    pki_organization: str = "govtrust"
    sm2_enabled: bool = Field(
        default=False,
        description="Also keep the SM2 (national algorithms, 国密) hierarchy: `keys init` "
        "creates the sm2-* keys (see keys/purposes.py).",
    )
    at_rest_cipher: AtRestCipher = Field(
        default=AtRestCipher.AES_256_GCM,
        description="AEAD for data at rest (ID numbers, wrapped private keys): AES-256-GCM "
        "or SM4-GCM (national algorithm); what was stored under the other stays readable.",
    )
    licence_algorithm: Literal["ES256", "SM2"] = Field(
        default="ES256",
        description="What signs licence QRs, the status list and the trust list: the "
        "`licence` key (ES256), or the `sm2-licence` key (SM2 with SM3; needs "
        "GOVTRUST_SM2_ENABLED). See verify/signing.py and verify/FORMAT.md.",
    )
    audit_hash: Literal["SHA-256", "SM3"] = Field(
        default="SHA-256",
        description="Tree hash of the audit log (core/audit/merkle.py): SHA-256 (RFC 6962) or "
        "SM3 (GB/T 32905, national algorithm). Fixed for the life of a log: the service "
        "refuses to start or verify when the stored log was built with the other one.",
    )
    audit_checkpoint_seconds: int = Field(
        default=60,
        ge=0,
        description="The public GET /audit/checkpoint signs a new checkpoint at most this "
        "often; in between it answers the latest one, of a prefix of the log (signing one "
        "rehashes the whole log under the append lock). 0: whenever the log grew. "
        "`govtrust audit checkpoint` always signs one of the log as it is.",
    )
    dpop_nonce_required: bool = Field(
        default=False,
        description="Ask DPoP clients for server-provided nonces (RFC 9449 §8, §9).",
    )
    oauth_hot_path: bool = Field(
        default=True,
        description="Answer the common client-credentials token, JWT introspection and "
        "refresh requests in front of the framework, with group-committed token rows and a "
        "refresh rotated atomically through the driver (idp/hotpath); off, every "
        "request takes the general path. Both answer the same "
        "(tests/idp/test_oauth_hot_path.py, tests/idp/test_refresh_hot_path.py).",
    )
    access_token_rows_flushed: bool = Field(
        default=False,
        description="PostgreSQL: whether the hot path waits for each batch of new "
        "client-credentials token rows to reach the disk before answering. By default "
        "(false) the rows are committed and visible to every worker before the tokens are "
        "returned, without waiting for the WAL flush (synchronous_commit off on the ledger's "
        "writers only): a crash of the database server or machine may lose the last few "
        "hundred milliseconds of them, and those tokens then introspect as inactive (fail "
        "closed: the client asks for a new one), as the embedded SQLite default (WAL, "
        "synchronous=NORMAL) already trades for every commit. About 1.3x the tokens per "
        "second on two workers (bench/RESULTS.md). true: no token that was answered is lost "
        "in a crash (tests/security/test_fault_postgres_restart.py). Revocations, rotations "
        "and every other write always wait for the disk.",
    )
    client_credentials_token_rows: bool = Field(
        default=True,
        description="Each access token a client gets for itself (client credentials, RFC "
        "6749 §4.4) gets a row before it is answered, as every other access token does, "
        "and introspection calls it active only while that row exists and is unrevoked. "
        "false: such tokens get no row (idp/oauth/rowless_tokens.py); their jti carries a "
        "MAC of their claims under a key derived from the service secret (not the signing "
        "key), introspection calls a token with a valid MAC active unless a revocation row "
        "names it, and revoking one (RFC 7009) writes that row. What changes: there is no "
        "stored record of each such token; a stolen signing key alone still cannot mint a "
        "token introspection accepts, but a stolen signing key and service secret can; "
        "changing the service secret makes such tokens inactive. 1.6-2.4x the tokens per "
        "second of the default on two PostgreSQL workers (bench/RESULTS.md, PROFILE.md). "
        "Tokens of every other grant keep their rows.",
    )
    introspection_remembers_usable_tokens: bool = Field(
        default=True,
        description="Each worker remembers the access tokens whose rows it found usable, "
        "and introspection answers them without reading the row again until a revocation "
        "may have changed that. PostgreSQL: one made by this worker at once, one made by "
        "another process when PostgreSQL's notification arrives (milliseconds; RFC 7009 "
        "§2.1 allows such a propagation delay and asks to minimise it); about 1.6x the "
        "introspections per second on two workers. SQLite: any revocation committed before "
        "an introspection starts is seen by it (a counter kept by triggers, read when "
        "PRAGMA data_version says something was committed); about 1.06x (bench/PROFILE.md). "
        "false: every introspection reads the row, so a revocation by any process is seen "
        "at its commit.",
    )
    status_list_refresh_seconds: int = Field(
        default=5,
        ge=1,
        le=300,
        description="How stale the published licence status list may be (verify/).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses/CIDRs of reverse proxies whose X-Forwarded-For is believed.",
    )

    platform_admins: list[str] = Field(
        default_factory=list,
        description="Subjects of the people who administer the platform in the web console "
        "(clients, keys, audit trail, locked accounts), as JSON, e.g. '[\"sub1\"]'.",
    )

    @model_validator(mode="after")
    def refuse_insecure_defaults(self) -> Settings:
        """Refuse default or short secrets outside development; warn inside it."""
        weak = self.secret_key == DEVELOPMENT_SECRET or len(self.secret_key) < MIN_SECRET_LENGTH
        if weak and self.environment not in ("development", "test"):
            raise InsecureConfiguration(
                "GOVTRUST_SECRET_KEY is the development default or shorter than "
                f"{MIN_SECRET_LENGTH} characters; set a random secret for environment "
                f"{self.environment!r}"
            )
        if weak and self.environment == "development":
            warnings.warn(
                "govtrust is running with the development secret; never expose this instance",
                stacklevel=2,
            )
        if self.master_key_file is not None and _inside(self.master_key_file, self.data_dir):
            raise InsecureConfiguration(
                "GOVTRUST_MASTER_KEY_FILE must not be kept beside the data it protects "
                f"(it is inside {self.data_dir})"
            )
        no_master = self.master_key is None and self.master_key_file is None
        if no_master and self.environment not in ("development", "test"):
            raise InsecureConfiguration(
                "set GOVTRUST_MASTER_KEY or GOVTRUST_MASTER_KEY_FILE: software keys are "
                "wrapped under it (the development fallback derives it from the secret)"
            )
        if self.key_backend == "pkcs11" and not (
            self.pkcs11_module and self.pkcs11_token_label and self.pkcs11_pin
        ):
            raise InsecureConfiguration(
                "GOVTRUST_KEY_BACKEND=pkcs11 needs GOVTRUST_PKCS11_MODULE, "
                "GOVTRUST_PKCS11_TOKEN_LABEL and GOVTRUST_PKCS11_PIN"
            )
        if self.environment == "production" and not self.issuer.startswith("https://"):
            raise InsecureConfiguration("GOVTRUST_ISSUER must be an https URL in production")
        if self.licence_algorithm == "SM2" and not self.sm2_enabled:
            raise ValueError(
                "GOVTRUST_LICENCE_ALGORITHM=SM2 signs licences with the sm2-licence key: set "
                "GOVTRUST_SM2_ENABLED=true (and run `govtrust keys init`)"
            )
        return self

    @cached_property
    def effective_database_url(self) -> str:
        """The configured database, or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'govtrust.db').as_posix()}"

    @property
    def secret_bytes(self) -> bytes:
        return self.secret_key.encode("utf-8")
