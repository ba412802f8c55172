"""A price book's prices as effective ranges: what ``model_prices`` holds and ``otel-margin prices show`` prints.

genai-prices states prices as rules: a list of dated (or time-of-day) price sets scanned last to first,
request-context variants layered on top, long-context tiers inside a price. This module flattens those
rules into rows of (kind, condition, amount, [valid_from, valid_to)), evaluating the rules exactly as the
price book does (``schedule.py``), so the table shows what calls are charged:

- The standard price of each kind over time: one range per stretch between two start dates, equal
  neighbours merged. genai-prices' rule that the first entry applies before any entry is active makes the
  earliest range open at its start (``valid_from`` None).
- Time-of-day prices (DeepSeek off-peak) are rows with a condition ``UTC 00:30-16:30``.
- Long-context tiers are rows with a condition ``input_tokens>200000``.
- Price variants are rows with a condition ``service_tier=flex`` or ``processing=batch``: they replace the
  standard price of that kind while they apply.
- The overrides file's discounts split ranges at their first and last day and lower ``amount``;
  ``list_amount`` keeps the data's price. Custom models are rows of their own (source ``custom``).

Discounts are shown on the models of the provider they name. A discount on a provider that borrows another
provider's data (Azure pricing OpenAI models) is applied to calls but not shown here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from genai_prices.types import (
    ConditionalPrice,
    ModelInfo,
    ModelPrice,
    PriceVariant,
    StartDateConstraint,
    TieredPrices,
    TimeOfDateConstraint,
)

from otel_margin_backend.pricing import names
from otel_margin_backend.pricing.book import PriceBook
from otel_margin_backend.pricing.overrides import EffectiveDays, Overrides, provider_lookup_key
from otel_margin_backend.pricing.types import CURRENCY, PriceSource

_EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
_KIND_ORDER = {"input_mtok": 0, "cache_read_mtok": 1, "cache_write_mtok": 2, "output_mtok": 3}


@dataclass(frozen=True, slots=True)
class PriceRange:
    """One price of one model, in force over one range of time under one condition."""

    source: PriceSource
    """``DATA`` (genai-prices) or ``CUSTOM`` (a custom model from the overrides file)."""
    provider: str
    """The provider holding the price: a genai-prices id, or a custom model's provider (``""``: any)."""
    model: str
    """The genai-prices model id, or the custom model's name (lookup form)."""
    model_name: str | None
    """Display name from the data."""
    kind: str
    """The price key, unit included: ``input_mtok`` is USD per million input tokens."""
    condition: str
    """``""`` for the standard price, else when this price applies instead (see the module docstring)."""
    amount: Decimal
    """What a call is charged per unit, after any discount."""
    list_amount: Decimal | None
    """The data's price before the discount (None for custom models)."""
    discount_percent: Decimal | None
    """The overrides file's discount applied, or None."""
    valid_from: datetime | None
    """Start of the range (inclusive), or None: since the start of the data."""
    valid_to: datetime | None
    """End of the range (exclusive), or None: still in force."""
    currency: str = CURRENCY

    def sort_key(self) -> tuple[object, ...]:
        """Order for display: kind (input, cache, output, others), condition, then time."""
        return (
            self.source != PriceSource.CUSTOM,
            self.provider,
            self.model,
            _KIND_ORDER.get(self.kind, len(_KIND_ORDER)),
            self.kind,
            self.condition,
            self.valid_from or _EARLIEST,
        )


@dataclass(frozen=True, slots=True)
class _Discount:
    start: datetime | None
    end: datetime | None
    factor: Decimal
    model_specific: bool

    def covers(self, at: datetime) -> bool:
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)


def book_ranges(book: PriceBook) -> list[PriceRange]:
    """Every price of a book: all data models of every provider, then the overrides' custom models.

    Args:
        book: The book.

    Returns:
        The ranges, sorted for display.
    """
    discounts = _discounts(book)
    out: list[PriceRange] = []
    for provider in book.providers:
        for info in provider.models:
            out += _model_ranges(provider.id, info, discounts.get((provider.id, info.id), ()))
    out += custom_ranges(book.overrides)
    out.sort(key=PriceRange.sort_key)
    return out


def model_ranges(book: PriceBook, provider: str | None, model: str) -> list[PriceRange]:
    """The prices that apply to a (provider, model) pair as a span names it.

    A custom model's rows come first; the data model the name matches follows (a custom model with dates
    falls back to it outside them).

    Args:
        book: The book.
        provider: The provider as a span names it (None: any).
        model: The model as a span names it.

    Returns:
        The ranges, sorted for display; empty when the name does not resolve.
    """
    resolution = book.resolve(provider, model)
    out: list[PriceRange] = []
    if resolution.source is PriceSource.CUSTOM:
        wanted = names.model_key(resolution.model_id)
        out += [
            r for r in custom_ranges(book.overrides) if r.model == wanted and r.provider in ("", resolution.provider_id)
        ]
    if resolution.source is PriceSource.CUSTOM:
        # Outside its dates a custom model falls back to the data price of the same name, if there is one.
        resolution = book.with_overrides(None).resolve(provider, model)
    if resolution.source is PriceSource.DATA and resolution.data_provider_id and resolution.model_id:
        holder = resolution.data_provider_id
        data_provider = next((p for p in book.providers if p.id == holder), None)
        info = next((m for m in data_provider.models if m.id == resolution.model_id), None) if data_provider else None
        if info is not None:
            out += _model_ranges(holder, info, _discounts(book).get((holder, info.id), ()))
    out.sort(key=PriceRange.sort_key)
    return out


def custom_ranges(overrides: Overrides | None) -> list[PriceRange]:
    """The custom models of an overrides file as price ranges.

    Args:
        overrides: The overrides, or None.

    Returns:
        One row per custom model entry and price kind.
    """
    out: list[PriceRange] = []
    for entry in overrides.config.models if overrides else ():
        start, end = _period_bounds(entry)
        provider = provider_lookup_key(entry.provider) if entry.provider else ""
        for kind, amount in entry.model_price().__dict__.items():
            if kind.startswith("_") or amount is None or isinstance(amount, TieredPrices):
                continue
            out.append(
                PriceRange(
                    source=PriceSource.CUSTOM,
                    provider=provider,
                    model=names.model_key(entry.model),
                    model_name=entry.model,
                    kind=kind,
                    condition="",
                    amount=amount,
                    list_amount=None,
                    discount_percent=None,
                    valid_from=start,
                    valid_to=end,
                )
            )
    return out


def _model_ranges(provider_id: str, info: ModelInfo, discounts: Sequence[_Discount]) -> list[PriceRange]:
    by_key: dict[tuple[str, str], list[tuple[datetime | None, datetime | None, Decimal]]] = {}
    for kind, condition, start, end, amount in _standard(info) + _variants(info):
        by_key.setdefault((kind, condition), []).append((start, end, amount))
    out: list[PriceRange] = []
    for (kind, condition), pieces in by_key.items():
        for start, end, amount in _merge(pieces):
            for lo, hi, discount in _split(start, end, discounts):
                factor = discount.factor if discount is not None else None
                out.append(
                    PriceRange(
                        source=PriceSource.DATA,
                        provider=provider_id,
                        model=info.id,
                        model_name=info.name,
                        kind=kind,
                        condition=condition,
                        amount=amount * factor if factor is not None else amount,
                        list_amount=amount,
                        discount_percent=(Decimal(1) - factor) * 100 if factor is not None else None,
                        valid_from=lo,
                        valid_to=hi,
                    )
                )
    return out


def _standard(info: ModelInfo) -> list[tuple[str, str, datetime | None, datetime | None, Decimal]]:
    """The standard price of each kind per range, as genai-prices' last-active-entry rule picks it."""
    if isinstance(info.prices, ModelPrice):
        return [(kind, cond, None, None, amount) for kind, cond, amount in _amounts(info.prices)]
    entries = tuple(info.prices)
    bounds = sorted(
        {_midnight(c.constraint.start_date) for c in entries if isinstance(c.constraint, StartDateConstraint)}
    )
    windows: list[int | None] = [None]
    windows += [i for i, c in enumerate(entries) if isinstance(c.constraint, TimeOfDateConstraint)]
    out = []
    for window in windows:
        label = ""
        if window is not None:
            constraint = entries[window].constraint
            assert isinstance(constraint, TimeOfDateConstraint)
            label = _window_label(constraint)
        for start, end in _segments(bounds):
            prices = entries[_pick(entries, start or _EARLIEST, window)].prices
            out += [(kind, _join(label, cond), start, end, amount) for kind, cond, amount in _amounts(prices)]
    return out


def _pick(entries: Sequence[ConditionalPrice], at: datetime, window: int | None) -> int:
    """genai-prices' rule at ``at``, with only time-of-day entry ``window`` (if any) in its hours."""
    for i in range(len(entries) - 1, -1, -1):
        constraint = entries[i].constraint
        if (
            constraint is None
            or (isinstance(constraint, StartDateConstraint) and constraint.active(at))
            or (isinstance(constraint, TimeOfDateConstraint) and i == window)
        ):
            return i
    return 0


def _variants(info: ModelInfo) -> list[tuple[str, str, datetime | None, datetime | None, Decimal]]:
    """Variant prices per kind and range: the first active variant with a price for the kind wins."""
    groups: dict[str, list[PriceVariant]] = {}
    for variant in info.price_variants or ():
        label = ",".join(f"{k}={v}" for k, v in sorted(variant.when.items()))
        if isinstance(variant.constraint, TimeOfDateConstraint):
            label = _join(label, _window_label(variant.constraint))
        groups.setdefault(label, []).append(variant)
    out = []
    for label, variants in groups.items():
        bounds = sorted(
            {_midnight(v.constraint.start_date) for v in variants if isinstance(v.constraint, StartDateConstraint)}
        )
        for start, end in _segments(bounds):
            at = start or _EARLIEST
            chosen: dict[str, Decimal | TieredPrices] = {}
            for variant in variants:
                if isinstance(variant.constraint, StartDateConstraint) and not variant.constraint.active(at):
                    continue
                for kind, value in variant.prices.__dict__.items():
                    if not kind.startswith("_") and value is not None:
                        chosen.setdefault(kind, value)
            out += [
                (kind, _join(label, cond), start, end, amount)
                for kind, value in chosen.items()
                for cond, amount in _expand(value)
            ]
    return out


def _amounts(prices: ModelPrice) -> Iterator[tuple[str, str, Decimal]]:
    """(kind, tier condition, amount) for every price of a price set; a tiered price gives one row per tier."""
    for kind, value in prices.__dict__.items():
        if not kind.startswith("_") and value is not None:
            for cond, amount in _expand(value):
                yield kind, cond, amount


def _expand(value: Decimal | TieredPrices) -> Iterator[tuple[str, Decimal]]:
    """A price as (tier condition, amount) pairs: the base, then each tier by its start."""
    if isinstance(value, TieredPrices):
        yield "", value.base
        for tier in sorted(value.tiers, key=lambda t: t.start):
            yield f"input_tokens>{tier.start}", tier.price
    else:
        yield "", value


def _merge(
    pieces: Iterable[tuple[datetime | None, datetime | None, Decimal]],
) -> list[tuple[datetime | None, datetime | None, Decimal]]:
    """Sorted ranges with contiguous equal neighbours joined."""
    out: list[tuple[datetime | None, datetime | None, Decimal]] = []
    for start, end, amount in sorted(pieces, key=lambda p: p[0] or _EARLIEST):
        if out and out[-1][1] == start and start is not None and out[-1][2] == amount:
            out[-1] = (out[-1][0], end, amount)
        else:
            out.append((start, end, amount))
    return out


def _split(
    start: datetime | None, end: datetime | None, discounts: Sequence[_Discount]
) -> list[tuple[datetime | None, datetime | None, _Discount | None]]:
    """A range cut where a discount starts or ends, each piece with the discount in force (model beats provider)."""
    cuts = sorted(
        {
            edge
            for d in discounts
            for edge in (d.start, d.end)
            if edge is not None and (start is None or edge > start) and (end is None or edge < end)
        }
    )
    edges = [start, *cuts, end]
    out: list[tuple[datetime | None, datetime | None, _Discount | None]] = []
    for lo, hi in itertools.pairwise(edges):
        at = lo or _EARLIEST
        covering = [d for d in discounts if d.covers(at)]
        chosen = next((d for d in covering if d.model_specific), covering[-1] if covering else None)
        if out and out[-1][2] is chosen:
            out[-1] = (out[-1][0], hi, chosen)
        else:
            out.append((lo, hi, chosen))
    return out


def _discounts(book: PriceBook) -> dict[tuple[str, str | None], tuple[_Discount, ...]]:
    """The overrides' discounts by (provider, data model id); a provider-wide one is listed on every model."""
    overrides = book.overrides
    if overrides is None or not overrides.discounts:
        return {}
    by_provider: dict[str, list[_Discount]] = {}
    by_model: dict[tuple[str, str], list[_Discount]] = {}
    for discount in overrides.discounts:
        start, end = _period_bounds(discount.period)
        if discount.model is None:
            by_provider.setdefault(discount.provider, []).append(_Discount(start, end, discount.factor, False))
            continue
        resolution = book.resolve(discount.provider, discount.model)
        if resolution.source is PriceSource.DATA and resolution.model_id is not None:
            key = (resolution.data_provider_id or discount.provider, resolution.model_id)
            by_model.setdefault(key, []).append(_Discount(start, end, discount.factor, True))
    out: dict[tuple[str, str | None], tuple[_Discount, ...]] = {}
    for provider in book.providers:
        general = by_provider.get(provider.id, [])
        for info in provider.models:
            found = general + by_model.get((provider.id, info.id), [])
            if found:
                out[(provider.id, info.id)] = tuple(found)
    return out


def _period_bounds(period: EffectiveDays) -> tuple[datetime | None, datetime | None]:
    """A period of inclusive UTC days as [start, end) instants."""
    start = _midnight(period.effective_from) if period.effective_from else None
    end = _midnight(period.effective_to + timedelta(days=1)) if period.effective_to else None
    return start, end


def _segments(bounds: Sequence[datetime]) -> list[tuple[datetime | None, datetime | None]]:
    edges: list[datetime | None] = [None, *bounds, None]
    return list(itertools.pairwise(edges))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def _window_label(constraint: TimeOfDateConstraint) -> str:
    return f"UTC {constraint.start_time:%H:%M}-{constraint.end_time:%H:%M}"


def _join(*parts: str) -> str:
    return " & ".join(part for part in parts if part)
