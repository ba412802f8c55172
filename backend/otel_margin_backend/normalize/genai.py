"""One GenAI span -> one ``UsageEvent``: the per-span half of the stage (``normalizer.py`` does the request).

The hot path reads every attribute *key* once and keeps the protobuf value of the few keys it knows; only spans
that turn out to be GenAI have those values decoded, and which of them each role reads is planned once per set of
keys a span sends (``shape.py``). Message text, needed for token estimates, is read in a
second pass that only spans without token counts pay for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import Enum

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otel_margin_backend.normalize.attributes import (
    decode_attributes,
    decode_int_first,
    decode_str_first,
    decode_value,
)
from otel_margin_backend.normalize.config import NormalizeConfig
from otel_margin_backend.normalize.content import message_text
from otel_margin_backend.normalize.conventions import (
    AI_SDK_OPERATION_KEY,
    COST_KEYS,
    GENAI_KEYS,
    RESPONSE_ID_KEYS,
    SDK_NAME_KEY,
    SERVICE_NAME_KEY,
    TOKEN_KEYS,
    USAGE_OBJECT_KEYS,
)
from otel_margin_backend.normalize.estimate import TokenCounter, default_token_counter, estimate_tokens
from otel_margin_backend.normalize.operation import classify_operation
from otel_margin_backend.normalize.provider import normalize_provider
from otel_margin_backend.normalize.result import SpanRejected
from otel_margin_backend.normalize.shape import Ranked, Shape, ShapeTable
from otel_margin_backend.normalize.tokens import TokenCounts, resolve_tokens_detail
from otel_margin_backend.normalize.types import Attributes, AttrValue
from otel_margin_backend.pipeline.events import (
    DEFAULT_CONTEXT_ATTRIBUTES,
    UNATTRIBUTED,
    UsageEvent,
    UsageStatus,
    call_event_key,
    context_attribute_names,
    span_event_id,
)
from otel_margin_backend.pipeline.limits import cost_problem

__all__ = ["ESTIMATOR_ATTRIBUTE", "PRICING_KEYS", "SERVER_ADDRESS_KEY", "ResourceInfo", "Skipped", "SpanNormalizer"]

ESTIMATOR_ATTRIBUTE = "otel_margin.token_estimator"
"""Event attribute naming the tokenizer behind an estimate (``o200k_base`` or ``chars/4``)."""
INVALID_COST_ATTRIBUTE = "otel_margin.invalid_reported_cost"
"""Event attribute naming a cost attribute that was present but unusable (not a number, or outside the limits)."""
SERVER_ADDRESS_KEY = "server.address"
PRICING_KEYS = (SERVER_ADDRESS_KEY, *context_attribute_names(DEFAULT_CONTEXT_ATTRIBUTES))
"""Span attributes the default price book reads (API host, then the price-context attributes: service tier,
batch), copied into ``UsageEvent.attributes`` when present. They never make a span GenAI on their own. A
configured ``context_attributes`` replaces all but the API host (``SpanNormalizer``)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_COST_CHARS = 64
"""A cost written with more characters than this breaks the limits however it reads; not parsed."""
_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)
_ANTHROPIC_EXCLUSIVE_SDKS = frozenset({"openlit"})
"""Instrumentations whose Anthropic input count excludes cache tokens (the Anthropic API's own meaning)."""


class Skipped(Enum):
    """Why a span produced no event without being wrong."""

    NON_GENAI = "non_genai"
    NOT_MODEL_CALL = "not_model_call"


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """What every span of one ``ResourceSpans`` shares, decoded once."""

    attributes: Attributes
    service: str | None
    sdk_name: str | None
    _first: dict[tuple[str, ...], tuple[int, str | None]] = field(default_factory=dict, compare=False, repr=False)
    """Per key list (customer, feature, environment keys): the first key set here, found once per request."""

    @classmethod
    def from_proto(cls, resource: Resource) -> ResourceInfo:
        """Decode a protobuf resource."""
        attributes = decode_attributes(resource.attributes)
        return cls(attributes, _text(attributes.get(SERVICE_NAME_KEY)), _text(attributes.get(SDK_NAME_KEY)))

    def first(self, keys: tuple[str, ...]) -> tuple[int, str | None]:
        """The index in ``keys`` of the first key this resource sets, and its text; ``(len(keys), None)`` if none.

        Memoized per key list: a resource is shared by every span of its group, which are normalized by one thread.
        """
        found = self._first.get(keys)
        if found is None:
            found = (len(keys), None)
            for index, key in enumerate(keys):
                text = _text(self.attributes.get(key))
                if text is not None:
                    found = (index, text)
                    break
            self._first[keys] = found
        return found


def _text(value: AttrValue) -> str | None:
    """A usable identifier from an attribute: strings stripped, integers in decimal; anything else is absent."""
    if type(value) is str:
        value = value.strip()
        return value or None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _first_text(attrs: Attributes, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if key in attrs:  # attrs holds only the known keys a span sent: most lookups miss, and ``in`` is cheap
            text = _text(attrs[key])
            if text is not None:
                return text
    return None


def _found_text(found: Mapping[str, AnyValue], keys: tuple[str, ...]) -> str | None:
    """``_first_text`` on undecoded values, for string keys (``decode_str_first``: the same value, decoded once)."""
    for key in keys:
        if key in found:
            text = _text(decode_str_first(found[key]))
            if text is not None:
                return text
    return None


def _lookup(attrs: Attributes, resource: ResourceInfo, keys: tuple[str, ...], sent: Ranked) -> str | None:
    """First key (in configured order) set on the span, else on the resource; ``sent``: the keys the span has."""
    rank, resource_text = resource.first(keys)
    for index, key in sent:
        if index >= rank:
            break
        text = _text(attrs[key])
        if text is not None:
            return text
    if resource_text is not None:  # the resource's key comes first, or the span sent no earlier key
        span_text = _text(attrs[keys[rank]]) if keys[rank] in attrs else None
        return span_text if span_text is not None else resource_text
    return None


def _cost(value: AttrValue) -> Decimal | None:
    """A reported cost as an exact Decimal from its printed form (``Decimal(str(x))``), or None if unusable: not a
    number, or outside the limits (``pipeline/limits.py``: finite, 0 to 1,000,000, at most 30 decimal places)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, str) and len(value) > _MAX_COST_CHARS:
        return None
    try:
        cost = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return cost if cost_problem(cost) is None else None


class SpanNormalizer:
    """Turns single spans into usage events under one configuration. Stateless after construction: thread-safe."""

    def __init__(
        self,
        config: NormalizeConfig,
        token_counter: TokenCounter | None = None,
        context_attributes: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Compile the configuration into lookup tables.

        Args:
            config: Stage configuration.
            token_counter: Tokenizer for estimates; default ``default_token_counter()``, resolved on first use.
            context_attributes: The price book's price-context key → span attributes (``PricingConfig``), whose
                attributes are copied onto events with ``server.address``. Default: ``DEFAULT_CONTEXT_ATTRIBUTES``.
        """
        self._config = config
        self._token_counter = token_counter
        attributes = DEFAULT_CONTEXT_ATTRIBUTES if context_attributes is None else context_attributes
        names = context_attribute_names(attributes)
        pricing_keys = (SERVER_ADDRESS_KEY, *(name for name in names if name != SERVER_ADDRESS_KEY))
        self._shapes = ShapeTable(config.customer_keys, config.feature_keys, config.environment_keys, pricing_keys)
        wanted = dict.fromkeys(
            (
                *config.customer_keys,
                *config.feature_keys,
                *config.environment_keys,
                *pricing_keys,
                *RESPONSE_ID_KEYS,
                AI_SDK_OPERATION_KEY,
            ),
            False,
        )
        wanted[SDK_NAME_KEY] = False
        wanted.update(dict.fromkeys(GENAI_KEYS, True))
        self._wanted: dict[str, bool] = wanted
        decoders: dict[str, Callable[[AnyValue], AttrValue]] = dict.fromkeys(wanted, decode_str_first)
        decoders.update(dict.fromkeys(TOKEN_KEYS, decode_int_first))
        decoders.update(dict.fromkeys((*USAGE_OBJECT_KEYS, *COST_KEYS), decode_value))
        self._decoders = decoders

    @property
    def token_counter(self) -> TokenCounter:
        """The tokenizer used for estimates."""
        if self._token_counter is None:
            self._token_counter = default_token_counter()
        return self._token_counter

    def normalize(self, span: Span, resource: ResourceInfo) -> UsageEvent | Skipped:
        """Normalize one span.

        Args:
            span: The protobuf span.
            resource: Its decoded resource.

        Returns:
            The usage event of a model call (``feature`` is ``""`` when no feature attribute was found, for the
            caller to fill from the root span), or why the span was skipped.

        Raises:
            SpanRejected: the span is a model call but its data is unusable.
        """
        wanted = self._wanted
        found: dict[str, AnyValue] = {}
        genai = False
        for kv in span.attributes:
            key = kv.key
            marker = wanted.get(key)
            if marker is not None:
                found[key] = kv.value
                genai = genai or marker
        if not genai:
            return Skipped.NON_GENAI

        # Classify first, decoding only the few string keys that decide: a GenAI span that is not a model call (an
        # agent or workflow parent, a tool call) is skipped without decoding its counts, names or usage objects.
        shape = self._shapes.of(found)
        request_model = _found_text(found, shape.request_model)
        response_model = _found_text(found, shape.response_model)
        is_call, operation = classify_operation(
            operation=_found_text(found, shape.operation),
            span_name=span.name,
            request_type=_found_text(found, shape.request_type),
            openinference_kind=_found_text(found, shape.openinference_kind),
            traceloop_kind=_found_text(found, shape.traceloop_kind),
            has_tokens=shape.has_tokens,
            has_model=request_model is not None or response_model is not None,
            ai_sdk_operation=_found_text(found, shape.ai_sdk_operation),
        )
        if not is_call:
            return Skipped.NOT_MODEL_CALL
        decoders = self._decoders
        attrs: Attributes = {key: decoders[key](value) for key, value in found.items()}
        return self._event(span, resource, attrs, shape, operation, request_model, response_model)

    def _event(
        self,
        span: Span,
        resource: ResourceInfo,
        attrs: Attributes,
        shape: Shape,
        operation: str | None,
        request_model: str | None,
        response_model: str | None,
    ) -> UsageEvent:
        config = self._config
        trace_id = span.trace_id
        span_id = span.span_id
        if len(trace_id) != 16 or trace_id == _ZERO_TRACE_ID:
            raise SpanRejected("span has an invalid trace_id (must be 16 bytes, not all zero)")
        if len(span_id) != 8 or span_id == _ZERO_SPAN_ID:
            raise SpanRejected("span has an invalid span_id (must be 8 bytes, not all zero)")
        start_ns = span.start_time_unix_nano
        if not start_ns:
            raise SpanRejected("span has no start_time_unix_nano")
        if request_model is None and response_model is None:
            raise SpanRejected("model call names no model (gen_ai.request.model or gen_ai.response.model)")

        customer = _lookup(attrs, resource, config.customer_keys, shape.customer)
        if customer is None:
            if config.strict_customer:
                raise SpanRejected("span has no customer (strict mode)")
            customer = UNATTRIBUTED

        provider = normalize_provider(_first_text(attrs, shape.provider) or "")
        sdk_name = _text(attrs.get(SDK_NAME_KEY)) or resource.sdk_name
        counts, detail = resolve_tokens_detail(
            attrs,
            input_excludes_cache=provider == "anthropic" and sdk_name in _ANTHROPIC_EXCLUSIVE_SDKS,
            embeddings=operation == "embeddings",
            keys=shape.tokens,
        )
        extra: dict[str, str] = {}
        estimated = False
        status = UsageStatus.UNPRICED
        call_detail = 2 + detail  # see UsageEvent.call_detail
        if counts is None and not config.strict_token_counts:
            counts = self._estimate(span)
            if counts is not None:
                estimated = True
                call_detail = 1
                extra[ESTIMATOR_ATTRIBUTE] = self.token_counter.name
        if counts is None:
            counts = TokenCounts(input=0, output=0)
            status = UsageStatus.MISSING_USAGE
            call_detail = 0
        response_id = _first_text(attrs, shape.response_id)

        reported_cost: Decimal | None = None
        reported_source: str | None = None
        for key in shape.cost:
            value = attrs[key]
            if value is None:
                continue
            reported_cost = _cost(value)
            if reported_cost is not None:
                reported_source = key
                break
            extra.setdefault(INVALID_COST_ATTRIBUTE, key)
        for key in shape.pricing:
            value = attrs[key]
            if value is not None:
                text = _text(value)
                if text is not None:
                    extra[key] = text

        return UsageEvent(
            time=_EPOCH + timedelta(0, 0, start_ns // 1000),  # positional: twice as fast as microseconds=
            event_id=span_event_id(trace_id, span_id),
            customer_id=customer,
            feature=_lookup(attrs, resource, config.feature_keys, shape.feature) or "",
            provider=provider,
            request_model=request_model,
            response_model=response_model,
            operation=operation,
            trace_id=trace_id,
            span_id=span_id,
            service=resource.service,
            environment=_lookup(attrs, resource, config.environment_keys, shape.environment),
            input_tokens=counts.input,
            cache_read_tokens=counts.cache_read,
            cache_write_tokens=counts.cache_write,
            output_tokens=counts.output,
            reasoning_tokens=counts.reasoning,
            tokens_estimated=estimated,
            status=status,
            reported_cost=reported_cost,
            reported_cost_source=reported_source,
            attributes=extra,
            call_key=None if response_id is None else call_event_key(trace_id, response_id),
            call_detail=call_detail,
        )

    def _estimate(self, span: Span) -> TokenCounts | None:
        text = message_text(span)
        if not text.input and not text.output:
            return None
        counter = self.token_counter
        factor = self._config.token_estimate_factor
        return TokenCounts(
            input=estimate_tokens(text.input, counter, factor),
            output=estimate_tokens(text.output, counter, factor),
        )
