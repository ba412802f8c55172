"""The price book: an immutable snapshot of genai-prices data plus the user's overrides.

A ``PriceBook`` prices a ``UsageEvent`` at the prices in force at the call's start time, in the
request context the span reports (service tier, batch), exactly as genai-prices' ``calc_price``
would for the same usage: same model matching, same dated prices, same long-context tiers, same
cache decomposition, same Decimal operations. Then it applies the user's negotiated discount.

A book never changes. New data (a fetched ``data.json``) or new overrides make a new book, which
``CurrentPriceBook`` (``pricer.py``) swaps in with one reference assignment: a call is priced wholly
by the old book or wholly by the new one. The caches inside (names → price schedules → rate cards)
memoize pure functions of the snapshot, so they never change a result; they are bounded by entries and by bytes
(``cache.py``), and a key with a name longer than ``names.MAX_NAME_CHARS`` is never cached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

from genai_prices.types import Provider

from otel_margin_backend.pipeline.events import DEFAULT_CONTEXT_ATTRIBUTES, PROVIDER_FROM_MODEL, UsageEvent, UsageStatus
from otel_margin_backend.pricing.cache import DEFAULT_MAX_BYTES, BoundedCache
from otel_margin_backend.pricing.data import PriceData
from otel_margin_backend.pricing.errors import PricingFileError, Problem
from otel_margin_backend.pricing.names import MAX_NAME_CHARS, SPAN_PROVIDER_NAMES
from otel_margin_backend.pricing.overrides import Discount, Overrides
from otel_margin_backend.pricing.rates import compile_or_none
from otel_margin_backend.pricing.resolve import DEFAULT_CACHE_SIZE, Resolution, Resolved, Resolver
from otel_margin_backend.pricing.schedule import CustomCards, PriceSchedule
from otel_margin_backend.pricing.types import CURRENCY, Costs, PriceSource

_IGNORED_CONTEXT_VALUES: Final = frozenset({"", "auto"})

_Key = tuple[str, str | None, str | None, str | None]
"""(provider, response model, request model, server address): what a call's price schedule depends on."""


class PriceBook:
    """An immutable price snapshot that prices usage events in place (a ``Pricer``).

    Args:
        data: The genai-prices snapshot.
        overrides: The user's overrides, or None.
        azure_deployments: Azure deployment name → model name.
        context_attributes: Price-context key → span attributes carrying it (``DEFAULT_CONTEXT_ATTRIBUTES``).
        cache_size: Most distinct names remembered (resolutions and price schedules each).
        cache_bytes: Most estimated bytes each name cache keeps.

    Raises:
        PricingFileError: a discount in the overrides names a provider or model the data lacks.
    """

    def __init__(
        self,
        data: PriceData,
        *,
        overrides: Overrides | None = None,
        azure_deployments: Mapping[str, str] | None = None,
        context_attributes: Mapping[str, Sequence[str]] | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        cache_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._data = data
        self._overrides = overrides
        self._override_version = overrides.version if overrides else None
        self._azure = dict(azure_deployments or {})
        attrs = DEFAULT_CONTEXT_ATTRIBUTES if context_attributes is None else context_attributes
        self._context_attributes = tuple((key, tuple(names)) for key, names in attrs.items())
        self._cache_size = cache_size
        self._cache_bytes = cache_bytes
        self._resolver = Resolver(
            data.providers,
            aliases=overrides.aliases if overrides else None,
            custom_models=tuple(overrides.custom_models) if overrides else (),
            azure_deployments=self._azure,
            cache_size=cache_size,
            cache_bytes=cache_bytes,
        )
        self._custom_cards: dict[tuple[str | None, str], CustomCards] = {
            key: tuple((p.period, compile_or_none(p.price)) for p in prices)
            for key, prices in (overrides.custom_models.items() if overrides else ())
        }
        self._discounts = self._resolve_discounts(overrides)
        # A schedule holds its compiled rate cards: a few KiB.
        self._schedules: BoundedCache[_Key, PriceSchedule] = BoundedCache(
            cache_size, max_bytes=cache_bytes, entry_bytes=4096
        )

    @classmethod
    def bundled(cls, *, overrides: Overrides | None = None) -> PriceBook:
        """A book of the data bundled with the installed genai-prices, with default options.

        For a fetched ``data.json`` use ``PriceBook(PriceData.from_json_file(path), ...)``, or
        ``book.with_data(...)`` to keep a running book's overrides and options.

        Args:
            overrides: The user's overrides, or None.

        Returns:
            The book.
        """
        return cls(PriceData.bundled(), overrides=overrides)

    def with_overrides(self, overrides: Overrides | None) -> PriceBook:
        """The same data with other overrides (a reloaded file), as a new book.

        Args:
            overrides: The new overrides, or None for none.

        Returns:
            The new book; this one is unchanged.
        """
        return self._rebuild(self._data, overrides)

    def with_data(self, data: PriceData) -> PriceBook:
        """New data with the same overrides and options, as a new book (for the sync job).

        Args:
            data: The new snapshot.

        Returns:
            The new book; this one is unchanged.

        Raises:
            PricingFileError: a discount names a model the new data lacks.
        """
        return self._rebuild(data, self._overrides)

    @property
    def version(self) -> str:
        """The data identifier recorded as ``price_version``."""
        return self._data.version

    @property
    def override_version(self) -> str | None:
        """The overrides' content hash recorded as ``override_version``, or None without overrides."""
        return self._override_version

    @property
    def overrides(self) -> Overrides | None:
        """The overrides this book applies (read-only use), or None."""
        return self._overrides

    @property
    def providers(self) -> tuple[Provider, ...]:
        """The genai-prices providers of this snapshot (read-only use)."""
        return self._data.providers

    def resolve(self, provider: str | None, model: str | None, *, server_address: str | None = None) -> Resolution:
        """How a (provider, model) pair resolves in this book.

        Args:
            provider: The provider as a span names it.
            model: The model as a span names it.
            server_address: The span's ``server.address``, if any.

        Returns:
            The resolution, including the rules applied.
        """
        return self._resolver.resolve(provider, model, server_address=server_address).resolution

    def cost(
        self,
        provider: str,
        model: str,
        *,
        at: datetime,
        input_tokens: int = 0,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        output_tokens: int = 0,
        reasoning_tokens: int = 0,
        context: Mapping[str, str] | None = None,
    ) -> Costs | None:
        """What a call would cost, without an event (for the simulator and ``prices show``).

        Args:
            provider: The provider as a span would name it.
            model: The model as a span would name it.
            at: When the call starts.
            input_tokens: Input tokens, cache reads and writes included.
            cache_read_tokens: Of which read from the prompt cache.
            cache_write_tokens: Of which written to the prompt cache.
            output_tokens: Output tokens, reasoning included.
            reasoning_tokens: Of which reasoning.
            context: genai-prices price context, e.g. ``{"service_tier": "flex"}``.

        Returns:
            The costs after discounts, or None if the model does not resolve or has no price then.
        """
        usage = (input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, reasoning_tokens)
        if min(usage) < 0:
            return None
        return self._schedule((provider, model, None, None)).costs(usage, at, dict(context) if context else None)

    def price(self, event: UsageEvent) -> None:
        """Price one event in place (see ``Pricer``).

        Sets the cost columns, ``status`` (``PRICED`` or ``UNPRICED``), ``currency``,
        ``price_version`` and ``override_version``. An event that names no provider gets the one its model name
        resolves to (``provider_source`` ``PROVIDER_FROM_MODEL``; unchanged when the name does not resolve). An
        event marked ``MISSING_USAGE`` is left as is.
        An unresolved model, a model with no price at the call's time, or contradictory counts
        (negative, or more cache tokens than input tokens) leave every cost None.

        Args:
            event: The event; its model names and token counts are read, never changed.
        """
        if event.status is UsageStatus.MISSING_USAGE:
            return
        attributes = event.attributes
        key = (event.provider, event.response_model, event.request_model,
               attributes.get("server.address") if attributes else None)  # fmt: skip
        schedule = self._schedules.get(key) or self._schedule(key)
        if not event.provider and schedule.resolution.provider_id:
            # A REST event (or span) without a provider: the model name alone resolved, so say whose it is.
            inferred = schedule.resolution.provider_id
            event.provider = SPAN_PROVIDER_NAMES.get(inferred, inferred)
            event.provider_source = PROVIDER_FROM_MODEL
        usage = (event.input_tokens, event.cache_read_tokens, event.cache_write_tokens,
                 event.output_tokens, event.reasoning_tokens)  # fmt: skip
        costs = None
        if min(usage) >= 0:
            if schedule.static is not None:
                costs = schedule.static.costs(usage)
            elif schedule.priceable:
                context = self._context(attributes) if schedule.has_variants and attributes else None
                if context is None and schedule.plain is not None:
                    costs = schedule.plain.costs(usage)
                else:
                    costs = schedule.costs(usage, event.time, context)
        event.currency = CURRENCY
        event.price_version = self._data.version
        event.override_version = self._override_version
        if costs is None:
            event.status = UsageStatus.UNPRICED
            event.cost_input = event.cost_cache_read = event.cost_cache_write = None
            event.cost_output = event.cost_reasoning = event.cost_total = None
            return
        event.status = UsageStatus.PRICED
        (event.cost_input, event.cost_cache_read, event.cost_cache_write,
         event.cost_output, event.cost_reasoning, event.cost_total) = costs  # fmt: skip

    def explain(self, event: UsageEvent) -> Resolution:
        """How this book resolves an event's names (response model first, then request model).

        Args:
            event: The event.

        Returns:
            The resolution used to price it.
        """
        server = event.attributes.get("server.address") if event.attributes else None
        return self._schedule((event.provider, event.response_model, event.request_model, server)).resolution

    def _context(self, attributes: Mapping[str, str]) -> dict[str, str] | None:
        context: dict[str, str] | None = None
        for key, attribute_names in self._context_attributes:
            for name in attribute_names:
                value = attributes.get(name)
                if value is None:
                    continue
                value = str(value).strip().lower()
                if value not in _IGNORED_CONTEXT_VALUES:
                    context = context or {}
                    context[key] = value
                    break
        return context

    def _schedule(self, key: _Key) -> PriceSchedule:
        schedule = self._schedules.get(key)
        if schedule is not None:
            return schedule
        provider, response_model, request_model, server = key
        resolved = self._resolver.resolve(provider, response_model or request_model, server_address=server)
        if not resolved.resolution.resolved and response_model and request_model and request_model != response_model:
            fallback = self._resolver.resolve(provider, request_model, server_address=server)
            if fallback.resolution.resolved:
                note = f"response model {response_model!r} did not resolve; priced as the request model"
                resolution = fallback.resolution
                resolved = Resolved(
                    Resolution(
                        provider=resolution.provider,
                        model=resolution.model,
                        source=resolution.source,
                        provider_id=resolution.provider_id,
                        model_id=resolution.model_id,
                        data_provider_id=resolution.data_provider_id,
                        model_ref=resolution.model_ref,
                        steps=(*resolution.steps, note),
                    ),
                    fallback.data_provider,
                    fallback.data_model,
                    fallback.custom_key,
                )
        custom = self._custom_cards.get(resolved.custom_key) if resolved.custom_key else None
        schedule = PriceSchedule(resolved, custom, self._discounts_for(resolved))
        if all(part is None or len(part) <= MAX_NAME_CHARS for part in key):
            self._schedules.put(key, schedule)
        return schedule

    def _rebuild(self, data: PriceData, overrides: Overrides | None) -> PriceBook:
        return PriceBook(
            data,
            overrides=overrides,
            azure_deployments=self._azure,
            context_attributes=dict(self._context_attributes),
            cache_size=self._cache_size,
            cache_bytes=self._cache_bytes,
        )

    def _resolve_discounts(self, overrides: Overrides | None) -> tuple[tuple[Discount, str | None], ...]:
        """Each discount with the data model id it targets (None for a provider-wide discount)."""
        out: list[tuple[Discount, str | None]] = []
        problems = []
        for discount in overrides.discounts if overrides else ():
            if self._resolver.provider_id(discount.provider) != discount.provider:
                message = f"discount provider {discount.provider!r} is not in the price data"
                problems.append(Problem(discount.line, "", message))
            elif discount.model is None:
                out.append((discount, None))
            else:
                resolution = self._resolver.resolve(discount.provider, discount.model).resolution
                if resolution.source is PriceSource.DATA and resolution.provider_id == discount.provider:
                    out.append((discount, resolution.model_id))
                else:
                    where = f"{discount.provider}/{discount.model}"
                    problems.append(Problem(discount.line, "", f"discount model {where!r} is not in the price data"))
        if problems and overrides is not None:
            raise PricingFileError(overrides.source, problems)
        return tuple(out)

    def _discounts_for(self, resolved: Resolved) -> tuple[tuple[Discount, bool], ...]:
        """The discounts that may apply to a name's data price, each flagged True if model-specific.

        Keyed on the data match, not the resolution's source: a custom model with dates falls back
        to the (discounted) data price outside them.
        """
        if resolved.data_provider is None or resolved.data_model is None:
            return ()
        provider_id, model_id = resolved.data_provider.id, resolved.data_model.id
        return tuple(
            (discount, target is not None)
            for discount, target in self._discounts
            if discount.provider == provider_id and target in (None, model_id)
        )
