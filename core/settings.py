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

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "govtrust-development-secret-do-not-use-in-production"  # noqa: S105
MIN_SECRET_LENGTH = 32

Environment = Literal["development", "test", "staging", "production"]


class InsecureConfiguration(RuntimeError):
    """The settings would run a non-development service with an unsafe configuration."""


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
        if self.environment == "production" and not self.issuer.startswith("https://"):
            raise InsecureConfiguration("GOVTRUST_ISSUER must be an https URL in production")
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
