"""Loading genai-prices data: the bundled snapshot, a data.json the sync job fetched, and bad files."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import genai_prices
import pytest

from otel_margin_backend.pipeline.events import UsageStatus
from otel_margin_backend.pricing import PriceBook, PriceData
from otel_margin_backend.pricing.errors import PriceDataError
from tests.backend.pricing.oracle import call

SMALL = Path(__file__).with_name("testdata") / "data_small.json"


def test_bundled_version_names_the_package() -> None:
    assert PriceData.bundled().version == f"genai-prices {genai_prices.__version__}"


def test_a_data_file_is_versioned_by_its_content() -> None:
    data = PriceData.from_json_file(SMALL)

    assert data.version == "genai-prices data sha256:3ed4bbc4d630"
    assert PriceData.from_json_bytes(SMALL.read_bytes()).version == data.version
    assert PriceData.from_json_file(SMALL, version="prices 2026-11-23").version == "prices 2026-11-23"


def test_a_book_from_a_data_file_prices_at_the_time_of_the_call() -> None:
    book = PriceBook(PriceData.from_json_file(SMALL))
    august = call(
        "acme",
        "acme-large-2026",
        at=datetime(2026, 8, 31, 23, 0, tzinfo=UTC),
        input_tokens=1_000_000,
        cache_read_tokens=500_000,
        output_tokens=1_000_000,
    )
    september = call(
        "acme", "acme-large", at=datetime(2026, 9, 1, 1, 0, tzinfo=UTC), input_tokens=1_000_000, output_tokens=1_000_000
    )
    book.price(august)
    book.price(september)

    assert august.cost_total == Decimal("18.2")  # 500k * 4 + 500k * 0.4 + 1M * 16
    assert september.cost_total == Decimal("15")
    assert september.price_version == "genai-prices data sha256:3ed4bbc4d630"


def test_new_data_keeps_overrides_and_options() -> None:
    old = PriceBook(PriceData.bundled(), azure_deployments={"d1": "gpt-4o"})
    new = old.with_data(PriceData.from_json_file(SMALL))
    event = call("openai", "gpt-4o", input_tokens=1)
    new.price(event)

    assert event.status is UsageStatus.UNPRICED  # the new data has no OpenAI
    assert new.version != old.version
    assert new.resolve("acme", "acme-small").model_id == "acme-small"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "x.json: price data is not JSON"),
        (b"{}", "x.json: price data must be a non-empty JSON list of providers"),
        (b"[]", "x.json: price data must be a non-empty JSON list of providers"),
        (b'[{"id": "p"}]', "x.json: price data does not validate"),
    ],
)
def test_bad_data_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(PriceDataError, match=f"^{message}"):
        PriceData.from_json_bytes(raw, source="x.json")


def test_missing_file() -> None:
    with pytest.raises(PriceDataError, match="cannot read price data"):
        PriceData.from_json_file(SMALL.with_name("missing.json"))
