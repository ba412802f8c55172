"""Configuration of the bills component: the providers' admin keys, the daily import, the mapping file, the alerts.

Defaults live here and only here; ``README.md`` in this folder repeats them for users. ``Settings`` composes
``BillsConfig`` and reads its keys from the environment (``OTEL_MARGIN_OPENAI_ADMIN_KEY`` …).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

OPENAI_API_BASE = "https://api.openai.com/v1"
ANTHROPIC_API_BASE = "https://api.anthropic.com"


def _base_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} is not an http(s) URL; expected e.g. {OPENAI_API_BASE}")
    return value.rstrip("/")


class BillsConfig(BaseModel):
    """How the providers' bills are imported, mapped to services and checked."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    openai_admin_key: SecretStr | None = None
    """OpenAI admin key (``sk-admin-...``; the Costs and Usage APIs take no other). Default: none: OpenAI's bill is
    not imported."""
    openai_api_base: str | None = None
    """Base URL of the OpenAI API. Default: none (https://api.openai.com/v1). Tests point it at a local server."""
    anthropic_admin_key: SecretStr | None = None
    """Anthropic Admin API key (``sk-ant-admin...``). Default: none: Anthropic's bill is not imported."""
    anthropic_api_base: str | None = None
    """Base URL of the Anthropic API. Default: none (https://api.anthropic.com)."""
    timeout_s: float = Field(default=30.0, gt=0, le=300)
    """Timeout of one request to a provider's admin API. Default: 30 s."""
    max_retries: int = Field(default=4, ge=0, le=10)
    """Retries of a request answered 429 (after its ``retry-after``) or 5xx, with exponential backoff. Default: 4."""
    sync_interval_s: float = Field(default=86_400.0, ge=0)
    """Seconds between two imports inside ``serve`` (0 turns the job off). Default: 86400 (daily)."""
    sync_first_delay_s: float = Field(default=600.0, ge=0)
    """Seconds after ``serve`` starts before the first import. Default: 600."""
    sync_days: int = Field(default=7, ge=1, le=90)
    """Days the daily import fetches, ending today: providers revise the last days' figures. Default: 7."""
    mapping_file: Path | None = None
    """YAML file mapping provider projects, workspaces and API keys to services and environments. Default: none."""
    gap_alert_percent: Decimal = Field(default=Decimal(2), ge=0, le=100)
    """A day's gap (billed less computed) above this percent of billed is an alert. Default: 2."""
    coverage_floor_percent: Decimal = Field(default=Decimal(90), ge=0, le=100)
    """Attribution coverage of the bill below this percent is an alert. Default: 90."""

    @field_validator("openai_api_base", "anthropic_api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return _base_url(value)
