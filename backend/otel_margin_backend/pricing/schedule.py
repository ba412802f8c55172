"""A model's price schedule: which rate card applies to a call at a given time and request context.

genai-prices gives a model either one price set or a list of conditional ones (a dated price
change, DeepSeek's off-peak hours), plus request-context variants (service tier, batch). This
module answers "which price set, then?" exactly as ``ModelInfo.get_prices`` does, but turns dated
lists into a sorted list of boundaries searched by bisection, and compiles each distinct price set
once. On top come the user's custom prices and negotiated discounts.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, date, datetime, time
from decimal import Decimal

from genai_prices.types import ConditionalPrice, ModelInfo, ModelPrice, PriceVariant, StartDateConstraint

from otel_margin_backend.pricing.overrides import Discount, EffectiveDays
from otel_margin_backend.pricing.rates import RateCard, Usage5, compile_or_none
from otel_margin_backend.pricing.resolve import Resolution, Resolved
from otel_margin_backend.pricing.types import Costs

CustomCards = tuple[tuple[EffectiveDays, RateCard | None], ...]
"""A custom model's dated rate cards (None: a price set that cannot be used)."""

_UNCOMPILED = object()


class PriceSchedule:
    """Everything needed to price one resolved name: dated data prices, custom prices, discounts.

    Args:
        resolved: The resolution, with the genai-prices records it matched.
        custom: The custom model's dated rate cards, if the name resolved to one.
        discounts: Discounts that may apply, each flagged True if model-specific (which wins).
    """

    __slots__ = (
        "_bounds",
        "_by_context",
        "_conditional",
        "_custom",
        "_discounts",
        "_info",
        "_plain",
        "_segment_index",
        "_variants",
        "has_variants",
        "plain",
        "priceable",
        "resolution",
        "static",
    )

    def __init__(
        self, resolved: Resolved, custom: CustomCards | None, discounts: tuple[tuple[Discount, bool], ...]
    ) -> None:
        self.resolution: Resolution = resolved.resolution
        self._custom = custom
        self._discounts = discounts
        info, provider = resolved.data_model, resolved.data_provider
        self._info: ModelInfo | None = info
        self._conditional: tuple[ConditionalPrice, ...] = ()
        self._bounds: tuple[datetime, ...] | None = None
        self._segment_index: tuple[int, ...] = (0,)
        self._variants: tuple[PriceVariant, ...] = ()
        self._by_context: dict[tuple[int, tuple[int, ...]], RateCard | None] = {}
        self._plain: list[object] = []
        if info is not None and provider is not None:
            if isinstance(info.prices, ModelPrice):
                self._plain = [_UNCOMPILED]
            else:
                self._conditional = tuple(info.prices)
                self._plain = [_UNCOMPILED] * len(self._conditional)
                if all(c.constraint is None or isinstance(c.constraint, StartDateConstraint) for c in info.prices):
                    self._bounds, self._segment_index = _segments(self._conditional)
            # genai-prices ignores the request context for a model borrowed from a fallback provider.
            if any(info is m for m in provider.models):
                self._variants = tuple(info.price_variants or ())
        self.has_variants = bool(self._variants)
        """True if the span's request context (service tier, batch) can change the price."""
        self.priceable = info is not None or bool(custom)
        """False if nothing can price this name (it stays unpriced)."""
        untimed = info is not None and not self._conditional and not custom and not discounts
        self.plain: RateCard | None = self._plain_card(0) if untimed else None
        """The rate card of every call without a request context, when nothing depends on time or overrides."""
        self.static: RateCard | None = self.plain if not self._variants else None
        """The one rate card that prices every call, when nothing depends on time, context or overrides."""

    def costs(self, usage: Usage5, at: datetime, context: dict[str, str] | None) -> Costs | None:
        """The cost of a call.

        Args:
            usage: Token counts (input, cache read, cache write, output, reasoning).
            at: When the call started.
            context: genai-prices price context from the span, or None.

        Returns:
            The costs after any discount, or None if there is no price for the call.
        """
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        if self._custom:
            day = at.astimezone(UTC).date()
            for period, custom_card in self._custom:
                if period.covers(day):
                    return custom_card.costs(usage) if custom_card is not None else None
        card = self.card(at, context)
        if card is None:
            return None
        costs = card.costs(usage)
        if costs is None or not self._discounts:
            return costs
        factor = self._discount_factor(at.astimezone(UTC).date())
        return costs if factor is None else costs.scaled(factor)

    def card(self, at: datetime, context: dict[str, str] | None) -> RateCard | None:
        """The data rate card in force at ``at`` for ``context`` (custom prices and discounts aside).

        Args:
            at: When the call started (timezone-aware).
            context: genai-prices price context, or None.

        Returns:
            The rate card, or None without data prices.
        """
        if self._info is None:
            return None
        if self._bounds is not None:
            index = self._segment_index[bisect_right(self._bounds, at)]
        elif self._conditional:
            index = _scan(self._conditional, at)
        else:
            index = 0
        if not context or not self._variants:
            return self._plain_card(index)
        mask = tuple(
            i
            for i, variant in enumerate(self._variants)
            if (variant.constraint is None or variant.constraint.active(at))
            and all(context.get(k) == v for k, v in variant.when.items())
        )
        if not mask:
            return self._plain_card(index)
        key = (index, mask)
        if key not in self._by_context:
            self._by_context[key] = compile_or_none(self._info.get_prices(at, context))
        return self._by_context[key]

    def _plain_card(self, index: int) -> RateCard | None:
        card = self._plain[index]
        if card is _UNCOMPILED:
            assert self._info is not None
            prices = self._info.prices
            card = compile_or_none(prices if isinstance(prices, ModelPrice) else prices[index].prices)
            self._plain[index] = card
        return card if isinstance(card, RateCard) else None

    def _discount_factor(self, day: date) -> Decimal | None:
        provider_factor = None
        for discount, model_specific in self._discounts:
            if discount.period.covers(day):
                if model_specific:
                    return discount.factor
                provider_factor = discount.factor
        return provider_factor


def _scan(conditional: tuple[ConditionalPrice, ...], at: datetime) -> int:
    """genai-prices' rule: the last active conditional price, else the first."""
    for i in range(len(conditional) - 1, -1, -1):
        constraint = conditional[i].constraint
        if constraint is None or constraint.active(at):
            return i
    return 0


def _segments(conditional: tuple[ConditionalPrice, ...]) -> tuple[tuple[datetime, ...], tuple[int, ...]]:
    """Dated prices as UTC-midnight boundaries and the price index in force between each pair.

    A ``StartDateConstraint`` is active from the UTC midnight starting its date, so the active index
    only changes at those instants; ``_scan`` evaluated once per interval gives the whole schedule.
    """
    days = sorted({c.constraint.start_date for c in conditional if isinstance(c.constraint, StartDateConstraint)})
    bounds = tuple(datetime.combine(day, time(0), UTC) for day in days)
    samples = [datetime(1, 1, 1, tzinfo=UTC), *bounds]
    return bounds, tuple(_scan(conditional, sample) for sample in samples)
