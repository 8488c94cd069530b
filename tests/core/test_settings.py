"""Settings come from GOVTRUST_* variables and refuse insecure defaults outside development."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import DEVELOPMENT_SECRET, InsecureConfiguration, Settings
from keys.master import new_master_key

STRONG = "x" * 48
MASTER = new_master_key()


def test_defaults_are_the_embedded_development_setup(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "GOVTRUST_DATABASE_URL",
        "GOVTRUST_REDIS_URL",
        "GOVTRUST_ENVIRONMENT",
        "GOVTRUST_SECRET_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.warns(UserWarning, match="development secret"):
        settings = Settings()
    assert settings.environment == "development"
    assert settings.effective_database_url == "sqlite:///var/govtrust.db"
    assert settings.redis_url is None


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVTRUST_ENVIRONMENT", "production")
    monkeypatch.setenv("GOVTRUST_SECRET_KEY", STRONG)
    monkeypatch.setenv("GOVTRUST_ISSUER", "https://id.gov.example")
    monkeypatch.setenv("GOVTRUST_MASTER_KEY", MASTER)
    monkeypatch.setenv("GOVTRUST_DATABASE_URL", "postgresql://db/govtrust")
    monkeypatch.setenv("GOVTRUST_REDIS_URL", "redis://cache:6379/0")
    settings = Settings()
    assert settings.effective_database_url == "postgresql://db/govtrust"
    assert settings.redis_url == "redis://cache:6379/0"


@pytest.mark.parametrize("environment", ["staging", "production"])
@pytest.mark.parametrize("secret", [DEVELOPMENT_SECRET, "short-secret"])
def test_weak_secret_is_refused_outside_development(environment: str, secret: str) -> None:
    with pytest.raises(InsecureConfiguration, match="GOVTRUST_SECRET_KEY"):
        Settings(environment=environment, secret_key=secret, issuer="https://id.example")


def test_production_needs_an_https_issuer() -> None:
    with pytest.raises(InsecureConfiguration, match="https"):
        Settings(
            environment="production",
            secret_key=STRONG,
            issuer="http://id.example",
            master_key=MASTER,
        )
    assert Settings(
        environment="production", secret_key=STRONG, issuer="https://id.example", master_key=MASTER
    )


def test_production_needs_a_master_key() -> None:
    with pytest.raises(InsecureConfiguration, match="GOVTRUST_MASTER_KEY"):
        Settings(environment="production", secret_key=STRONG, issuer="https://id.example")


def test_master_key_file_beside_the_data_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "data" / "master.key"
    with pytest.raises(InsecureConfiguration, match="beside the data"):
        Settings(
            environment="test",
            secret_key=STRONG,
            data_dir=tmp_path / "data",
            master_key_file=key_file,
        )
    assert Settings(
        environment="test",
        secret_key=STRONG,
        data_dir=tmp_path / "data",
        master_key_file=tmp_path / "elsewhere" / "master.key",
    )


def test_pkcs11_backend_needs_module_token_and_pin() -> None:
    with pytest.raises(InsecureConfiguration, match="PKCS11"):
        Settings(
            environment="test",
            secret_key=STRONG,
            key_backend="pkcs11",
            pkcs11_module="/usr/lib/softhsm/libsofthsm2.so",
        )


def test_unknown_environment_is_rejected() -> None:
    with pytest.raises(ValueError, match="environment"):
        Settings(environment="prod", secret_key=STRONG)  # type: ignore[arg-type]
