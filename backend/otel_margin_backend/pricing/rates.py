"""Rate cards: one genai-prices price set compiled into the few exact multiplications a call needs.

genai-prices prices usage by decomposing it into *leaf* units (``decompose.compute_leaf_values``):
a priced unit pays only for the tokens no more specific priced unit claims. With cache reads
priced, plain input pays for ``input - cache_read - cache_write``; with reasoning priced on its
own (rare), plain output pays for ``output - reasoning``; otherwise reasoning tokens are ordinary
output tokens. That decomposition is linear in the usage, so it is worked out once per price set
here, as integer coefficients over the five counts a ``UsageEvent`` carries, instead of once per
call. Each unit then costs ``price * count / per``, computed with exactly the operations
genai-prices uses, so totals agree with ``calc_price`` digit for digit (trailing zeros included).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from genai_prices.data_units import unit_data
from genai_prices.types import ModelPrice, TieredPrices
from genai_prices.units import UnitDef, UnitRegistry
from genai_prices.validation import validate_priced_units

from otel_margin_backend.pricing.types import ZERO, Costs

log = logging.getLogger(__name__)

REGISTRY = UnitRegistry(unit_data)
"""genai-prices' unit registry (usage keys, price keys, dimensions), built from its generated data."""

USAGE_KEYS: tuple[str, ...] = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "output_reasoning_tokens",
)
"""The genai-prices usage keys a ``UsageEvent`` fills, in the order of a usage vector.

``UsageEvent.reasoning_tokens`` is genai-prices' ``output_reasoning_tokens``; every other usage key
(audio, images, web searches …) is zero for a span-derived call.
"""

Usage5 = tuple[int, int, int, int, int]
"""(input, cache_read, cache_write, output, reasoning) token counts, in ``USAGE_KEYS`` order."""

_OUTPUT_INDEX = USAGE_KEYS.index("output_tokens")
_REASONING_INDEX = USAGE_KEYS.index("output_reasoning_tokens")


class UnpriceableError(ValueError):
    """A price set genai-prices itself would refuse (a unit priced without its parent unit)."""


# Which cost column a priced unit feeds, beside the total.
_OTHER, _INPUT, _CACHE_READ, _CACHE_WRITE, _OUTPUT, _REASONING = range(6)


@dataclass(frozen=True, slots=True)
class _Term:
    """One priced unit of a rate card."""

    price_key: str
    base: Decimal
    tiers: tuple[tuple[int, Decimal], ...]
    """(start, price) pairs, highest start first; empty when the price is flat."""
    per: Decimal
    coefficients: Usage5
    """The unit's leaf count as a linear combination of the usage vector."""
    constant_count: int
    """Count of a unit the usage vector cannot fill: 1 for ``requests``, else 0."""
    column: int
    """Which cost column the unit feeds (``_INPUT`` … ``_REASONING``, or ``_OTHER`` for the total only)."""

    def price_at(self, total_input_tokens: int) -> Decimal:
        """The price that applies: the highest tier whose start the input exceeds, else the base."""
        for start, price in self.tiers:
            if total_input_tokens > start:
                return price
        return self.base

    def cost(self, count: int, total_input_tokens: int) -> Decimal:
        """``price * count / per``, the very operations genai-prices' ``calc_unit_price`` performs."""
        return self.price_at(total_input_tokens) * count / self.per


_Variable = tuple[int, tuple[tuple[int, int], ...], int, Decimal, tuple[tuple[int, Decimal], ...], Decimal, int]
"""A term whose count depends on the usage, flattened for the hot loop: (single usage index or -1,
nonzero (index, coefficient) pairs, constant count, base price, tiers, per, column)."""


class RateCard:
    """The prices of one model at one moment and request context, ready to multiply.

    Built once per distinct price set (a model's dated price, with any service-tier variant
    applied) and cached, so pricing a call is a little integer arithmetic plus one Decimal
    multiplication and division per priced token kind. Units whose count cannot vary (web
    searches and the like, always 0 for a span; per-request fees, always 1) are summed once here:
    the sums are exact, so their order does not change a digit.

    Args:
        terms: The priced units, in genai-prices' order.
        ignored_price_keys: Price keys genai-prices does not know (and ignores).
    """

    __slots__ = ("_constant", "_reasoning_priced", "_reasoning_share", "_variable", "ignored_price_keys", "terms")

    def __init__(self, terms: tuple[_Term, ...], ignored_price_keys: tuple[str, ...] = ()) -> None:
        self.terms = terms
        self.ignored_price_keys = ignored_price_keys
        constant = [ZERO] * 7  # per column, plus the total at index 6
        variable: list[_Variable] = []
        for term in terms:
            pairs = tuple((i, c) for i, c in enumerate(term.coefficients) if c)
            if not pairs and not term.tiers:
                cost = term.cost(term.constant_count, 0)
                constant[6] += cost
                constant[term.column] += cost
                continue
            single = pairs[0][0] if len(pairs) == 1 and pairs[0][1] == 1 else -1
            variable.append((single, pairs, term.constant_count, term.base, term.tiers, term.per, term.column))
        self._constant = tuple(constant)
        self._variable = tuple(variable)
        self._reasoning_priced = any(t.column == _REASONING for t in terms)
        output = next((t for t in terms if t.price_key == "output_mtok"), None)
        self._reasoning_share = (
            (output.base, output.tiers, output.per) if output is not None and not self._reasoning_priced else None
        )
        """The plain output price, which prices the reasoning share when reasoning has no price of its own."""

    @property
    def uses_tiers(self) -> bool:
        """True if any price is tiered by input tokens (long-context pricing)."""
        return any(t.tiers for t in self.terms)

    @property
    def has_reasoning_price(self) -> bool:
        """True if the data prices reasoning tokens on their own (``output_reasoning_mtok``)."""
        return self._reasoning_priced

    def costs(self, usage: Usage5) -> Costs | None:
        """The exact cost of ``usage`` at these rates.

        Args:
            usage: Token counts in ``USAGE_KEYS`` order, with OTel semantics (input includes cache
                tokens, output includes reasoning tokens).

        Returns:
            The cost breakdown, or None when the counts contradict each other for this price set
            (e.g. more cache-read than input tokens while cache reads are priced), which
            genai-prices rejects too.
        """
        parts = list(self._constant)
        total_input = usage[0]
        for single, pairs, count, price, tiers, per, column in self._variable:
            if single >= 0:
                count = usage[single]
            else:
                for index, coefficient in pairs:
                    count += coefficient * usage[index]
                if count < 0:
                    return None
            if tiers:
                for start, tier_price in tiers:
                    if total_input > start:
                        price = tier_price
                        break
            cost = price * count / per
            parts[6] += cost
            parts[column] += cost
        cache_read, cache_write, reasoning = parts[_CACHE_READ], parts[_CACHE_WRITE], parts[_REASONING]
        output = parts[_OUTPUT] + reasoning
        if self._reasoning_share and usage[_REASONING_INDEX]:
            price, tiers, per = self._reasoning_share
            for start, tier_price in tiers:
                if total_input > start:
                    price = tier_price
                    break
            reasoning = price * min(usage[_REASONING_INDEX], usage[_OUTPUT_INDEX]) / per
        # tuple.__new__ skips the named tuple's Python-level constructor: this runs once per call.
        input_cost = parts[_INPUT] + cache_read + cache_write
        return _new_costs(Costs, (input_cost, cache_read, cache_write, output, reasoning, parts[6]))


_new_costs = tuple.__new__


def compile_rates(model_price: ModelPrice) -> RateCard:
    """Compile a genai-prices price set into a rate card.

    Args:
        model_price: One resolved price set (``ModelInfo.get_prices(...)``), or a custom model's.

    Returns:
        The rate card.

    Raises:
        UnpriceableError: the price set prices a unit without its parent (genai-prices'
            ``validate_priced_units`` rule), so genai-prices could not price it either.
    """
    priced: list[tuple[UnitDef, Decimal | TieredPrices]] = []
    ignored: list[str] = []
    for key, value in model_price.__dict__.items():
        if key.startswith("_") or value is None:
            continue
        try:
            priced.append((REGISTRY.unit_for_price_key(key), value))
        except KeyError:
            ignored.append(key)
    if ignored:
        log.warning("price keys unknown to this genai-prices version are ignored: %s", ", ".join(sorted(ignored)))
    try:
        validate_priced_units(tuple(unit for unit, _ in priced), REGISTRY)
    except ValueError as exc:
        raise UnpriceableError(str(exc)) from exc

    coefficients = _leaf_coefficients([unit for unit, _ in priced if unit.usage_key != "requests"])
    return RateCard(tuple(_term(unit, value, coefficients) for unit, value in priced), tuple(sorted(ignored)))


def _term(unit: UnitDef, value: Decimal | TieredPrices, coefficients: dict[str, Usage5]) -> _Term:
    if isinstance(value, TieredPrices):
        ascending = sorted(value.tiers, key=lambda tier: tier.start)
        base, tiers = value.base, tuple((tier.start, tier.price) for tier in reversed(ascending))
    else:
        base, tiers = value, ()
    return _Term(
        price_key=unit.price_key,
        base=base,
        tiers=tiers,
        per=Decimal(unit.per),
        coefficients=coefficients.get(unit.usage_key, (0, 0, 0, 0, 0)),
        constant_count=1 if unit.usage_key == "requests" else 0,
        column=_column(unit),
    )


def _column(unit: UnitDef) -> int:
    direction, token_type = unit.dimensions.get("direction"), unit.dimensions.get("token_type")
    if direction == "input":
        return {"cache_read": _CACHE_READ, "cache_write": _CACHE_WRITE}.get(token_type or "", _INPUT)
    if direction == "output":
        return _REASONING if token_type == "reasoning" else _OUTPUT
    return _OTHER


def _leaf_coefficients(units: list[UnitDef]) -> dict[str, Usage5]:
    """Each priced unit's leaf count as integer coefficients over the usage vector.

    Mirrors ``genai_prices.decompose.compute_leaf_values``: most specific units first, and a unit's
    leaf is its own usage minus the leaves of the priced units below it.
    """
    ordered = sorted(units, key=lambda unit: (-len(unit.dimensions), unit.usage_key))
    leaves: dict[str, list[int]] = {}
    for unit in ordered:
        vector = [1 if key == unit.usage_key else 0 for key in USAGE_KEYS]
        for other in ordered:
            if other is not unit and unit.dimensions.items() <= other.dimensions.items():
                vector = [a - b for a, b in zip(vector, leaves[other.usage_key], strict=True)]
        leaves[unit.usage_key] = vector
    return {key: (v[0], v[1], v[2], v[3], v[4]) for key, v in leaves.items()}


def compile_or_none(prices: ModelPrice) -> RateCard | None:
    """``compile_rates``, logging and returning None for a price set genai-prices would refuse.

    Args:
        prices: The price set.

    Returns:
        The rate card, or None (calls priced by it stay unpriced).
    """
    try:
        return compile_rates(prices)
    except UnpriceableError as exc:
        log.warning("a price set cannot be used and its calls stay unpriced: %s", exc)
        return None
