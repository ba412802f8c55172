"""Runtime configuration, read once at startup from ``OTEL_MARGIN_*`` environment variables (or ``.env``).

Each component owns its config model and its defaults (``storage/config.py``, ``pricing/config.py`` …);
``Settings`` only composes them, one attribute per component. ``VARIABLES`` is the one table of environment
variable → component field: the environment is read through it, ``effective()`` (``doctor``) lists it, and a test
holds ``config/otel-margin.env.example`` to it. The names stay flat (``OTEL_MARGIN_DB_POOL_MAX``, not
``OTEL_MARGIN_STORAGE__POOL_MAX``) because they are the names users have set.
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from otel_margin_backend.analytics.config import ActionsConfig
from otel_margin_backend.bills.config import BillsConfig
from otel_margin_backend.budgets.config import BudgetsConfig
from otel_margin_backend.ingest.config import IngestConfig
from otel_margin_backend.logs import LogConfig
from otel_margin_backend.normalize.config import NormalizeConfig
from otel_margin_backend.pricing.config import PricingConfig
from otel_margin_backend.receivers.config import ReceiversConfig
from otel_margin_backend.revenue.config import RevenueConfig
from otel_margin_backend.simulator.config import SimulatorConfig
from otel_margin_backend.storage.config import StorageConfig, mask_url
from otel_margin_backend.web.config import AccessConfig

__all__ = ["ENV_PREFIX", "VARIABLES", "Settings", "Variable", "mask_url", "variable_name"]

ENV_PREFIX = "OTEL_MARGIN_"


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable and the component field it sets."""

    suffix: str
    """The name after ``OTEL_MARGIN_``, e.g. ``DB_POOL_MAX``. Lowercased, it is also a keyword of ``Settings``."""
    path: str
    """Component attribute of ``Settings``, then field, e.g. ``storage.pool_max`` (or ``budgets.webhook.url``)."""
    also: tuple[str, ...] = ()
    """Other names read when the prefixed one is unset: Stripe's own (``STRIPE_API_KEY``), deprecated names."""

    @property
    def name(self) -> str:
        """The environment variable, e.g. ``OTEL_MARGIN_DB_POOL_MAX``."""
        return ENV_PREFIX + self.suffix

    @property
    def key(self) -> str:
        """The keyword ``Settings(...)`` also takes, e.g. ``db_pool_max``."""
        return self.suffix.lower()

    @property
    def loc(self) -> tuple[str, ...]:
        """``path`` as a tuple, as pydantic names the field in a validation error."""
        return tuple(self.path.split("."))

    @property
    def field(self) -> FieldInfo:
        """The component field this variable sets: its type, default and description."""
        model: type[BaseModel] = Settings
        *parents, leaf = self.loc
        for part in parents:
            child = model.model_fields[part].annotation
            assert isinstance(child, type) and issubclass(child, BaseModel), self.path
            model = child
        return model.model_fields[leaf]


VARIABLES: tuple[Variable, ...] = (
    # storage/config.py
    Variable("DATABASE_URL", "storage.database_url"),
    Variable("DATA_DIR", "storage.data_dir"),
    Variable("DB_POOL_MAX", "storage.pool_max"),
    Variable("DB_CONNECT_TIMEOUT_S", "storage.connect_timeout_s"),
    Variable("READER_ROLE", "storage.reader_role"),
    Variable("READER_PASSWORD", "storage.reader_password"),
    # receivers/config.py
    Variable("HTTP_HOST", "receivers.http_host"),
    Variable("HTTP_PORT", "receivers.http_port"),
    Variable("GRPC_HOST", "receivers.grpc_host"),
    Variable("GRPC_PORT", "receivers.grpc_port"),
    Variable("GRPC_MAX_MESSAGE_BYTES", "receivers.grpc_max_message_bytes"),
    Variable("HTTP_MAX_BODY_BYTES", "receivers.http_max_body_bytes"),
    Variable("WORKERS", "receivers.workers"),
    Variable("INGEST_TOKEN", "receivers.ingest_token"),
    Variable("INGEST_AUTH", "receivers.ingest_auth"),
    # web/config.py
    Variable("TOKENS", "access.tokens"),
    Variable("TOKENS_FILE", "access.tokens_file"),
    # ingest/config.py
    Variable("BATCH_MAX_EVENTS", "ingest.batch_max_events"),
    Variable("BATCH_MAX_WAIT_MS", "ingest.batch_max_wait_ms"),
    Variable("MAX_PENDING_EVENTS", "ingest.max_pending_events"),
    # normalize/config.py
    Variable("STRICT_CUSTOMER", "normalize.strict_customer"),
    Variable("CUSTOMER_KEYS", "normalize.customer_keys"),
    Variable("FEATURE_KEYS", "normalize.feature_keys"),
    Variable("ENVIRONMENT_KEYS", "normalize.environment_keys"),
    Variable("STRICT_TOKEN_COUNTS", "normalize.strict_token_counts"),
    Variable("TOKEN_ESTIMATE_FACTOR", "normalize.token_estimate_factor"),
    Variable("MAX_PAST_DAYS", "normalize.max_past_days"),
    Variable("MAX_FUTURE_MINUTES", "normalize.max_future_minutes"),
    # pricing/config.py
    Variable("PRICE_ENABLED", "pricing.enabled"),
    Variable("PRICE_DATA_FILE", "pricing.data_file"),
    Variable("PRICE_OVERRIDES_FILE", "pricing.overrides_file"),
    Variable("PRICE_QUALITY_FILE", "pricing.quality_file"),
    Variable("AZURE_DEPLOYMENTS", "pricing.azure_deployments"),
    Variable("PRICE_CONTEXT_ATTRIBUTES", "pricing.context_attributes"),
    Variable("PRICE_CACHE_SIZE", "pricing.cache_size"),
    Variable("PRICE_SYNC_SOURCE", "pricing.sync_source"),
    Variable("PRICE_SYNC_INTERVAL_S", "pricing.sync_interval_s"),
    Variable("PRICE_SYNC_FIRST_DELAY_S", "pricing.sync_first_delay_s"),
    Variable("PRICE_SYNC_TIMEOUT_S", "pricing.sync_timeout_s"),
    Variable("PRICE_RELOAD_INTERVAL_S", "pricing.reload_interval_s"),
    # budgets/config.py
    Variable("BUDGET_EVALUATE_INTERVAL_S", "budgets.evaluate_interval_s"),
    # OTEL_MARGIN_ALERT_WEBHOOK_URL: the deprecated name, from when it also meant Grafana's contact point.
    Variable("BUDGET_WEBHOOK_URL", "budgets.webhook.url", also=("OTEL_MARGIN_ALERT_WEBHOOK_URL",)),
    Variable("BUDGET_WEBHOOK_SECRET", "budgets.webhook.secret"),
    Variable("ALERT_WEBHOOK_TIMEOUT_S", "budgets.webhook.timeout_s"),
    Variable("ALERT_WEBHOOK_RETRY_INITIAL_S", "budgets.webhook.retry_initial_s"),
    Variable("ALERT_WEBHOOK_RETRY_MAX_S", "budgets.webhook.retry_max_s"),
    Variable("ALERT_WEBHOOK_POLL_S", "budgets.webhook.poll_s"),
    Variable("GRAFANA_URL", "budgets.webhook.dashboard_url"),
    # revenue/config.py
    Variable("STRIPE_WEBHOOK_SECRET", "revenue.stripe_webhook_secret", also=("STRIPE_WEBHOOK_SECRET",)),
    Variable("STRIPE_API_KEY", "revenue.stripe_api_key", also=("STRIPE_API_KEY",)),
    Variable("STRIPE_API_BASE", "revenue.stripe_api_base"),
    Variable("STRIPE_CUSTOMER_METADATA_KEY", "revenue.stripe_customer_metadata_key"),
    Variable("STRIPE_TIMEOUT_S", "revenue.stripe_timeout_s"),
    Variable("STRIPE_MAX_NETWORK_RETRIES", "revenue.stripe_max_network_retries"),
    Variable("REPORTING_CURRENCY", "revenue.reporting_currency"),
    # bills/config.py
    Variable("OPENAI_ADMIN_KEY", "bills.openai_admin_key"),
    Variable("OPENAI_API_BASE", "bills.openai_api_base"),
    Variable("ANTHROPIC_ADMIN_KEY", "bills.anthropic_admin_key"),
    Variable("ANTHROPIC_API_BASE", "bills.anthropic_api_base"),
    Variable("BILLS_TIMEOUT_S", "bills.timeout_s"),
    Variable("BILLS_MAX_RETRIES", "bills.max_retries"),
    Variable("BILLS_SYNC_INTERVAL_S", "bills.sync_interval_s"),
    Variable("BILLS_SYNC_FIRST_DELAY_S", "bills.sync_first_delay_s"),
    Variable("BILLS_SYNC_DAYS", "bills.sync_days"),
    Variable("BILLS_MAPPING_FILE", "bills.mapping_file"),
    Variable("BILLS_GAP_ALERT_PERCENT", "bills.gap_alert_percent"),
    Variable("BILLS_COVERAGE_FLOOR_PERCENT", "bills.coverage_floor_percent"),
    # simulator/config.py
    Variable("SIMULATOR_CANDIDATES", "simulator.candidates"),
    Variable("SIMULATOR_BENCHMARKS", "simulator.benchmarks"),
    Variable("SIMULATOR_WINDOW_DAYS", "simulator.window_days"),
    Variable("SIMULATOR_MAX_QUALITY_DROP", "simulator.max_quality_drop"),
    Variable("SIMULATOR_MIN_SAVINGS_PERCENT", "simulator.min_savings_percent"),
    Variable("SIMULATOR_IGNORE_MODALITIES", "simulator.ignore_modalities"),
    Variable("SIMULATOR_ALLOW_UNKNOWN_CONTEXT", "simulator.allow_unknown_context"),
    Variable("SIMULATOR_ALLOW_DEPRECATED", "simulator.allow_deprecated"),
    Variable("SIMULATOR_ENGINEERING_HOURS", "simulator.engineering_hours"),
    Variable("SIMULATOR_HOURLY_RATE", "simulator.hourly_rate"),
    Variable("SIMULATOR_INTERVAL_S", "simulator.interval_s"),
    Variable("SIMULATOR_KEEP_RUNS", "simulator.keep_runs"),
    # analytics/config.py
    Variable("ACTIONS_MONITOR_BELOW_PERCENT", "actions.monitor_below_percent"),
    # logs.py
    Variable("LOG_LEVEL", "logs.level"),
    Variable("LOG_FORMAT", "logs.format"),
)
"""Every setting, in the order ``doctor`` and the example file list them. Each component field appears once."""

_BY_KEY = {var.key: var for var in VARIABLES}


class Settings(BaseSettings):
    """The backend's configuration: each component's own config, filled from the environment through ``VARIABLES``.

    ``Settings()`` reads the process environment, then ``.env``; keywords win over both and may be components
    (``Settings(storage=StorageConfig(...))``) or the variables' lowercased names (``Settings(db_pool_max=4)``).
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="forbid", frozen=True)

    storage: StorageConfig = Field(default_factory=StorageConfig)
    """The database: where it is (or the embedded one), the pool, the read-only role."""
    receivers: ReceiversConfig = Field(default_factory=ReceiversConfig)
    """Where OTLP/gRPC and HTTP listen, and the ingest token."""
    access: AccessConfig = Field(default_factory=AccessConfig)
    """Named tokens with scopes, beside the default admin token."""
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    """Batching across requests and backpressure."""
    normalize: NormalizeConfig = Field(default_factory=NormalizeConfig)
    """Where customer, feature and environment are found; strictness; token estimates."""
    pricing: PricingConfig = Field(default_factory=PricingConfig)
    """Price data, overrides, name mappings, price-context attributes, the daily sync."""
    budgets: BudgetsConfig = Field(default_factory=BudgetsConfig)
    """Budget evaluation and the alert webhook."""
    revenue: RevenueConfig = Field(default_factory=RevenueConfig)
    """Stripe and the reporting currency."""
    bills: BillsConfig = Field(default_factory=BillsConfig)
    """The providers' bills: admin keys, the daily import, the mapping file, the gap and coverage alerts."""
    simulator: SimulatorConfig = Field(default_factory=SimulatorConfig)
    """The model-swap cost simulator."""
    actions: ActionsConfig = Field(default_factory=ActionsConfig)
    """The customer actions' margin floor."""
    logs: LogConfig = Field(default_factory=LogConfig)
    """Log level and format."""

    def __init__(self, **values: Any) -> None:
        super().__init__(**_nest(values))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keywords, then the process environment, then ``.env``: each read through ``VARIABLES``."""
        assert isinstance(env_settings, EnvSettingsSource) and isinstance(dotenv_settings, EnvSettingsSource)
        return (
            init_settings,
            _Variables(settings_cls, env_settings.env_vars),
            _Variables(settings_cls, dotenv_settings.env_vars),
        )

    def value(self, var: Variable) -> object:
        """The value ``var`` sets, e.g. ``settings.storage.pool_max`` for ``OTEL_MARGIN_DB_POOL_MAX``."""
        node: object = self
        for part in var.loc:
            node = getattr(node, part)
        return node

    def effective(self) -> dict[str, str]:
        """Every variable and its value, secrets masked, in the example file's notation (``doctor``, startup log)."""
        out: dict[str, str] = {}
        for var in VARIABLES:
            value = self.value(var)
            if var.path == "storage.database_url":
                shown = "(embedded PostgreSQL)" if value is None else mask_url(_secret(value))
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
            out[var.name] = shown
        return out


def variable_name(loc: tuple[str | int, ...]) -> str:
    """The environment variable a validation error's location points at, for error messages.

    Args:
        loc: ``error["loc"]`` of a ``ValidationError`` raised by ``Settings()``, e.g. ``("storage", "pool_max")``.

    Returns:
        The variable (``OTEL_MARGIN_DB_POOL_MAX``), or the dotted location when no variable sets it.
    """
    parts = tuple(str(p) for p in loc)
    for var in VARIABLES:
        if parts[: len(var.loc)] == var.loc:
            return var.name
    flat = _BY_KEY.get(parts[0]) if parts else None
    return flat.name if flat is not None else ".".join(parts)


class _Variables(PydanticBaseSettingsSource):
    """``VARIABLES`` found in one set of environment values (the process's or ``.env``'s), as component values."""

    def __init__(self, settings_cls: type[BaseSettings], found: Mapping[str, str | None]) -> None:
        super().__init__(settings_cls)
        self._found = found  # names lowercased by pydantic-settings (matching is case-insensitive)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads by variable, not by field

    def __call__(self) -> dict[str, Any]:
        flat: dict[str, object] = {}
        for var in VARIABLES:
            for name in (var.name, *var.also):
                raw = self._found.get(name.lower())
                if raw is not None:
                    flat[var.key] = raw
                    break
        return _nest(flat)


def _nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """Keywords and variables by flat key (``db_pool_max``) placed into their components; other keys as they are.

    Text is decoded as the environment writes it: a list as ``a,b,c``, a mapping as JSON.
    """
    out: dict[str, Any] = {key: value for key, value in values.items() if key.lower() not in _BY_KEY}
    for key, value in values.items():
        var = _BY_KEY.get(key.lower())
        if var is None:
            continue
        node = out
        *parents, leaf = var.loc
        for part in parents:
            child = node.get(part)
            if isinstance(child, BaseModel):  # a component given whole: keep its values, set this one
                child = {name: getattr(child, name) for name in type(child).model_fields}
            node[part] = child = dict(child) if isinstance(child, Mapping) else {}
            node = child
        node[leaf] = _decode(var, value) if isinstance(value, str) else value
    return out


def _decode(var: Variable, text: str) -> object:
    kind = _KINDS[var.key]
    if kind == "list":
        return tuple(part.strip() for part in text.split(",") if part.strip())
    if kind == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text  # validation then says what was expected, naming the variable
    return text


def _secret(value: object) -> str:
    assert isinstance(value, SecretStr)
    return value.get_secret_value()


def _kind(annotation: Any) -> Literal["list", "json", "text"]:
    """How the environment writes a field of this type: ``a,b,c`` for a tuple, JSON for a dict, else as text."""
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(arg for arg in get_args(annotation) if arg is not type(None))
    origin = get_origin(annotation)
    return "list" if origin is tuple else "json" if origin is dict else "text"


_KINDS = {var.key: _kind(var.field.annotation) for var in VARIABLES}
