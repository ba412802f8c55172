"""Revenue configuration: defaults, environment names (Stripe's own too), and errors that name the key."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from otel_margin_backend.revenue.config import RevenueConfig
from otel_margin_backend.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for key in list(os.environ):
        if key.upper().startswith(("OTEL_MARGIN_", "STRIPE_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(str(tmp_path))  # no .env file


def test_defaults() -> None:
    config = Settings().revenue
    assert config == RevenueConfig()
    assert config.stripe_webhook_secret is None and config.stripe_api_key is None and config.stripe_api_base is None
    assert config.stripe_customer_metadata_key == "customer_id"
    assert config.reporting_currency == "USD"
    assert (config.stripe_timeout_s, config.stripe_max_network_retries) == (10.0, 2)


def test_stripe_names_and_prefixed_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_plain")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_plain")
    config = Settings().revenue
    assert config.stripe_webhook_secret is not None and config.stripe_webhook_secret.get_secret_value() == "whsec_plain"
    assert config.stripe_api_key is not None and config.stripe_api_key.get_secret_value() == "sk_test_plain"
    monkeypatch.setenv("OTEL_MARGIN_STRIPE_WEBHOOK_SECRET", "whsec_prefixed")  # the prefixed name wins
    monkeypatch.setenv("OTEL_MARGIN_STRIPE_API_BASE", "http://127.0.0.1:12111/")
    monkeypatch.setenv("OTEL_MARGIN_REPORTING_CURRENCY", "eur")
    config = Settings().revenue
    assert config.stripe_webhook_secret is not None
    assert config.stripe_webhook_secret.get_secret_value() == "whsec_prefixed"
    assert config.stripe_api_base == "http://127.0.0.1:12111"
    assert config.reporting_currency == "EUR"
    assert "whsec_prefixed" not in repr(config)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("reporting_currency", "dollars", "'dollars' is not an ISO 4217 currency code"),
        ("stripe_api_base", "api.stripe.com", "'api.stripe.com' is not an http(s) URL"),
        ("stripe_customer_metadata_key", "", "at least 1 character"),
        ("stripe_timeout_s", 0, "greater than 0"),
    ],
)
def test_bad_values_name_the_key(key: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        RevenueConfig(**{key: value})  # type: ignore[arg-type]
    (error,) = info.value.errors()
    assert error["loc"] == (key,) and message in error["msg"]


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        RevenueConfig(stripe_secret="whsec_x")  # type: ignore[call-arg]
