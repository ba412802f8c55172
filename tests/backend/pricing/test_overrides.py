"""The overrides file: discounts, custom models, aliases, dates, versions, and errors that name the line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from otel_margin_backend.pipeline.events import UsageStatus
from otel_margin_backend.pricing import PriceBook
from otel_margin_backend.pricing.errors import PricingFileError
from otel_margin_backend.pricing.overrides import EXAMPLE_FILE, SCHEMA_FILE, Overrides, json_schema
from tests.backend.pricing.oracle import call, oracle

TESTDATA = Path(__file__).with_name("testdata")

OVERRIDES = """\
version: 1
discounts:
  - provider: openai
    percent: 10
    effective_from: 2026-01-01
  - provider: openai
    model: gpt-4o-mini-2024-07-18
    percent: 25
    effective_from: 2026-06-01
    effective_to: 2026-06-30
  - provider: aws.bedrock
    percent: 12.5
models:
  - provider: vllm
    model: llama-3.3-70b-internal
    input_mtok: 0.20
    output_mtok: 0.60
    effective_to: 2026-06-30
  - provider: vllm
    model: llama-3.3-70b-internal
    input_mtok: 0.15
    output_mtok: 0.45
    cache_read_mtok: 0.015
    effective_from: 2026-07-01
  - provider: openai
    model: gpt-4o
    input_mtok: 2
    output_mtok: 8
    effective_from: 2027-01-01
aliases:
  - name: prod-chat
    model: gpt-4o-mini
    provider: openai
  - name: house-llama
    model: llama-3.3-70b-internal
    provider: vllm
"""


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook.bundled(overrides=Overrides.parse(OVERRIDES, source="overrides.yaml"))


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)


def test_provider_discount_multiplies_every_cost_kind(book: PriceBook) -> None:
    event = call(
        "openai",
        "o4-mini",
        at=at("2026-03-01"),
        input_tokens=10_000,
        cache_read_tokens=4_000,
        output_tokens=2_000,
        reasoning_tokens=500,
    )
    book.price(event)

    assert event.cost_cache_read == Decimal("0.00099")  # 0.0011 * 0.9
    assert event.cost_input == Decimal("0.00693")
    assert event.cost_output == Decimal("0.00792")
    assert event.cost_reasoning == Decimal("0.00198")
    assert event.cost_total == Decimal("0.01485")
    list_price = oracle(
        "openai",
        "o4-mini",
        at=event.time,
        input_tokens=10_000,
        cache_read_tokens=4_000,
        output_tokens=2_000,
        reasoning_tokens=500,
    ).total_price
    assert event.cost_total == list_price * Decimal("0.9")


def test_discount_dates(book: PriceBook) -> None:
    before = call("openai", "gpt-4o", at=at("2025-12-31"), input_tokens=1_000_000)
    first_day = call("openai", "gpt-4o", at=datetime(2026, 1, 1, 0, 0, tzinfo=UTC), input_tokens=1_000_000)
    book.price(before)
    book.price(first_day)

    assert before.cost_total == Decimal("2.5")
    assert first_day.cost_total == Decimal("2.25")


def test_model_discount_beats_provider_discount_and_never_stacks(book: PriceBook) -> None:
    in_june = call("openai", "gpt-4o-mini", at=at("2026-06-30"), input_tokens=1_000_000)
    in_july = call("openai", "gpt-4o-mini", at=at("2026-07-01"), input_tokens=1_000_000)
    book.price(in_june)
    book.price(in_july)

    assert in_june.cost_total == Decimal("0.1125")  # 0.15 * 0.75, not * 0.75 * 0.9
    assert in_july.cost_total == Decimal("0.135")  # back to the provider discount


def test_discount_by_billing_provider(book: PriceBook) -> None:
    bedrock = call("aws.bedrock", "anthropic.claude-3-haiku-20240307-v1:0", input_tokens=1_000_000)
    direct = call("anthropic", "claude-3-haiku-20240307", input_tokens=1_000_000)
    book.price(bedrock)
    book.price(direct)

    assert bedrock.cost_total == Decimal("0.21875")  # 0.25 * 0.875
    assert direct.cost_total == Decimal("0.25")  # the Bedrock discount is not Anthropic's


def test_custom_model_with_dated_prices(book: PriceBook) -> None:
    june = call("vllm", "llama-3.3-70b-internal", at=at("2026-06-30"), input_tokens=1_000_000, output_tokens=1_000_000)
    july = call(
        "vllm",
        "llama-3.3-70b-internal",
        at=at("2026-07-01"),
        input_tokens=1_000_000,
        cache_read_tokens=400_000,
        output_tokens=1_000_000,
        reasoning_tokens=200_000,
    )
    book.price(june)
    book.price(july)

    assert june.status is UsageStatus.PRICED
    assert june.cost_total == Decimal("0.80")
    assert july.cost_cache_read == Decimal("0.006")  # 400k * 0.015
    assert july.cost_input == Decimal("0.096")  # 600k * 0.15 + the cache read
    assert july.cost_output == Decimal("0.45")
    assert july.cost_reasoning == Decimal("0.09")
    assert july.cost_total == Decimal("0.546")
    assert (
        book.explain(july).describe().startswith("vllm / llama-3.3-70b-internal → custom vllm/llama-3.3-70b-internal")
    )


def test_custom_model_applies_only_within_its_dates_then_the_data_price(book: PriceBook) -> None:
    before = call("openai", "gpt-4o", at=at("2026-12-31"), input_tokens=1_000_000)
    after = call("openai", "gpt-4o", at=at("2027-01-01"), input_tokens=1_000_000)
    book.price(before)
    book.price(after)

    assert before.cost_total == Decimal("2.25")  # data price, provider discount
    assert after.cost_total == Decimal(2)  # the custom price: final, no discount


def test_custom_model_of_another_provider_does_not_apply(book: PriceBook) -> None:
    event = call("openai", "llama-3.3-70b-internal", input_tokens=1_000)
    book.price(event)

    assert event.status is UsageStatus.UNPRICED


def test_aliases(book: PriceBook) -> None:
    to_data = call("azure.ai.openai", "prod-chat", at=at("2025-06-01"), input_tokens=1_000_000)
    to_custom = call("openai", "house-llama", at=at("2026-08-01"), input_tokens=1_000_000)
    book.price(to_data)
    book.price(to_custom)

    assert to_data.cost_total == Decimal("0.15")  # openai/gpt-4o-mini, before the discounts start
    assert to_custom.cost_total == Decimal("0.15")


def test_override_version_is_recorded_and_stable(book: PriceBook) -> None:
    event = call("openai", "gpt-4o", input_tokens=1)
    book.price(event)
    reformatted = "# same content, other layout\n" + OVERRIDES.replace("percent: 12.5", "percent: 12.50")

    assert event.override_version == book.override_version
    assert len(event.override_version or "") == 12
    assert Overrides.parse(reformatted).version == book.override_version
    assert Overrides.parse(OVERRIDES.replace("percent: 10", "percent: 11")).version != book.override_version


def test_no_overrides_no_override_version() -> None:
    event = call("openai", "gpt-4o", input_tokens=1)
    PriceBook.bundled().price(event)

    assert event.override_version is None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "bad_unknown_key.yaml",
            "bad_unknown_key.yaml:6: models[0].output_mtok: missing key 'output_mtok'\n"
            "{path}/bad_unknown_key.yaml:8: models[0].output_price: unknown key 'output_price'",
        ),
        ("bad_percent.yaml", "bad_percent.yaml:6: discounts[1].percent: Input should be less than or equal to 100"),
        ("bad_missing_price.yaml", "bad_missing_price.yaml:3: models[0].output_mtok: missing key 'output_mtok'"),
        ("bad_dates.yaml", "bad_dates.yaml:3: discounts[0]: effective_to must not be before effective_from"),
        (
            "bad_overlap.yaml",
            "bad_overlap.yaml:7: models[1]: overlaps models[0] (same provider and model on the same days)",
        ),
        ("bad_duplicate_key.yaml", "bad_duplicate_key.yaml:5: aliases[0].model: duplicate key 'model'"),
        (
            "bad_negative_price.yaml",
            "bad_negative_price.yaml:4: models[0].input_mtok: Input should be greater than or equal to 0",
        ),
        (
            "bad_yaml.yaml",
            "bad_yaml.yaml:5: invalid YAML: expected ',' or ']', but got '<stream end>' "
            "(while parsing a flow sequence from line 4)",
        ),
    ],
)
def test_bad_files_name_the_line(name: str, message: str) -> None:
    with pytest.raises(PricingFileError) as raised:
        Overrides.load(TESTDATA / name)

    assert str(raised.value) == f"{TESTDATA}/" + message.format(path=TESTDATA)
    assert all(problem.line > 0 for problem in raised.value.problems)


def test_alias_defined_twice() -> None:
    text = "aliases:\n  - {name: a, model: gpt-4o}\n  - {name: A, model: gpt-4o-mini}\n"
    with pytest.raises(
        PricingFileError, match=r"^x.yaml:3: aliases\[1\]: alias 'a' is already defined by aliases\[0\]$"
    ):
        Overrides.parse(text, source="x.yaml")


def test_discount_on_a_model_the_data_lacks_names_the_line() -> None:
    overrides = Overrides.parse(
        "discounts:\n  - provider: openai\n    model: gpt-99\n    percent: 5\n", source="o.yaml"
    )
    with pytest.raises(PricingFileError, match=r"^o.yaml:2: discount model 'openai/gpt-99' is not in the price data$"):
        PriceBook.bundled(overrides=overrides)


def test_discount_on_an_unknown_provider_names_the_line() -> None:
    overrides = Overrides.parse("discounts:\n  - provider: opnai\n    percent: 5\n", source="o.yaml")
    with pytest.raises(PricingFileError, match=r"^o.yaml:2: discount provider 'opnai' is not in the price data$"):
        PriceBook.bundled(overrides=overrides)


def test_unreadable_file() -> None:
    with pytest.raises(PricingFileError, match="cannot read the file"):
        Overrides.load(TESTDATA / "no-such-file.yaml")


def test_the_example_loads_and_prices() -> None:
    overrides = Overrides.load(EXAMPLE_FILE)
    book = PriceBook.bundled(overrides=overrides)
    event = call("openai", "support-bot", input_tokens=1_000_000, cache_read_tokens=500_000, output_tokens=100_000)
    book.price(event)

    assert event.cost_total == Decimal("2.85")  # 500k * 3 + 500k * 0.3 + 100k * 12


def test_empty_file_is_no_overrides() -> None:
    overrides = Overrides.parse("")

    assert overrides.discounts == () and not overrides.custom_models and not overrides.aliases


def test_schema_file_is_up_to_date() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema(), (
        "overrides.schema.json is stale: regenerate it with "
        "python -c 'import json; from otel_margin_backend.pricing.overrides import json_schema, SCHEMA_FILE; "
        'SCHEMA_FILE.write_text(json.dumps(json_schema(), indent=2) + "\\n")\''
    )
