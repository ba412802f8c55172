"""Which attribute each role reads, per set of known keys a span sends: the normalizer's key -> role table.

A span is read in precedence order per concept (``conventions.py``: first present key wins). Most of the keys of a
concept are absent from any one span, and one instrumentation sends the same keys on every span, so the lookups are
planned once per *shape* (the known keys a span sends, in its order) and reused: each role then tries only the keys
the span has, in the same precedence order, which gives the same answer as trying every alias. Shapes are few in
practice (one per instrumentation and version); ``MAX_SHAPES`` bounds the table against a sender that makes up keys.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from otel_margin_backend.normalize.conventions import (
    AI_SDK_OPERATION_KEY,
    COST_KEYS,
    OPENINFERENCE_KIND_KEY,
    OPERATION_KEY,
    PROVIDER_KEYS,
    REQUEST_MODEL_KEYS,
    REQUEST_TYPE_KEY,
    RESPONSE_ID_KEYS,
    RESPONSE_MODEL_KEYS,
    TRACELOOP_KIND_KEY,
)
from otel_margin_backend.normalize.tokens import ALL_TOKEN_KEYS, TokenKeys

__all__ = ["MAX_SHAPES", "Ranked", "Shape", "ShapeTable"]

MAX_SHAPES = 4_096
"""Shapes remembered per normalizer; past it a new shape is planned for its span and not kept."""

Ranked = tuple[tuple[int, str], ...]
"""The keys of a configured list (customer, feature, environment) a span sends: (index in the list, key), in order."""


def _present(keys: tuple[str, ...], sent: Collection[str]) -> tuple[str, ...]:
    return tuple(key for key in keys if key in sent)


def _ranked(keys: tuple[str, ...], sent: Collection[str]) -> Ranked:
    return tuple((index, key) for index, key in enumerate(keys) if key in sent)


@dataclass(frozen=True, slots=True)
class Shape:
    """The keys each role reads, for spans that send one set of known keys (each tuple in precedence order)."""

    request_model: tuple[str, ...]
    response_model: tuple[str, ...]
    operation: tuple[str, ...]
    request_type: tuple[str, ...]
    openinference_kind: tuple[str, ...]
    traceloop_kind: tuple[str, ...]
    ai_sdk_operation: tuple[str, ...]
    has_tokens: bool
    """Whether any key of ``tokens`` is sent (a count or a usage object)."""
    provider: tuple[str, ...]
    response_id: tuple[str, ...]
    cost: tuple[str, ...]
    pricing: tuple[str, ...]
    tokens: TokenKeys
    customer: Ranked
    feature: Ranked
    environment: Ranked


class ShapeTable:
    """Plans and remembers ``Shape`` s for one configuration. Thread-safe: entries are immutable, dict access atomic."""

    def __init__(
        self,
        customer_keys: tuple[str, ...],
        feature_keys: tuple[str, ...],
        environment_keys: tuple[str, ...],
        pricing_keys: tuple[str, ...],
    ) -> None:
        self._customer = customer_keys
        self._feature = feature_keys
        self._environment = environment_keys
        self._pricing = pricing_keys
        self._shapes: dict[tuple[str, ...], Shape] = {}

    def of(self, found: Mapping[str, object]) -> Shape:
        """The shape of a span whose known keys are ``found`` (key -> value, in the span's order)."""
        sent = tuple(found)
        shape = self._shapes.get(sent)
        if shape is None:
            shape = self._plan(found)
            if len(self._shapes) < MAX_SHAPES:
                self._shapes[sent] = shape
        return shape

    def _plan(self, sent: Mapping[str, object]) -> Shape:
        tokens = TokenKeys(*(_present(keys, sent) for keys in ALL_TOKEN_KEYS))
        return Shape(
            request_model=_present(REQUEST_MODEL_KEYS, sent),
            response_model=_present(RESPONSE_MODEL_KEYS, sent),
            operation=_present((OPERATION_KEY,), sent),
            request_type=_present((REQUEST_TYPE_KEY,), sent),
            openinference_kind=_present((OPENINFERENCE_KIND_KEY,), sent),
            traceloop_kind=_present((TRACELOOP_KIND_KEY,), sent),
            ai_sdk_operation=_present((AI_SDK_OPERATION_KEY,), sent),
            has_tokens=any(tokens),
            provider=_present(PROVIDER_KEYS, sent),
            response_id=_present(RESPONSE_ID_KEYS, sent),
            cost=_present(COST_KEYS, sent),
            pricing=_present(self._pricing, sent),
            tokens=tokens,
            customer=_ranked(self._customer, sent),
            feature=_ranked(self._feature, sent),
            environment=_ranked(self._environment, sent),
        )
