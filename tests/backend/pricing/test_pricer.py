"""The pricers the pipeline holds: the live book (swapped atomically), the null pricer, and create()."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from otel_margin_backend.pipeline.events import UsageStatus
from otel_margin_backend.pricing import (
    CurrentPriceBook,
    NullPricer,
    PriceBook,
    PriceData,
    Pricer,
    PricingConfig,
    create,
)
from otel_margin_backend.pricing.errors import PricingFileError
from otel_margin_backend.pricing.overrides import EXAMPLE_FILE
from tests.backend.pricing.oracle import call

TESTDATA = Path(__file__).with_name("testdata")


def test_null_pricer_never_prices() -> None:
    event = call("openai", "gpt-4o", input_tokens=1_000)
    missing = call("openai", "gpt-4o")
    missing.status = UsageStatus.MISSING_USAGE
    NullPricer().price(event)
    NullPricer().price(missing)

    assert event.status is UsageStatus.UNPRICED
    assert event.cost_total is None
    assert missing.status is UsageStatus.MISSING_USAGE


def test_swap_puts_a_new_book_in_force() -> None:
    first = PriceBook.bundled()
    live = CurrentPriceBook(first)
    second = first.with_data(PriceData.from_json_file(TESTDATA / "data_small.json"))

    before = call("acme", "acme-small", input_tokens=1_000_000)
    live.price(before)
    assert live.swap(second) is first
    after = call("acme", "acme-small", input_tokens=1_000_000)
    live.price(after)

    assert before.status is UsageStatus.UNPRICED
    assert after.cost_total == Decimal("0.25")
    assert live.book is second


def test_everything_is_a_pricer() -> None:
    assert isinstance(PriceBook.bundled(), Pricer)
    assert isinstance(CurrentPriceBook(PriceBook.bundled()), Pricer)
    assert isinstance(NullPricer(), Pricer)


def test_create_from_config() -> None:
    pricer = create(PricingConfig(overrides_file=EXAMPLE_FILE, azure_deployments={"prod": "gpt-4o"}))
    event = call("azure.ai.openai", "prod", input_tokens=1_000_000)
    pricer.price(event)

    assert isinstance(pricer, CurrentPriceBook)
    assert event.cost_total == Decimal("2.5")
    assert event.override_version is not None
    assert isinstance(create(PricingConfig(enabled=False)), NullPricer)


def test_create_with_a_data_file() -> None:
    pricer = create(PricingConfig(data_file=TESTDATA / "data_small.json"))

    assert isinstance(pricer, CurrentPriceBook)
    assert pricer.book.version == "genai-prices data sha256:3ed4bbc4d630"


def test_create_fails_fast_on_a_bad_overrides_file() -> None:
    with pytest.raises(PricingFileError, match=r"bad_percent\.yaml:6"):
        create(PricingConfig(overrides_file=TESTDATA / "bad_percent.yaml"))


def test_config_rejects_unknown_keys_and_documents_defaults() -> None:
    with pytest.raises(ValidationError, match="overides_file"):
        PricingConfig.model_validate({"overides_file": "x.yaml"})
    config = PricingConfig()
    assert config.context_attributes["service_tier"][0] == "openai.response.service_tier"
    for name, field in PricingConfig.model_fields.items():
        assert field.description and "Default" in field.description, name
