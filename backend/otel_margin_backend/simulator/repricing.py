"""Exact re-pricing of many calls at once: the price book's cost, read off as an affine function.

For one model at one moment (and no request context), ``PriceBook.cost`` charges each priced unit
``price * leaf count / per``, where every leaf count is a fixed integer combination of the call's token vector
(``pricing/rates.py``), plus per-request fees. The only thing that varies between calls is the long-context
tier, chosen by ``input_tokens > start``. So within one tier interval a call costs exactly

    f(v) = f(T·e_input) + g · (v - T·e_input)

for any base input ``T`` in the interval, where ``g`` holds the marginal price of one more token of each kind.
Summed over ``n`` calls with summed vector ``S``: ``n·f(T·e_input) + g · (S - n·T·e_input)``.

``LinearPrice`` learns ``f(T·e_input)`` and ``g`` by asking the price book itself (a handful of ``cost`` calls
per model and interval, cached), then checks the fit at the far end of the interval: a price book that is not
affine there (a tier threshold the simulator did not know) raises ``NotAffine`` instead of giving a wrong
figure. Arithmetic runs in a decimal context that traps inexact results, so a total is the exact sum of the
per-call costs, or an error: never a rounded figure.
"""

from __future__ import annotations

import decimal
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from genai_prices.types import ModelPrice, TieredPrices

from otel_margin_backend.pipeline.errors import OtelMarginError
from otel_margin_backend.pricing import PriceBook
from otel_margin_backend.simulator.shapes import TierSlice

_FAR = 10_000_000
"""How far above the base the fit is checked in the open-ended top interval (tokens)."""

_EXACT = decimal.Context(prec=200, traps=[decimal.Inexact, decimal.InvalidOperation, decimal.Overflow])
"""Wide enough for any realistic sum; any rounding would raise instead."""


class NotAffine(OtelMarginError):
    """The price book's cost is not affine within a tier interval: the simulator cannot sum it exactly."""


def tier_starts(book: PriceBook) -> tuple[int, ...]:
    """Every long-context threshold in the book's data, ascending.

    Intervals between consecutive thresholds are where every model's cost is affine in the token vector;
    a superset of the thresholds that matter is harmless (intervals are just finer).

    Args:
        book: The price book.

    Returns:
        The distinct tier start values (input tokens).
    """
    starts: set[int] = set()
    for provider in book.providers:
        for model in provider.models:
            prices = model.prices
            price_sets = [prices] if isinstance(prices, ModelPrice) else [c.prices for c in prices]
            price_sets += [v.prices for v in model.price_variants or ()]
            for price_set in price_sets:
                for value in price_set.__dict__.values():
                    if isinstance(value, TieredPrices):
                        starts.update(tier.start for tier in value.tiers)
    return tuple(sorted(starts))


def interval_of(input_tokens: int, starts: tuple[int, ...]) -> int:
    """The tier interval of a call: how many thresholds its input exceeds (SQL: ``width_bucket(input - 1, starts)``).

    Args:
        input_tokens: The call's input tokens.
        starts: Ascending thresholds.

    Returns:
        The interval number.
    """
    return bisect_left(starts, input_tokens)


def interval(index: int, starts: tuple[int, ...]) -> tuple[int, int | None]:
    """The input range of tier interval ``index``: (lowest input, highest input or None if unbounded).

    Args:
        index: The interval number (as ``width_bucket(input - 1, starts)`` gives it).
        starts: Ascending thresholds.

    Returns:
        Inclusive bounds.
    """
    low = starts[index - 1] + 1 if index > 0 else 0
    high = starts[index] if index < len(starts) else None
    return low, high


@dataclass(frozen=True, slots=True)
class LinearPrice:
    """One model's cost within one tier interval, as ``base + g · (v - T·e_input)``."""

    base_input: int
    """``T``: the input tokens of the base point."""
    base_cost: Decimal
    """``f(T·e_input)``: the cost of a call with ``T`` input tokens and nothing else."""
    per_token: tuple[Decimal | None, Decimal | None, Decimal | None, Decimal, Decimal]
    """Marginal cost of one more input, cache-read, cache-write, output and reasoning token. The input and cache
    entries are None when the interval holds a single input value (0 input tokens, or a one-token interval)."""

    def total(self, part: TierSlice) -> Decimal:
        """The exact cost of the calls in ``part`` (which must lie in this interval).

        Args:
            part: The calls' count and summed token vector.

        Returns:
            The sum of their costs, as the price book would price them one by one.

        Raises:
            NotAffine: the slice needs a marginal price this interval cannot have (an internal inconsistency).
        """
        s_in, s_cr, s_cw, s_out, s_rs = part.tokens
        deltas = (s_in - part.events * self.base_input, s_cr, s_cw, s_out, s_rs)
        total = _EXACT.multiply(self.base_cost, part.events)
        for delta, price in zip(deltas, self.per_token, strict=True):
            if not delta:
                continue
            if price is None:
                raise NotAffine("a tier slice holds tokens its interval cannot price")
            total = _EXACT.add(total, _EXACT.multiply(price, delta))
        return total


class ShapePricer:
    """Exact costs of summed calls at one moment's prices, learning each model's affine form once.

    Args:
        book: The price book.
        at: The moment whose prices apply (the run's "now").
        starts: The book's tier thresholds (``tier_starts(book)``).
    """

    def __init__(self, book: PriceBook, at: datetime, starts: tuple[int, ...]) -> None:
        self.book = book
        self.at = at
        self.starts = starts
        self._cache: dict[tuple[str, str, int], LinearPrice | None] = {}

    def cost(self, provider: str, model: str, slices: tuple[TierSlice, ...]) -> Decimal | None:
        """What the calls of ``slices`` cost on ``provider``/``model`` at this moment's prices.

        Args:
            provider: The provider, as a span would name it.
            model: The model, as a span would name it.
            slices: The calls, by tier interval.

        Returns:
            The exact total (trailing zeros dropped), or None if the model has no price at this moment.

        Raises:
            NotAffine: the price book is not affine where it must be (never silently approximated).
        """
        total = Decimal(0)
        for part in slices:
            linear = self.linear(provider, model, part.index)
            if linear is None:
                return None
            total = _EXACT.add(total, linear.total(part))
        return tidy(total)

    def linear(self, provider: str, model: str, index: int) -> LinearPrice | None:
        """The affine form of a model's cost in one tier interval (probed once, then cached).

        Args:
            provider: The provider, as a span would name it.
            model: The model, as a span would name it.
            index: The tier interval.

        Returns:
            The form, or None when the model has no price at this moment.

        Raises:
            NotAffine: the price book disagrees with the fitted form at the interval's far end.
        """
        key = (provider, model, index)
        if key not in self._cache:
            self._cache[key] = self._probe(provider, model, index)
        return self._cache[key]

    def _total(self, provider: str, model: str, usage: tuple[int, int, int, int, int]) -> Decimal | None:
        costs = self.book.cost(
            provider,
            model,
            at=self.at,
            input_tokens=usage[0],
            cache_read_tokens=usage[1],
            cache_write_tokens=usage[2],
            output_tokens=usage[3],
            reasoning_tokens=usage[4],
        )
        return None if costs is None else costs.total

    def _probe(self, provider: str, model: str, index: int) -> LinearPrice | None:
        low, high = interval(index, self.starts)
        base_input = 1 if low == 0 and (high is None or high >= 1) else low
        probes: dict[str, tuple[int, int, int, int, int]] = {
            "base": (base_input, 0, 0, 0, 0),
            "output": (base_input, 0, 0, 1, 0),
            "reasoning": (base_input, 0, 0, 1, 1),
        }
        other = base_input + 1 if high is None or base_input + 1 <= high else base_input - 1
        if other >= low:
            probes["input"] = (other, 0, 0, 0, 0)
        if base_input >= 1:
            probes["cache_read"] = (base_input, 1, 0, 0, 0)
            probes["cache_write"] = (base_input, 0, 1, 0, 0)
        values: dict[str, Decimal] = {}
        for name, usage in probes.items():
            value = self._total(provider, model, usage)
            if value is None:
                return None
            values[name] = value
        base = values["base"]
        g_in = _diff(values, "input", base)
        if g_in is not None and other < base_input:
            g_in = -g_in
        linear = LinearPrice(
            base_input=base_input,
            base_cost=base,
            per_token=(
                g_in,
                _diff(values, "cache_read", base),
                _diff(values, "cache_write", base),
                _EXACT.subtract(values["output"], base),
                _EXACT.subtract(values["reasoning"], values["output"]),
            ),
        )
        self._check(provider, model, linear, low, high)
        return linear

    def _check(self, provider: str, model: str, linear: LinearPrice, low: int, high: int | None) -> None:
        """Compare the fitted form with the price book at the interval's far end, with every token kind."""
        far = high if high is not None else linear.base_input + _FAR
        cached = 1 if far >= 1 and linear.per_token[1] is not None else 0
        written = 1 if far >= cached + 1 and linear.per_token[2] is not None else 0
        usage = (far, cached, written, 3, 1)
        actual = self._total(provider, model, usage)
        predicted = linear.total(TierSlice(-1, 1, usage)) if actual is not None else None
        if actual is None or predicted != actual:
            where = f"{low}..{high if high is not None else 'any'} input tokens"
            raise NotAffine(
                f"the price of {provider}/{model} is not affine over {where} at {self.at.isoformat()} "
                f"(book says {actual}, fitted form says {predicted}); the simulator cannot sum it exactly"
            )


def tidy(amount: Decimal) -> Decimal:
    """The same amount without trailing fractional zeros (``6.160000`` -> ``6.16``, ``100.0`` -> ``100``).

    Args:
        amount: An exact amount.

    Returns:
        An equal amount, written the short way.
    """
    short = amount.normalize(_EXACT)
    exponent = short.as_tuple().exponent
    return short.quantize(Decimal(1), context=_EXACT) if isinstance(exponent, int) and exponent > 0 else short


def _diff(values: Mapping[str, Decimal], name: str, base: Decimal) -> Decimal | None:
    value = values.get(name)
    return None if value is None else _EXACT.subtract(value, base)
