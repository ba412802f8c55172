"""The usage event: one priced (or unpriced) model call, the unit every stage hands to the next.

Token semantics follow OpenTelemetry's GenAI conventions, so nothing is counted twice:
``input_tokens`` *includes* ``cache_read_tokens`` and ``cache_write_tokens``; ``output_tokens``
*includes* ``reasoning_tokens``. Costs are exact ``Decimal`` amounts in ``currency``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Final

UNATTRIBUTED = "(unattributed)"
"""Customer id of calls that carried no customer: an explicit, queryable bucket, never dropped."""

NO_FEATURE = "(none)"
"""Feature of calls that named no feature (and had no root span name to fall back on)."""

PROVIDER_FROM_MODEL = "model"
"""``provider_source`` of a call that named no provider: the price book inferred it from the model name."""


DEFAULT_CONTEXT_ATTRIBUTES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "service_tier": (
            "openai.response.service_tier",
            "gen_ai.openai.response.service_tier",
            "openai.request.service_tier",
            "gen_ai.openai.request.service_tier",
        ),
        "processing": ("otel_margin.processing",),
    }
)
"""genai-prices price-context key → span attributes that carry it, first present wins.

The response's service tier (what was billed) beats the request's (what was asked for);
``auto`` is ignored. ``processing: batch`` has no OTel attribute; apps or the REST API set
``otel_margin.processing=batch`` on calls made through a batch API.
"""


def context_attribute_names(context_attributes: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """Every span attribute a price-context mapping reads, in order, each once.

    Normalization copies these onto the event, the price book reads them, the writer stores them.

    Args:
        context_attributes: Price-context key → span attributes carrying it (as ``DEFAULT_CONTEXT_ATTRIBUTES``).

    Returns:
        The attribute names.
    """
    return tuple(dict.fromkeys(name for names in context_attributes.values() for name in names))


class UsageStatus(StrEnum):
    """What the pricing stage could make of a call."""

    PRICED = "priced"
    """Tokens known, model resolved: cost columns are set."""
    UNPRICED = "unpriced"
    """Tokens known but the model (or provider) did not resolve: cost stays NULL, never $0."""
    MISSING_USAGE = "missing_usage"
    """The span reported no token counts and estimation was off or impossible."""


@dataclass(slots=True)
class UsageEvent:
    """One model call, as stored in ``usage_events``."""

    time: datetime
    """Start of the call (UTC); the call is priced at the prices in force then."""
    event_id: bytes
    """Identity used for de-duplication: trace id + span id, or a digest of the REST request id."""
    customer_id: str = UNATTRIBUTED
    feature: str = NO_FEATURE
    provider: str = ""
    provider_source: str | None = None
    """Where ``provider`` came from: None when the span or request named it, ``PROVIDER_FROM_MODEL`` when it named
    none and the price book inferred it from the model name."""
    request_model: str | None = None
    response_model: str | None = None
    operation: str | None = None
    trace_id: bytes | None = None
    span_id: bytes | None = None
    request_id: str | None = None
    service: str | None = None
    environment: str | None = None
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    tokens_estimated: bool = False
    status: UsageStatus = UsageStatus.UNPRICED
    cost_input: Decimal | None = None
    cost_cache_read: Decimal | None = None
    cost_cache_write: Decimal | None = None
    cost_output: Decimal | None = None
    cost_reasoning: Decimal | None = None
    cost_total: Decimal | None = None
    currency: str = "USD"
    price_version: str | None = None
    override_version: str | None = None
    reported_cost: Decimal | None = None
    reported_cost_source: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    """Free-form extras kept for debugging (never used for grouping)."""
    call_key: bytes | None = None
    """The provider call this span describes (``call_event_key``), when it named a response id. Several spans with
    one key are one call: only the one ranked first by ``call_precedence`` is stored."""
    call_detail: int = 0
    """How detailed the span's usage is, for ranking spans of one call: 0 no counts, 1 estimated counts,
    2 + how many of cache read, cache write and reasoning the span reported (2-5)."""

    @property
    def model(self) -> str:
        """The model a call is grouped under: the response model, else the requested one."""
        return self.response_model or self.request_model or ""


def span_event_id(trace_id: bytes, span_id: bytes) -> bytes:
    """Identity of a span-derived event: the 16-byte trace id followed by the 8-byte span id."""
    return trace_id + span_id


def call_event_key(trace_id: bytes, response_id: str) -> bytes:
    """Identity of one provider call: a digest of the trace id and the provider's response id.

    Two instrumentations of one call (or a client that traces itself plus an instrumentation) export two spans
    with different span ids but the same trace and response id, so they share this key.
    """
    return hashlib.blake2b(b"call:" + trace_id + response_id.encode(), digest_size=16).digest()


def call_precedence(event: UsageEvent) -> tuple[int, int, bool, bytes]:
    """Sort key ranking spans of one call; the smallest is the one stored.

    The most detailed usage wins (``call_detail``), then more tokens (``input + output``: a span that lost its cache
    counts reports fewer), then a provider-reported cost, then the smallest ``event_id``. The order is total, so the
    same span wins whatever order the spans arrive in; ``usage_calls_arbitrate()`` (migration 0061) applies the same
    order in the database.
    """
    return (
        -event.call_detail,
        -(event.input_tokens + event.output_tokens),
        event.reported_cost is None,
        event.event_id,
    )


def request_event_id(request_id: str) -> bytes:
    """Identity of a REST event: a digest of its request id, so arbitrary client ids stay fixed-size.

    The 'rest:' prefix keeps the namespace apart from span identities.
    """
    return hashlib.blake2b(b"rest:" + request_id.encode(), digest_size=24).digest()
