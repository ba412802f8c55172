"""Configuration: each component's defaults, the variables that set them, the example file and masking."""

from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from otel_margin_backend.analytics.config import ActionsConfig
from otel_margin_backend.bills.config import BillsConfig
from otel_margin_backend.budgets.config import BudgetsConfig
from otel_margin_backend.ingest.config import IngestConfig
from otel_margin_backend.logs import LogConfig
from otel_margin_backend.normalize.config import NormalizeConfig
from otel_margin_backend.pricing.config import PricingConfig
from otel_margin_backend.receivers.config import ReceiversConfig
from otel_margin_backend.revenue.config import RevenueConfig
from otel_margin_backend.settings import ENV_PREFIX, VARIABLES, Settings, mask_url, variable_name
from otel_margin_backend.simulator.config import SimulatorConfig
from otel_margin_backend.storage.config import StorageConfig
from otel_margin_backend.web.config import AccessConfig

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "otel-margin.env.example"
COMPONENTS: dict[str, type[BaseModel]] = {
    "storage": StorageConfig,
    "receivers": ReceiversConfig,
    "access": AccessConfig,
    "ingest": IngestConfig,
    "normalize": NormalizeConfig,
    "pricing": PricingConfig,
    "budgets": BudgetsConfig,
    "revenue": RevenueConfig,
    "bills": BillsConfig,
    "simulator": SimulatorConfig,
    "actions": ActionsConfig,
    "logs": LogConfig,
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX) or name.upper().startswith("STRIPE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def leaf_paths(model: type[BaseModel], prefix: str) -> set[str]:
    """Every field of a config model, nested models' fields spelled ``outer.inner``."""
    out: set[str] = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out |= leaf_paths(annotation, f"{prefix}{name}.")
        else:
            out.add(prefix + name)
    return out


def test_settings_compose_the_components_and_their_defaults_unchanged() -> None:
    settings = Settings()
    assert {name: type(getattr(settings, name)) for name in Settings.model_fields} == COMPONENTS
    for name, model in COMPONENTS.items():
        assert getattr(settings, name) == model(), name
    assert settings.storage.embedded and settings.storage.database_url is None
    assert (settings.receivers.http_host, settings.receivers.http_port) == ("127.0.0.1", 4318)
    assert (settings.storage.pool_max, settings.ingest.batch_max_events) == (8, 5000)


def test_every_component_field_is_set_by_exactly_one_variable() -> None:
    fields = set().union(*(leaf_paths(model, f"{name}.") for name, model in COMPONENTS.items()))
    paths = [var.path for var in VARIABLES]
    names = [var.name for var in VARIABLES]
    assert len(paths) == len(set(paths)) and len(names) == len(set(names))
    assert set(paths) == fields
    for var in VARIABLES:  # the description users read in docs and doctor states the default
        assert var.field.description is not None and "Default" in var.field.description, var.name


def test_env_vars_override_and_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_MARGIN_DATABASE_URL", "postgresql://app:s3cret@db.internal:5433/margin")
    monkeypatch.setenv("OTEL_MARGIN_READER_PASSWORD", "grafana-pw")
    monkeypatch.setenv("OTEL_MARGIN_BUDGET_WEBHOOK_URL", "https://hooks.example.com/T0/B0/hook-token")
    monkeypatch.setenv("OTEL_MARGIN_BUDGET_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    monkeypatch.setenv("OTEL_MARGIN_TOKENS", "collector:ingest:collector-token-0123456789")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_key")
    monkeypatch.setenv("OTEL_MARGIN_LOG_LEVEL", "debug")
    settings = Settings()
    shown = settings.effective()
    assert not settings.storage.embedded and settings.logs.level == "DEBUG"
    assert shown["OTEL_MARGIN_DATABASE_URL"] == "postgresql://app:***@db.internal:5433/margin"
    assert shown["OTEL_MARGIN_READER_PASSWORD"] == "***"
    assert shown["OTEL_MARGIN_BUDGET_WEBHOOK_URL"] == shown["OTEL_MARGIN_BUDGET_WEBHOOK_SECRET"] == "***"
    assert shown["OTEL_MARGIN_TOKENS"] == "***"
    assert shown["OTEL_MARGIN_STRIPE_API_KEY"] == "***"
    assert list(shown) == [var.name for var in VARIABLES]
    for secret in ("s3cret", "grafana-pw", "hook-token", "sk_test_key", "MfKQ9r8GKYqrTwjU", "collector-token"):
        assert secret not in repr(settings) and secret not in str(shown), secret


@pytest.mark.parametrize(
    ("name", "text", "path", "value"),
    [
        ("OTEL_MARGIN_DB_POOL_MAX", "3", "storage.pool_max", 3),
        ("OTEL_MARGIN_DATA_DIR", "/srv/margin", "storage.data_dir", Path("/srv/margin")),
        ("OTEL_MARGIN_INGEST_AUTH", "false", "receivers.ingest_auth", False),
        ("OTEL_MARGIN_BATCH_MAX_EVENTS", "700", "ingest.batch_max_events", 700),
        ("OTEL_MARGIN_CUSTOMER_KEYS", "tenant.id, customer.id", "normalize.customer_keys",
         ("tenant.id", "customer.id")),
        ("OTEL_MARGIN_ENVIRONMENT_KEYS", "env", "normalize.environment_keys", ("env",)),
        ("OTEL_MARGIN_TOKEN_ESTIMATE_FACTOR", "1.25", "normalize.token_estimate_factor", Decimal("1.25")),
        ("OTEL_MARGIN_PRICE_ENABLED", "false", "pricing.enabled", False),
        ("OTEL_MARGIN_PRICE_DATA_FILE", "/srv/data.json", "pricing.data_file", Path("/srv/data.json")),
        ("OTEL_MARGIN_PRICE_CONTEXT_ATTRIBUTES", '{"service_tier": ["acme.tier", "openai.response.service_tier"]}',
         "pricing.context_attributes", {"service_tier": ("acme.tier", "openai.response.service_tier")}),
        ("OTEL_MARGIN_PRICE_CACHE_SIZE", "64", "pricing.cache_size", 64),
        ("OTEL_MARGIN_AZURE_DEPLOYMENTS", '{"prod-chat": "gpt-4o"}', "pricing.azure_deployments",
         {"prod-chat": "gpt-4o"}),
        ("OTEL_MARGIN_PRICE_SYNC_INTERVAL_S", "0", "pricing.sync_interval_s", 0.0),
        ("OTEL_MARGIN_ALERT_WEBHOOK_RETRY_MAX_S", "60", "budgets.webhook.retry_max_s", 60.0),
        ("OTEL_MARGIN_GRAFANA_URL", "https://grafana.example.com", "budgets.webhook.dashboard_url",
         "https://grafana.example.com"),
        ("OTEL_MARGIN_REPORTING_CURRENCY", "eur", "revenue.reporting_currency", "EUR"),
        ("OTEL_MARGIN_SIMULATOR_CANDIDATES", "openai/gpt-4.1-mini,openai/o3", "simulator.candidates",
         ("openai/gpt-4.1-mini", "openai/o3")),
        ("OTEL_MARGIN_SIMULATOR_MAX_QUALITY_DROP", "5", "simulator.max_quality_drop", Decimal(5)),
        ("OTEL_MARGIN_LOG_FORMAT", "console", "logs.format", "console"),
    ],
)  # fmt: skip
def test_a_variable_sets_its_component_field(
    monkeypatch: pytest.MonkeyPatch, name: str, text: str, path: str, value: object
) -> None:
    (var,) = (v for v in VARIABLES if v.name == name)
    assert var.path == path
    monkeypatch.setenv(name, text)
    settings = Settings()
    assert settings.value(var) == value
    untouched = path.split(".")[0]
    others = {n: getattr(settings, n) for n in COMPONENTS if n != untouched}
    assert others == {n: model() for n, model in COMPONENTS.items() if n != untouched}


def test_a_dotenv_file_is_read_and_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("OTEL_MARGIN_HTTP_PORT=9999\nOTEL_MARGIN_GRPC_PORT=9998\n")
    monkeypatch.setenv("OTEL_MARGIN_GRPC_PORT", "9000")
    receivers = Settings().receivers
    assert (receivers.http_port, receivers.grpc_port) == (9999, 9000)
    assert Settings(_env_file=None).receivers.http_port == 4318


def test_keywords_win_as_variable_names_or_as_components(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_MARGIN_DB_POOL_MAX", "2")
    monkeypatch.setenv("OTEL_MARGIN_READER_ROLE", "grafana_ro")
    assert Settings().storage.pool_max == 2
    flat = Settings(db_pool_max=3, customer_keys="tenant.id,customer.id").storage
    assert (flat.pool_max, flat.reader_role) == (3, "grafana_ro")  # the environment still fills the rest
    assert Settings(customer_keys="tenant.id,customer.id").normalize.customer_keys == ("tenant.id", "customer.id")
    whole = Settings(storage=StorageConfig(pool_max=4)).storage
    assert (whole.pool_max, whole.reader_role) == (4, "otel_margin_reader")
    assert Settings(storage={"pool_max": 5}).storage.reader_role == "grafana_ro"
    both = Settings(storage=StorageConfig(pool_max=4), reader_role="other_ro").storage
    assert (both.pool_max, both.reader_role) == (4, "other_ro")
    with pytest.raises(ValidationError, match="db_pool_maximum"):
        Settings(db_pool_maximum=3)


def test_variable_names_match_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("otel_margin_http_port", "4000")
    assert Settings().receivers.http_port == 4000


def test_bad_values_are_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_MARGIN_READER_ROLE", "Robert'); DROP TABLE")
    monkeypatch.setenv("OTEL_MARGIN_BUDGET_WEBHOOK_URL", "ftp://hooks.example.com/x")
    monkeypatch.setenv("OTEL_MARGIN_BUDGET_WEBHOOK_SECRET", "s3cret")
    monkeypatch.setenv("OTEL_MARGIN_PRICE_CONTEXT_ATTRIBUTES", '{"service_tier": []}')
    monkeypatch.setenv("OTEL_MARGIN_AZURE_DEPLOYMENTS", "prod-chat=gpt-4o")
    with pytest.raises(ValidationError) as info:
        Settings()
    problems = {variable_name(e["loc"]): e["msg"] for e in info.value.errors()}
    assert problems == {
        "OTEL_MARGIN_READER_ROLE": "String should match pattern '^[a-z_][a-z0-9_]{0,62}$'",
        "OTEL_MARGIN_BUDGET_WEBHOOK_URL": "Value error, not an http(s) URL; expected e.g. "
        "https://hooks.example.com/otel-margin",
        "OTEL_MARGIN_BUDGET_WEBHOOK_SECRET": "Value error, not a Standard Webhooks secret: expected whsec_ and base64 "
        'of 24 to 64 random bytes, e.g. from: python3 -c \'import base64, secrets; print("whsec_" + '
        "base64.b64encode(secrets.token_bytes(32)).decode())'",
        "OTEL_MARGIN_PRICE_CONTEXT_ATTRIBUTES": "Value error, 'service_tier' names no span attribute; list at least "
        "one",
        "OTEL_MARGIN_AZURE_DEPLOYMENTS": "Input should be a valid dictionary",
    }


def test_the_deprecated_alert_webhook_name_still_sets_the_budget_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_MARGIN_ALERT_WEBHOOK_URL", "https://hooks.example.com/old")
    url = Settings().budgets.webhook.url
    assert url is not None and url.get_secret_value() == "https://hooks.example.com/old"
    monkeypatch.setenv("OTEL_MARGIN_BUDGET_WEBHOOK_URL", "https://hooks.example.com/new")
    url = Settings().budgets.webhook.url
    assert url is not None and url.get_secret_value() == "https://hooks.example.com/new"  # the new name wins


def test_empty_webhook_variables_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_MARGIN_BUDGET_WEBHOOK_URL", "")
    monkeypatch.setenv("OTEL_MARGIN_BUDGET_WEBHOOK_SECRET", "")
    webhook = Settings().budgets.webhook
    assert (webhook.url, webhook.secret) == (None, None)


def test_mask_url_leaves_urls_without_password_alone() -> None:
    assert mask_url("postgresql://app@h/db") == "postgresql://app@h/db"


def test_the_example_file_lists_every_variable_with_its_default() -> None:
    text = EXAMPLE.read_text()
    listed = re.findall(r"^# (OTEL_MARGIN_[A-Z_]+)=", text, flags=re.M)
    assert sorted(listed) == sorted(var.name for var in VARIABLES)
    defaults = Settings().effective()
    for name, value in re.findall(r"^# (OTEL_MARGIN_[A-Z_]+)=(.+)$", text, flags=re.M):
        if name not in ("OTEL_MARGIN_DATABASE_URL",):
            assert defaults[name] == value, name
    unset = [name for name, value in re.findall(r"^# (OTEL_MARGIN_[A-Z_]+)=(.*)$", text, flags=re.M) if not value]
    assert all(defaults[name] in ("(not set)", "") or name == "OTEL_MARGIN_DATA_DIR" for name in unset), unset


def test_the_readme_table_lists_every_variable() -> None:
    section = (REPO / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    named = {f"OTEL_MARGIN_{m}" for m in re.findall(r"`(?:OTEL_MARGIN)?_([A-Z_]+)[`=]", section)}
    assert named >= {var.name for var in VARIABLES}
