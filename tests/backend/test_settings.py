"""Configuration: defaults, env vars, the example file and masking."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from otel_margin_backend.settings import ENV_PREFIX, Settings, mask_url

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "otel-margin.env.example"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_work_without_any_configuration() -> None:
    settings = Settings()
    assert settings.embedded
    assert (settings.http_host, settings.http_port, settings.reader_role) == ("127.0.0.1", 4318, "otel_margin_reader")


def test_env_vars_override_and_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_MARGIN_DATABASE_URL", "postgresql://app:s3cret@db.internal:5433/margin")
    monkeypatch.setenv("OTEL_MARGIN_READER_PASSWORD", "grafana-pw")
    monkeypatch.setenv("OTEL_MARGIN_LOG_LEVEL", "debug")
    settings = Settings()
    shown = settings.effective()
    assert not settings.embedded and settings.log_level == "DEBUG"
    assert shown["OTEL_MARGIN_DATABASE_URL"] == "postgresql://app:***@db.internal:5433/margin"
    assert shown["OTEL_MARGIN_READER_PASSWORD"] == "***"
    assert "s3cret" not in repr(settings) and "grafana-pw" not in repr(settings)


def test_a_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("OTEL_MARGIN_HTTP_PORT=9999\n")
    assert Settings().http_port == 9999


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_MARGIN_READER_ROLE", "Robert'); DROP TABLE")
    with pytest.raises(ValidationError, match="reader_role"):
        Settings()


def test_mask_url_leaves_urls_without_password_alone() -> None:
    assert mask_url("postgresql://app@h/db") == "postgresql://app@h/db"


def test_the_example_file_lists_every_setting_with_its_default() -> None:
    text = EXAMPLE.read_text()
    listed = set(re.findall(r"^# (OTEL_MARGIN_[A-Z_]+)=", text, flags=re.M))
    assert listed == {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    defaults = Settings().effective()
    for name, value in re.findall(r"^# (OTEL_MARGIN_[A-Z_]+)=(.+)$", text, flags=re.M):
        if name not in ("OTEL_MARGIN_DATABASE_URL",):
            assert defaults[name] == value, name
