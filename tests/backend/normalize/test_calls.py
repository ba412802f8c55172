"""One event per provider call within a request: call keys, detail ranks, and folding nested or repeated spans."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from otel_margin_backend.normalize import CharsPerTokenCounter, NormalizeConfig, Normalizer, NormalizeResult
from otel_margin_backend.pipeline.events import UNATTRIBUTED, call_event_key
from tests.backend.normalize.builders import TRACE_ID, SpanSpec, build_request, span_id_bytes

OTHER_TRACE = bytes.fromhex("11111111111111111111111111111111")
RESPONSE_ID = "msg_01XFDUDYJgAACzvnptvVoYEL"
KEY = call_event_key(TRACE_ID, RESPONSE_ID)
_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens")

# One Anthropic call (5,250 input of which 4,096 cache read and 1,104 cache write; 180 output), as each
# instrumentation reports it.
ANTHROPIC_OWN = {  # the anthropic client tracing itself: spec names, inclusive input
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.response.model": "claude-sonnet-4-5-20250929",
    "gen_ai.response.id": RESPONSE_ID,
    "gen_ai.usage.input_tokens": 5250,
    "gen_ai.usage.output_tokens": 180,
    "gen_ai.usage.cache_read.input_tokens": 4096,
    "gen_ai.usage.cache_creation.input_tokens": 1104,
    "customer.id": "acme",
}
PYDANTIC_AI = {  # pydantic-ai's own chat span around it: details.*, operation.cost
    "gen_ai.operation.name": "chat",
    "gen_ai.system": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.response.model": "claude-sonnet-4-5-20250929",
    "gen_ai.response.id": RESPONSE_ID,
    "gen_ai.usage.input_tokens": 5250,
    "gen_ai.usage.output_tokens": 180,
    "gen_ai.usage.details.cache_read_tokens": 4096,
    "gen_ai.usage.details.cache_write_tokens": 1104,
    "operation.cost": 0.0082188,
    "customer.id": "acme",
}
LOGFIRE_NO_RAW = {  # Logfire's Anthropic span without gen_ai.usage.raw: Anthropic's exclusive input, no cache counts
    "gen_ai.operation.name": "chat",
    "gen_ai.system": "anthropic",
    "gen_ai.provider.name": "anthropic",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.response.model": "claude-sonnet-4-5-20250929",
    "gen_ai.response.id": RESPONSE_ID,
    "gen_ai.usage.input_tokens": 50,
    "gen_ai.usage.output_tokens": 180,
    "customer.id": "acme",
}


def run(*spans: SpanSpec, config: NormalizeConfig | None = None) -> NormalizeResult:
    normalizer = Normalizer(config or NormalizeConfig(), token_counter=CharsPerTokenCounter())
    return normalizer.normalize(build_request(*spans))


def without(attributes: Mapping[str, object], *keys: str) -> dict[str, object]:
    return {key: value for key, value in attributes.items() if key not in keys}


@pytest.mark.parametrize("key", ["gen_ai.response.id", "llm.response.id", "ai.response.id"])
def test_the_call_key_digests_trace_and_response_id(key: str) -> None:
    attributes = {**without(ANTHROPIC_OWN, "gen_ai.response.id"), key: f"  {RESPONSE_ID} "}
    event = run(SpanSpec(attributes=attributes)).events[0]
    assert event.call_key == KEY
    assert len(KEY) == 16
    assert call_event_key(OTHER_TRACE, RESPONSE_ID) != KEY
    assert call_event_key(TRACE_ID, RESPONSE_ID + "x") != KEY


def test_no_response_id_no_call_key() -> None:
    event = run(SpanSpec(attributes=without(ANTHROPIC_OWN, "gen_ai.response.id"))).events[0]
    assert event.call_key is None


def test_a_response_id_alone_does_not_make_a_span_genai() -> None:
    result = run(SpanSpec(name="GET /v1/messages", attributes={"gen_ai.response.id": RESPONSE_ID}))
    assert (result.events, result.ignored_non_genai) == ([], 1)


def test_call_detail_counts_the_reported_details() -> None:
    spans = [
        SpanSpec(span_id=1, trace_id=bytes([1]) * 16, attributes=ANTHROPIC_OWN),  # cache read + write
        SpanSpec(span_id=2, trace_id=bytes([2]) * 16, attributes=LOGFIRE_NO_RAW),  # none
        SpanSpec(
            span_id=3,
            trace_id=bytes([3]) * 16,
            attributes={**LOGFIRE_NO_RAW, "gen_ai.usage.details.reasoning_tokens": 0},  # a reported 0 counts
        ),
        SpanSpec(  # a raw Anthropic usage object: cache read and write, from the object
            span_id=4,
            trace_id=bytes([4]) * 16,
            attributes={
                **LOGFIRE_NO_RAW,
                "gen_ai.usage.raw": '{"input_tokens": 50, "output_tokens": 180, "cache_read_input_tokens": 4096,'
                ' "cache_creation_input_tokens": 1104}',
            },
        ),
        SpanSpec(span_id=5, trace_id=bytes([5]) * 16, attributes=without(LOGFIRE_NO_RAW, *_TOKENS)),  # no counts
    ]
    events = run(*spans).events
    assert [event.call_detail for event in events] == [4, 2, 3, 4, 0]
    assert [event.input_tokens for event in events] == [5250, 50, 50, 5250, 0]


def test_estimated_counts_rank_between_none_and_reported() -> None:
    attributes = {**without(LOGFIRE_NO_RAW, *_TOKENS), "gen_ai.prompt": "Hello there", "gen_ai.completion": "Hi"}
    event = run(SpanSpec(attributes=attributes), config=NormalizeConfig(strict_token_counts=False)).events[0]
    assert (event.tokens_estimated, event.call_detail) == (True, 1)


@pytest.mark.parametrize("child_first", [False, True])
def test_a_client_span_nested_in_pydantic_ai_chat_is_one_event(child_first: bool) -> None:
    spans = [
        SpanSpec(name="agent run", span_id=1, attributes={"gen_ai.agent.name": "support", "customer.id": "acme"}),
        SpanSpec(name="chat claude-sonnet-4-5", span_id=2, parent_id=1, attributes=PYDANTIC_AI),
        SpanSpec(name="chat claude-sonnet-4-5", span_id=3, parent_id=2, attributes=ANTHROPIC_OWN),
    ]
    if child_first:
        spans.reverse()
    result = run(*spans)
    # Both report cache read and write and the same tokens; pydantic-ai also reports a cost, so its span stands.
    assert [(event.span_id, event.call_key) for event in result.events] == [(span_id_bytes(2), KEY)]
    event = result.events[0]
    assert (event.input_tokens, event.cache_read_tokens, event.cache_write_tokens, event.output_tokens) == (
        5250,
        4096,
        1104,
        180,
    )
    assert str(event.reported_cost) == "0.0082188"
    assert (result.duplicates, result.ignored_non_model_call) == (1, 0)
    assert result.ignored_non_genai == 1  # the agent run span carries no GenAI key here


def test_the_most_detailed_nested_span_wins_and_the_agent_parent_stays_unpriced() -> None:
    result = run(
        SpanSpec(
            name="invoke_agent support",
            span_id=1,
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.request.model": "claude-sonnet-4-5",
                "gen_ai.usage.input_tokens": 10500,
                "gen_ai.usage.output_tokens": 360,
            },
        ),
        SpanSpec(name="chat claude-sonnet-4-5", span_id=2, parent_id=1, attributes=LOGFIRE_NO_RAW),
        SpanSpec(name="chat claude-sonnet-4-5", span_id=3, parent_id=2, attributes=ANTHROPIC_OWN),
    )
    assert [(event.span_id, event.input_tokens, event.call_detail) for event in result.events] == [
        (span_id_bytes(3), 5250, 4)
    ]
    assert (result.duplicates, result.ignored_non_model_call) == (1, 1)


def test_a_nested_span_without_response_id_joins_its_call_and_lends_it_the_key() -> None:
    parent = without(PYDANTIC_AI, "gen_ai.response.id", "operation.cost")  # ranks first: it comes first in id order
    result = run(
        SpanSpec(span_id=1, attributes=parent),
        SpanSpec(name="HTTP POST", span_id=2, parent_id=1, attributes={"http.request.method": "POST"}),
        SpanSpec(span_id=3, parent_id=2, attributes=ANTHROPIC_OWN),  # an ancestor, not the parent
    )
    assert [(event.span_id, event.call_key) for event in result.events] == [(span_id_bytes(1), KEY)]
    assert result.duplicates == 1


def test_nested_spans_of_different_calls_stay_apart() -> None:
    other_response = {**ANTHROPIC_OWN, "gen_ai.response.id": "msg_other"}
    other_model = {**without(ANTHROPIC_OWN, "gen_ai.response.id"), "gen_ai.request.model": "claude-haiku-4-5"}
    other_model["gen_ai.response.model"] = "claude-haiku-4-5-20251001"
    other_provider = {**without(ANTHROPIC_OWN, "gen_ai.response.id"), "gen_ai.provider.name": "aws.bedrock"}
    for child in (other_response, other_model, other_provider):
        result = run(SpanSpec(span_id=1, attributes=ANTHROPIC_OWN), SpanSpec(span_id=2, parent_id=1, attributes=child))
        assert [event.span_id for event in result.events] == [span_id_bytes(1), span_id_bytes(2)], child
        assert result.duplicates == 0


def test_a_keyless_wrapper_never_joins_two_responses() -> None:
    wrapper = without(ANTHROPIC_OWN, "gen_ai.response.id")
    result = run(
        SpanSpec(span_id=1, attributes=wrapper),
        SpanSpec(span_id=2, parent_id=1, attributes=ANTHROPIC_OWN),
        SpanSpec(span_id=3, parent_id=1, attributes={**ANTHROPIC_OWN, "gen_ai.response.id": "msg_retry"}),
    )
    # The wrapper joins the first response; the second stays its own call.
    assert [(event.span_id, event.call_key) for event in result.events] == [
        (span_id_bytes(1), KEY),
        (span_id_bytes(3), call_event_key(TRACE_ID, "msg_retry")),
    ]


def test_siblings_with_one_response_id_are_one_event_ranked_by_tokens_then_id() -> None:
    result = run(
        SpanSpec(span_id=7, attributes=ANTHROPIC_OWN),
        SpanSpec(span_id=5, attributes=ANTHROPIC_OWN),
        SpanSpec(span_id=6, attributes={**ANTHROPIC_OWN, "gen_ai.usage.output_tokens": 170}),
        SpanSpec(span_id=8, trace_id=OTHER_TRACE, attributes=ANTHROPIC_OWN),  # another trace: another call
    )
    assert [event.span_id for event in result.events] == [span_id_bytes(5), span_id_bytes(8)]
    assert result.duplicates == 2


def test_folded_spans_leave_the_counters() -> None:
    anonymous = without(ANTHROPIC_OWN, "customer.id")
    result = run(
        SpanSpec(span_id=1, attributes={**anonymous, "gen_ai.usage.output_tokens": 100}),
        SpanSpec(span_id=2, parent_id=1, attributes=anonymous),
        SpanSpec(span_id=3, trace_id=OTHER_TRACE, attributes=anonymous),
    )
    assert [event.customer_id for event in result.events] == [UNATTRIBUTED, UNATTRIBUTED]
    assert (result.unattributed, result.duplicates) == (2, 1)


def test_a_parent_cycle_is_harmless() -> None:
    result = run(
        SpanSpec(span_id=1, parent_id=2, attributes=ANTHROPIC_OWN),
        SpanSpec(span_id=2, parent_id=1, attributes={**ANTHROPIC_OWN, "gen_ai.response.id": "msg_other"}),
    )
    assert len(result.events) == 2
