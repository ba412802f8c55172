"""The normalization stage: a decoded OTLP trace request in, one ``UsageEvent`` per model call out.

Pure (no I/O, no logging per span, and the clock is the caller's: ``now``): the same request always gives the
same result, so redelivery is harmless downstream. A bad span is rejected alone and counted with its reason; the
rest of the request goes on. Every event passes the input limits (``pipeline/limits.py``) once, here, after its
feature is known: a span whose values would break them is rejected with the limit it broke. Spans of one
provider call (two instrumentations of one client) become one event; across requests the store applies the same
rule (``storage/README.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span

from otel_margin_backend.normalize.config import NormalizeConfig
from otel_margin_backend.normalize.estimate import TokenCounter
from otel_margin_backend.normalize.genai import ResourceInfo, Skipped, SpanNormalizer
from otel_margin_backend.normalize.result import NormalizeResult, SpanRejected
from otel_margin_backend.pipeline.events import (
    NO_FEATURE,
    UNATTRIBUTED,
    UsageEvent,
    UsageStatus,
    call_precedence,
)
from otel_margin_backend.pipeline.limits import MAX_ATTRIBUTES, LimitExceeded, event_problem

__all__ = ["Normalizer"]

_NO_PARENT = bytes(8)
"""Some exporters send an all-zero parent id instead of none: both mean a root span."""
_PARENT_IS_REMOTE = 0x300
"""SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK | SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK: the parent lives in another process."""


class Normalizer:
    """Normalizes OTLP trace requests under one configuration. Thread-safe; build one and reuse it."""

    def __init__(
        self,
        config: NormalizeConfig | None = None,
        *,
        token_counter: TokenCounter | None = None,
        context_attributes: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Prepare the stage.

        Args:
            config: Stage configuration; default ``NormalizeConfig()``.
            token_counter: Tokenizer for estimates; default tiktoken ``o200k_base`` if available offline, else
                four characters per token (see ``estimate.py``).
            context_attributes: The price book's price-context key → span attributes (``PricingConfig``); their
                attributes, and ``server.address``, are copied onto events for the price book. Default:
                ``DEFAULT_CONTEXT_ATTRIBUTES``.
        """
        self.config = config if config is not None else NormalizeConfig()
        self._spans = SpanNormalizer(self.config, token_counter, context_attributes)
        self._window = self.config.window

    def normalize(
        self, data: ExportTraceServiceRequest | Sequence[ResourceSpans], *, now: datetime | None = None
    ) -> NormalizeResult:
        """Turn every model-call span of a request into a usage event.

        Args:
            data: A decoded ``ExportTraceServiceRequest``, or its ``resource_spans``.
            now: The receiving server's clock: spans that start outside the accepted window around it are
                rejected. None skips the time window (replaying recorded data).

        Returns:
            The events (``status`` ``unpriced``, or ``missing_usage`` when no token count could be had) and an
            account of every span that gave none: rejected with a reason, or ignored as non-GenAI or not a model
            call.
        """
        resource_spans = data.resource_spans if isinstance(data, ExportTraceServiceRequest) else data
        result = NormalizeResult()
        candidates: list[UsageEvent] = []
        candidate_spans: list[Span] = []
        without_feature: list[tuple[UsageEvent, Span]] = []
        span_normalizer = self._spans
        for group in resource_spans:
            try:
                if len(group.resource.attributes) > MAX_ATTRIBUTES:
                    raise SpanRejected(f"the span's resource has more than {MAX_ATTRIBUTES:,} attributes")
                resource = ResourceInfo.from_proto(group.resource)
            except (SpanRejected, LimitExceeded) as rejection:
                for scope in group.scope_spans:
                    for _ in scope.spans:
                        result.reject(str(rejection))
                continue
            for scope in group.scope_spans:
                for span in scope.spans:
                    try:
                        if len(span.attributes) > MAX_ATTRIBUTES:
                            raise SpanRejected(f"span has more than {MAX_ATTRIBUTES:,} attributes")
                        outcome = span_normalizer.normalize(span, resource)
                    except (SpanRejected, LimitExceeded) as rejection:
                        result.reject(str(rejection))
                        continue
                    if outcome is Skipped.NON_GENAI:
                        result.ignored_non_genai += 1
                        continue
                    if outcome is Skipped.NOT_MODEL_CALL:
                        result.ignored_non_model_call += 1
                        continue
                    if not outcome.feature:
                        without_feature.append((outcome, span))
                    candidates.append(outcome)
                    candidate_spans.append(span)
        if without_feature:
            _features_from_root_spans(resource_spans, without_feature)
        events = result.events
        event_spans: list[Span] = []
        for event, span in zip(candidates, candidate_spans, strict=True):
            problem = event_problem(event, now, self._window)
            if problem is not None:
                result.reject(problem)
                continue
            if event.customer_id == UNATTRIBUTED:
                result.unattributed += 1
            if event.tokens_estimated:
                result.estimated += 1
            elif event.status is UsageStatus.MISSING_USAGE:
                result.missing_usage += 1
            events.append(event)
            event_spans.append(span)
        if len(events) > 1:
            _one_event_per_call(resource_spans, event_spans, result)
        return result


def _one_event_per_call(resource_spans: Sequence[ResourceSpans], spans: list[Span], result: NormalizeResult) -> None:
    """Fold the events of spans that describe one provider call into one event, in place.

    Two events of one trace are one call when they share a call key (trace and response id), or when one span is
    nested in the other (the nearest model-call ancestor in this request) and, if either names no response id,
    they name the same provider and model. A group never joins two different response ids. The event ranked first
    by ``call_precedence`` (the order the store uses across requests) stands for the group and takes its call key.

    Args:
        resource_spans: The whole request, for the parent links.
        spans: The span of each event in ``result.events``, index for index.
        result: The pass's result; folded events leave ``events`` and its counters, and count as ``duplicates``.
    """
    events = result.events
    seen: set[bytes] = set()
    shared: set[bytes] = set()
    for span in spans:
        if span.trace_id in seen:
            shared.add(span.trace_id)
        seen.add(span.trace_id)
    if not shared:
        return  # the common case: one model call per trace in this request
    candidates = [i for i, span in enumerate(spans) if span.trace_id in shared]

    pairs: list[tuple[int, int]] = []  # (earlier or outer, other) event indexes describing one call
    by_key: dict[bytes, int] = {}
    for i in candidates:
        key = events[i].call_key
        if key is not None:
            first = by_key.setdefault(key, i)
            if first != i:
                pairs.append((first, i))
    at = {spans[i].trace_id + spans[i].span_id: i for i in candidates}
    parents: dict[bytes, bytes] = {}
    for group in resource_spans:
        for scope in group.scope_spans:
            for span in scope.spans:
                if span.trace_id in shared and span.parent_span_id and span.parent_span_id != _NO_PARENT:
                    parents[span.trace_id + span.span_id] = span.trace_id + span.parent_span_id
    for i in candidates:
        node = spans[i].trace_id + spans[i].span_id
        for _ in range(len(parents)):  # bounded: a malformed request may link parents in a cycle
            parent = parents.get(node)
            if parent is None:
                break
            j = at.get(parent)
            if j is not None:
                if _nested_same_call(events[j], events[i]):
                    pairs.append((j, i))
                break
            node = parent
    if not pairs:
        return

    root: dict[int, int] = {}
    group_key: dict[int, bytes | None] = {}

    def find(i: int) -> int:
        if i not in root:
            root[i] = i
            group_key[i] = events[i].call_key
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for a, b in pairs:
        first, second = sorted((find(a), find(b)))
        key_a, key_b = group_key[first], group_key[second]
        if first == second or (key_a is not None and key_b is not None and key_a != key_b):
            continue  # one call already, or two different responses: a group never joins those
        root[second] = first
        group_key[first] = key_a if key_a is not None else key_b

    members: dict[int, list[int]] = {}
    for i in list(root):
        members.setdefault(find(i), []).append(i)
    folded: set[int] = set()
    for first, same_call in members.items():
        if len(same_call) < 2:
            continue
        winner = min(same_call, key=lambda i: call_precedence(events[i]))
        events[winner].call_key = group_key[first]
        folded.update(i for i in same_call if i != winner)
    if not folded:
        return
    for i in folded:
        event = events[i]
        if event.customer_id == UNATTRIBUTED:
            result.unattributed -= 1
        if event.tokens_estimated:
            result.estimated -= 1
        elif event.status is UsageStatus.MISSING_USAGE:
            result.missing_usage -= 1
    result.duplicates += len(folded)
    events[:] = [event for i, event in enumerate(events) if i not in folded]


def _nested_same_call(outer: UsageEvent, inner: UsageEvent) -> bool:
    """Whether a model-call span nested in another describes the same call."""
    if outer.call_key is not None and inner.call_key is not None:
        return outer.call_key == inner.call_key
    if outer.provider and inner.provider and outer.provider != inner.provider:
        return False
    outer_models = {outer.request_model, outer.response_model} - {None}
    return not outer_models.isdisjoint((inner.request_model, inner.response_model))


def _features_from_root_spans(resource_spans: Sequence[ResourceSpans], pending: list[tuple[UsageEvent, Span]]) -> None:
    """Name each pending event's feature after its trace's root span, else after its service's local root span.

    The root is the parentless span of the same trace in this request. When the root was exported elsewhere (by
    another service, or in another batch), the local root is the nearest ancestor in this request whose parent is
    flagged remote: the service's entry span. If neither is here, the feature is ``(none)``.
    """
    traces = {span.trace_id for _, span in pending}
    roots: dict[bytes, str] = {}
    local: dict[bytes, Span] = {}  # the spans of those traces, by trace and span id
    for group in resource_spans:
        for scope in group.scope_spans:
            for span in scope.spans:
                trace_id = span.trace_id
                if trace_id not in traces:  # most spans of a Collector's fan-out: one test, nothing built
                    continue
                local[trace_id + span.span_id] = span
                if not span.parent_span_id or span.parent_span_id == _NO_PARENT:
                    roots.setdefault(trace_id, span.name)
    for event, span in pending:
        name = roots.get(span.trace_id)
        if name is None:
            name = _local_root_name(span, local)
        event.feature = name or NO_FEATURE


def _local_root_name(span: Span, by_id: dict[bytes, Span]) -> str | None:
    current = span
    for _ in range(len(by_id) + 1):
        if current.flags & _PARENT_IS_REMOTE == _PARENT_IS_REMOTE:
            return current.name
        parent = by_id.get(current.trace_id + current.parent_span_id)
        if parent is None:
            return None
        current = parent
    return None
