"""Pricing: turn each model call's tokens into exact cost, at the price in force when it started.

Prices come from genai-prices data (bundled, or a fetched ``data.json``) plus the user's overrides
file; see ``README.md`` in this folder. The pipeline holds a ``Pricer`` made by ``create``. This is the pure
engine: price data's life in the database (versions, sync, reprice) is ``pricedata``.
"""

from __future__ import annotations

from otel_margin_backend.pricing.book import PriceBook
from otel_margin_backend.pricing.config import PricingConfig
from otel_margin_backend.pricing.data import PriceData
from otel_margin_backend.pricing.overrides import Overrides
from otel_margin_backend.pricing.pricer import CurrentPriceBook, NullPricer
from otel_margin_backend.pricing.resolve import Resolution
from otel_margin_backend.pricing.types import Costs, Pricer, PriceSource

__all__ = [
    "Costs",
    "CurrentPriceBook",
    "NullPricer",
    "PriceBook",
    "PriceData",
    "PriceSource",
    "Pricer",
    "PricingConfig",
    "Resolution",
    "build_book",
    "create",
]


def build_book(config: PricingConfig) -> PriceBook:
    """Build the price book a config describes (data file or bundled data, plus overrides).

    Args:
        config: The pricing config.

    Returns:
        The book.

    Raises:
        PriceDataError: the data file is unreadable or invalid.
        PricingFileError: the overrides file is invalid (the message names each bad line).
    """
    overrides = Overrides.load(config.overrides_file) if config.overrides_file else None
    data = PriceData.from_json_file(config.data_file) if config.data_file else PriceData.bundled()
    return PriceBook(
        data,
        overrides=overrides,
        azure_deployments=config.azure_deployments,
        context_attributes=config.context_attributes,
        cache_size=config.cache_size,
    )


def create(config: PricingConfig) -> Pricer:
    """The pricer the pipeline calls: the live price book, or ``NullPricer`` when pricing is off.

    Args:
        config: The pricing config; validated once, here, at startup.

    Returns:
        A ``CurrentPriceBook`` (swap in new books as data updates) or a ``NullPricer``.

    Raises:
        PriceDataError: the data file is unreadable or invalid.
        PricingFileError: the overrides file is invalid.
    """
    if not config.enabled:
        return NullPricer()
    return CurrentPriceBook(build_book(config))
