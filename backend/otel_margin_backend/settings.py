"""Runtime configuration, read once at startup from ``OTEL_MARGIN_*`` environment variables (or ``.env``).

Every field documents its default; ``config/otel-margin.env.example`` lists them all for users.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from otel_margin_backend.budgets.config import BudgetsConfig, WebhookConfig, check_http_url
from otel_margin_backend.normalize.config import DEFAULT_CUSTOMER_KEYS, DEFAULT_FEATURE_KEYS, NormalizeConfig
from otel_margin_backend.pricing.config import DEFAULT_SYNC_SOURCE, PricingConfig
from otel_margin_backend.revenue.config import RevenueSettings
from otel_margin_backend.storage.config import StorageConfig, mask_url

ENV_PREFIX = "OTEL_MARGIN_"

KeyList = Annotated[tuple[str, ...], NoDecode]
"""A list of attribute names, written in the environment as ``a,b,c``."""


class Settings(RevenueSettings):
    """The backend's configuration (the revenue keys, Stripe's among them, come from ``RevenueSettings``)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    database_url: SecretStr | None = None
    """PostgreSQL/TimescaleDB URL (``postgresql://user:pass@host:5432/db``). Default: none, which starts an
    embedded PostgreSQL in ``data_dir`` for local use."""
    data_dir: Path = Field(default_factory=lambda: Path(platformdirs.user_data_dir("otel-margin")))
    """Where the embedded database and local state live. Default: the user data dir
    (``~/.local/share/otel-margin`` on Linux)."""
    db_pool_max: int = Field(default=8, ge=1, le=200)
    """Most connections the service opens. Default: 8."""
    db_connect_timeout_s: float = Field(default=5.0, gt=0)
    """How long to wait for the database when connecting. Default: 5 s."""
    reader_role: str = Field(default="otel_margin_reader", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    """Read-only role the migrations create for dashboards (Grafana). Default: ``otel_margin_reader``."""
    reader_password: SecretStr | None = None
    """Password of the read-only role. Default: none, which leaves the role unable to log in."""
    http_host: str = "127.0.0.1"
    """Address the HTTP server (OTLP/HTTP, REST, health) binds. Default: 127.0.0.1; use 0.0.0.0 in containers."""
    http_port: int = Field(default=4318, ge=0, le=65535)
    """HTTP port. Default: 4318 (OTLP/HTTP)."""
    grpc_host: str = "127.0.0.1"
    """Address the OTLP/gRPC receiver binds. Default: 127.0.0.1; use 0.0.0.0 in containers."""
    grpc_port: int = Field(default=4317, ge=0, le=65535)
    """OTLP/gRPC port. Default: 4317."""
    ingest_token: SecretStr | None = None
    """Bearer token OTLP and REST clients must send (``Authorization: Bearer <token>``). Default: none, which
    makes ``serve`` generate one on first start and keep it in ``<data_dir>/ingest-token``."""
    ingest_auth: bool = True
    """Require the ingest token. Default: true; set false only for local experiments."""
    batch_max_events: int = Field(default=5_000, ge=1, le=100_000)
    """Write a batch once this many events are waiting. Default: 5000."""
    batch_max_wait_ms: int = Field(default=200, ge=1, le=10_000)
    """...or once the oldest waiting event is this old. Default: 200 ms."""
    max_pending_events: int = Field(default=200_000, ge=1)
    """Events that may wait for the database before clients are told to retry (backpressure). Default: 200000."""
    strict_customer: bool = False
    """Reject model calls without a customer (OTLP partial success). Default: false (stored as ``(unattributed)``)."""
    strict_token_counts: bool = True
    """Never estimate missing token counts (store ``missing_usage``). Default: true."""
    token_estimate_factor: Decimal = Field(default=Decimal("1.1"), gt=0, le=10)
    """Safety factor on estimated token counts. Default: 1.1."""
    customer_keys: KeyList = DEFAULT_CUSTOMER_KEYS
    """Span/resource attributes naming the customer, in order. Default:
    customer.id,enduser.id,user.id,traceloop.association.properties.customer_id,gen_ai.user."""
    feature_keys: KeyList = DEFAULT_FEATURE_KEYS
    """Attributes naming the feature, in order (then the root span's name). Default:
    feature.name,traceloop.association.properties.feature,traceloop.workflow.name."""
    price_overrides_file: Path | None = None
    """Your price overrides YAML (discounts, custom models, aliases). Default: none."""
    price_quality_file: Path | None = None
    """A YAML file extending or correcting the bundled model quality table (same format). Default: none."""
    price_sync_source: str = Field(default=DEFAULT_SYNC_SOURCE, min_length=1)
    """Where the daily price sync fetches genai-prices data: an http(s) URL or a file path. Default: genai-prices'
    public data (https://raw.githubusercontent.com/pydantic/genai-prices/refs/heads/main/prices/new_data/v2/data.json)."""
    price_sync_interval_s: float = Field(default=86_400.0, ge=0)
    """Seconds between price syncs inside serve; 0 turns the daily sync off. Default: 86400 (daily)."""
    price_sync_first_delay_s: float = Field(default=60.0, ge=0)
    """Seconds after serve starts before the first price sync. Default: 60."""
    price_sync_timeout_s: float = Field(default=30.0, gt=0)
    """HTTP timeout of one price-data fetch. Default: 30 s."""
    price_reload_interval_s: float = Field(default=300.0, gt=0)
    """Seconds between checks for a price version another process activated (otel-margin prices sync, another
    replica). Default: 300."""
    azure_deployments: dict[str, str] = Field(default_factory=dict)
    """Azure OpenAI deployment name → model, as JSON, e.g. {"prod-chat": "gpt-4o"}. Default: {}."""
    alert_webhook_url: SecretStr | None = None
    """Where budget alerts are POSTed: one JSON per threshold crossing and per resolution, retried until delivered.
    Secret (chat webhooks carry a token in the URL). Default: none (alerts are recorded and queued)."""
    budget_evaluate_interval_s: float = Field(default=60.0, gt=0)
    """How often ``serve`` evaluates budgets (thresholds crossed or resolved). Default: 60 s."""
    grafana_url: str | None = None
    """Grafana's base URL, used to link dashboards (budget alert payloads). Default: none."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level. Default: INFO."""
    log_format: Literal["json", "console"] = "json"
    """``json`` (one object a line, for log pipelines) or ``console``. Default: json."""

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = urlsplit(value.get_secret_value())
        try:
            parts.port  # noqa: B018 - parsing the port is the check
        except ValueError:
            raise ValueError("the port is not a number; expected postgresql://user:password@host:5432/dbname") from None
        if parts.scheme not in ("postgresql", "postgres") or (not parts.netloc and not parts.query):
            raise ValueError("not a PostgreSQL URL; expected postgresql://user:password@host:5432/dbname")
        return value

    @field_validator("customer_keys", "feature_keys", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return tuple(k.strip() for k in value.split(",") if k.strip()) if isinstance(value, str) else value

    @field_validator("alert_webhook_url")
    @classmethod
    def _webhook_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_http_url(value.get_secret_value())
        return value

    @field_validator("grafana_url")
    @classmethod
    def _grafana_url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @cached_property
    def embedded(self) -> bool:
        """True when no database URL is configured and the embedded PostgreSQL serves."""
        return self.database_url is None

    def storage_config(self) -> StorageConfig:
        """The store's config."""
        return StorageConfig(
            database_url=self.database_url,
            data_dir=self.data_dir,
            connect_timeout_s=self.db_connect_timeout_s,
            pool_max=self.db_pool_max,
            reader_role=self.reader_role,
            reader_password=self.reader_password,
        )

    def normalize_config(self) -> NormalizeConfig:
        """The normalization stage's config."""
        return NormalizeConfig(
            customer_keys=self.customer_keys,
            feature_keys=self.feature_keys,
            strict_customer=self.strict_customer,
            strict_token_counts=self.strict_token_counts,
            token_estimate_factor=self.token_estimate_factor,
        )

    def pricing_config(self) -> PricingConfig:
        """The pricing stage's config."""
        return PricingConfig(
            overrides_file=self.price_overrides_file,
            quality_file=self.price_quality_file,
            azure_deployments=self.azure_deployments,
            sync_source=self.price_sync_source,
            sync_interval_s=self.price_sync_interval_s,
            sync_first_delay_s=self.price_sync_first_delay_s,
            sync_timeout_s=self.price_sync_timeout_s,
            reload_interval_s=self.price_reload_interval_s,
        )

    def budgets_config(self) -> BudgetsConfig:
        """The budgets component's config (evaluation schedule and alert webhook)."""
        webhook = None
        if self.alert_webhook_url is not None:
            webhook = WebhookConfig(url=self.alert_webhook_url.get_secret_value(), dashboard_url=self.grafana_url)
        return BudgetsConfig(evaluate_interval_s=self.budget_evaluate_interval_s, webhook=webhook)

    def effective(self) -> dict[str, str]:
        """Every setting with secrets masked, for ``doctor`` and the startup log."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "database_url":
                shown = "(embedded PostgreSQL)" if value is None else mask_url(value.get_secret_value())
            elif isinstance(value, SecretStr):
                shown = "***"
            elif value is None:
                shown = "(not set)"
            elif isinstance(value, tuple):
                shown = ",".join(value)
            elif isinstance(value, bool):
                shown = str(value).lower()
            elif isinstance(value, dict):
                shown = json.dumps(value)
            else:
                shown = str(value)
            out[ENV_PREFIX + name.upper()] = shown
        return out
