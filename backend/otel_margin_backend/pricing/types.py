"""Shared typed values of the pricing stage: exact money, a cost breakdown, and the ``Pricer`` seam.

Money is ``Decimal`` and nothing else: a binary fraction cannot hold $0.0000025 exactly, and a
P&L that drifts by rounding cannot be reconciled with an invoice.

The cost breakdown mirrors the token semantics of ``UsageEvent`` so the two read the same way:
``input`` is the cost of *all* input tokens (cache reads and writes included), with ``cache_read``
and ``cache_write`` being its cached shares; ``output`` is the cost of *all* output tokens
(reasoning included), with ``reasoning`` being its reasoning share. The parts are therefore never
added together: ``total = input + output + request_fees``.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple, Protocol, TypeAlias, runtime_checkable

from otel_margin_backend.pipeline.events import UsageEvent

Money: TypeAlias = Decimal
"""An exact amount in ``CURRENCY``."""

UsdPerMtok: TypeAlias = Decimal
"""A token price in USD per million tokens, the unit genai-prices and the overrides file use."""

CURRENCY = "USD"
"""The currency of every price in genai-prices data and in the overrides file."""

ZERO = Decimal(0)


class Costs(NamedTuple):
    """The cost of one call, split the way ``UsageEvent``'s cost columns are.

    A named tuple rather than a dataclass: one is built per priced call, and tuples are the
    cheapest immutable record Python has.
    """

    input: Money
    """All input tokens, cache reads and writes included (genai-prices' ``input_price``)."""
    cache_read: Money
    """The share of ``input`` paid for tokens read from the prompt cache."""
    cache_write: Money
    """The share of ``input`` paid for tokens written to the prompt cache."""
    output: Money
    """All output tokens, reasoning included (genai-prices' ``output_price``)."""
    reasoning: Money
    """The share of ``output`` paid for reasoning tokens (their own price if the data has one)."""
    total: Money
    """What the call costs: ``input + output`` plus any per-request fee (genai-prices' ``total_price``)."""

    def scaled(self, factor: Decimal) -> Costs:
        """These costs multiplied by ``factor`` (a negotiated discount), every part alike.

        Args:
            factor: The multiplier, e.g. ``Decimal("0.85")`` for a 15 % discount.

        Returns:
            A new breakdown; the split between parts is preserved exactly.
        """
        return Costs(
            self.input * factor,
            self.cache_read * factor,
            self.cache_write * factor,
            self.output * factor,
            self.reasoning * factor,
            self.total * factor,
        )


class PriceSource(StrEnum):
    """Where the price of a resolved model comes from."""

    DATA = "data"
    """The genai-prices data snapshot (bundled, or a fetched ``data.json``)."""
    CUSTOM = "custom"
    """A custom model in the user's overrides file."""
    UNRESOLVED = "unresolved"
    """No price: the call stays unpriced (NULL cost), never $0."""


@runtime_checkable
class Pricer(Protocol):
    """What the pipeline calls for each usage event.

    ``price`` fills the event's cost columns, ``status``, ``currency``, ``price_version`` and
    ``override_version`` in place. It runs on the caller's thread, must not block, and must not
    raise for any event: a call it cannot price becomes ``UNPRICED`` with NULL costs.
    """

    def price(self, event: UsageEvent) -> None:
        """Price one event in place."""
        ...
