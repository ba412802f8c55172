"""The stage end to end on real protobuf requests: what is priced, attribution, features, estimates, rejections."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from otel_margin_backend.normalize import CharsPerTokenCounter, NormalizeConfig, Normalizer, NormalizeResult
from otel_margin_backend.pipeline.events import NO_FEATURE, UNATTRIBUTED, UsageStatus
from tests.backend.normalize.builders import SpanSpec, build_request, span_id_bytes

OTHER_TRACE = bytes.fromhex("11111111111111111111111111111111")
REMOTE_PARENT = 0x300


def chat(span_id: int = 2, parent_id: int | None = 1, **extra: object) -> SpanSpec:
    attributes: dict[str, object] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 20,
    }
    attributes.update({key: value for key, value in extra.items() if key != "name"})
    for key, value in list(attributes.items()):
        if value is None:
            del attributes[key]
    return SpanSpec(
        name=str(extra.get("name", "chat gpt-4o")), attributes=attributes, span_id=span_id, parent_id=parent_id
    )


def with_attrs(spec: SpanSpec, attributes: Mapping[str, object]) -> SpanSpec:
    spec.attributes = {**spec.attributes, **attributes}
    return spec


def run(
    *spans: SpanSpec, config: NormalizeConfig | None = None, resource: Mapping[str, object] | None = None
) -> NormalizeResult:
    normalizer = Normalizer(config or NormalizeConfig(), token_counter=CharsPerTokenCounter())
    return normalizer.normalize(build_request(*spans, resource=resource))


def test_agent_parent_with_model_child_prices_only_the_child() -> None:
    result = run(
        SpanSpec(name="POST /plan", span_id=1, attributes={"http.request.method": "POST", "customer.id": "acme"}),
        SpanSpec(
            name="invoke_agent planner",
            span_id=2,
            parent_id=1,
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "planner",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 300,
                "gen_ai.usage.output_tokens": 60,
                "customer.id": "acme",
            },
        ),
        chat(
            span_id=3,
            parent_id=2,
            **{"customer.id": "acme", "gen_ai.usage.input_tokens": 200, "gen_ai.usage.output_tokens": 40},
        ),
        chat(span_id=4, parent_id=2, **{"customer.id": "acme"}),
        SpanSpec(
            name="execute_tool search",
            span_id=5,
            parent_id=2,
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search", "customer.id": "acme"},
        ),
    )
    assert [event.span_id for event in result.events] == [span_id_bytes(3), span_id_bytes(4)]
    assert sum(event.input_tokens for event in result.events) == 300
    assert sum(event.output_tokens for event in result.events) == 60
    assert (result.ignored_non_genai, result.ignored_non_model_call, result.rejected) == (1, 2, 0)


def test_unattributed_bucket_is_counted() -> None:
    result = run(chat(span_id=1, parent_id=None), chat(span_id=2, parent_id=None, **{"customer.id": "acme"}))
    assert [event.customer_id for event in result.events] == [UNATTRIBUTED, "acme"]
    assert result.unattributed == 1
    assert result.rejected == 0


def test_strict_customer_rejects_only_the_spans_without_one() -> None:
    result = run(
        chat(span_id=1, parent_id=None),
        chat(span_id=2, parent_id=None, **{"customer.id": "acme"}),
        chat(span_id=3, parent_id=None),
        chat(span_id=4, parent_id=None, **{"customer.id": "  "}),
        config=NormalizeConfig(strict_customer=True),
    )
    assert [event.customer_id for event in result.events] == ["acme"]
    assert result.rejected == 3
    assert result.reasons == ["3 spans rejected: span has no customer (strict mode)"]
    assert result.error_message == "3 spans rejected: span has no customer (strict mode)"
    assert result.unattributed == 0


def test_customer_key_order_beats_span_before_resource() -> None:
    result = run(
        chat(span_id=1, parent_id=None, **{"gen_ai.user": "end-user-1"}),
        resource={"service.name": "svc", "customer.id": "tenant-from-resource"},
    )
    assert result.events[0].customer_id == "tenant-from-resource"


def test_span_value_beats_resource_value_for_the_same_key() -> None:
    result = run(
        chat(span_id=1, parent_id=None, **{"customer.id": "span-tenant"}),
        resource={"service.name": "svc", "customer.id": "resource-tenant", "deployment.environment.name": "prod"},
    )
    event = result.events[0]
    assert (event.customer_id, event.environment, event.service) == ("span-tenant", "prod", "svc")


def test_integer_customer_id_is_kept_as_text() -> None:
    result = run(chat(span_id=1, parent_id=None, **{"customer.id": 4711}))
    assert result.events[0].customer_id == "4711"


def test_custom_customer_keys() -> None:
    config = NormalizeConfig(customer_keys=("tenant.id",))
    result = run(chat(span_id=1, parent_id=None, **{"tenant.id": "t-9", "customer.id": "ignored"}), config=config)
    assert result.events[0].customer_id == "t-9"


def test_feature_from_root_span_name() -> None:
    result = run(
        SpanSpec(name="POST /v1/summarize", span_id=1, attributes={"http.request.method": "POST"}),
        SpanSpec(name="summarize_document", span_id=2, parent_id=1),
        chat(span_id=3, parent_id=2),
        chat(span_id=4, parent_id=2, **{"feature.name": "explicit"}),
    )
    assert [event.feature for event in result.events] == ["POST /v1/summarize", "explicit"]


def test_feature_root_found_whatever_the_order_in_the_request() -> None:
    result = run(chat(span_id=3, parent_id=1), SpanSpec(name="GET /report", span_id=1))
    assert result.events[0].feature == "GET /report"


def test_feature_from_local_root_when_trace_root_is_in_another_service() -> None:
    entry = SpanSpec(name="consume orders", span_id=10, parent_id=99, flags=REMOTE_PARENT)
    middle = SpanSpec(name="handle_order", span_id=11, parent_id=10)
    result = run(entry, middle, chat(span_id=12, parent_id=11))
    assert result.events[0].feature == "consume orders"


def test_feature_none_when_no_root_is_in_the_request() -> None:
    # The parent was exported in another batch and is not flagged remote: nothing to name the feature after.
    result = run(SpanSpec(name="handle", span_id=11, parent_id=10), chat(span_id=12, parent_id=11))
    assert result.events[0].feature == NO_FEATURE


def test_model_call_that_is_its_own_root_names_the_feature() -> None:
    result = run(chat(span_id=1, parent_id=None, name="chat gpt-4o"))
    assert result.events[0].feature == "chat gpt-4o"


def test_roots_are_per_trace() -> None:
    other = SpanSpec(name="other root", span_id=1, trace_id=OTHER_TRACE)
    result = run(other, SpanSpec(name="mine", span_id=1), chat(span_id=2, parent_id=1))
    assert result.events[0].feature == "mine"


def test_feature_from_openllmetry_workflow_name() -> None:
    result = run(
        chat(span_id=2, parent_id=1, **{"traceloop.workflow.name": "answer"}), SpanSpec(name="root", span_id=1)
    )
    assert result.events[0].feature == "answer"


def test_missing_usage_with_strict_token_counts() -> None:
    span = chat(
        span_id=1,
        parent_id=None,
        **{
            "gen_ai.usage.input_tokens": None,
            "gen_ai.usage.output_tokens": None,
            "gen_ai.prompt.0.content": "x" * 40,
        },
    )
    result = run(span)
    event = result.events[0]
    assert (event.status, event.input_tokens, event.output_tokens, event.tokens_estimated) == (
        UsageStatus.MISSING_USAGE,
        0,
        0,
        False,
    )
    assert (result.missing_usage, result.estimated) == (1, 0)


def test_estimation_flag_and_exact_counts() -> None:
    span = chat(
        span_id=1,
        parent_id=None,
        **{
            "gen_ai.usage.input_tokens": None,
            "gen_ai.usage.output_tokens": None,
            "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "' + "a" * 437 + '"}]}]',
            "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "'
            + "b" * 40
            + '"}]}]',
        },
    )
    result = run(span, config=NormalizeConfig(strict_token_counts=False))
    event = result.events[0]
    # input: ceil(437 / 4) = 110 tokens, * 1.1 = 121.0 -> 121; output: 10 tokens * 1.1 = 11
    assert (event.input_tokens, event.output_tokens, event.cache_read_tokens, event.reasoning_tokens) == (121, 11, 0, 0)
    assert event.tokens_estimated is True
    assert event.status is UsageStatus.UNPRICED
    assert event.attributes == {"otel_margin.token_estimator": "chars/4"}
    assert (result.estimated, result.missing_usage) == (1, 0)


def test_estimation_factor_is_configurable() -> None:
    span = chat(
        span_id=1,
        parent_id=None,
        **{
            "gen_ai.usage.input_tokens": None,
            "gen_ai.usage.output_tokens": None,
            "gen_ai.prompt.0.content": "c" * 41,
        },
    )
    config = NormalizeConfig(strict_token_counts=False, token_estimate_factor=Decimal("1.5"))
    event = run(span, config=config).events[0]
    assert (event.input_tokens, event.output_tokens) == (17, 0)  # ceil(41/4)=11, * 1.5 = 16.5 -> 17


def test_estimation_without_any_text_is_missing_usage() -> None:
    span = chat(span_id=1, parent_id=None, **{"gen_ai.usage.input_tokens": None, "gen_ai.usage.output_tokens": None})
    result = run(span, config=NormalizeConfig(strict_token_counts=False))
    assert result.events[0].status is UsageStatus.MISSING_USAGE
    assert result.events[0].tokens_estimated is False
    assert (result.missing_usage, result.estimated) == (1, 0)


def test_reported_counts_are_never_replaced_by_estimates() -> None:
    span = chat(span_id=1, parent_id=None, **{"gen_ai.prompt.0.content": "x" * 4000})
    event = run(span, config=NormalizeConfig(strict_token_counts=False)).events[0]
    assert (event.input_tokens, event.output_tokens, event.tokens_estimated) == (100, 20, False)


def test_bad_values_rejected_while_valid_spans_are_kept() -> None:
    result = run(
        chat(span_id=1, parent_id=None, **{"customer.id": "acme"}),
        chat(span_id=2, parent_id=None, **{"gen_ai.usage.input_tokens": -5}),
        chat(span_id=3, parent_id=None, **{"gen_ai.usage.output_tokens": 2_000_000_000}),
        chat(span_id=4, parent_id=None, **{"gen_ai.usage.input_tokens": 12.5}),
        chat(span_id=5, parent_id=None, **{"gen_ai.usage.input_tokens": "many"}),
        chat(span_id=6, parent_id=None, **{"gen_ai.request.model": None}),
        chat(span_id=7, parent_id=None, **{"gen_ai.usage.input_tokens": -1}),
        chat(span_id=8, parent_id=None, **{"customer.id": "globex"}),
    )
    assert [(event.span_id, event.customer_id) for event in result.events] == [
        (span_id_bytes(1), "acme"),
        (span_id_bytes(8), "globex"),
    ]
    assert result.rejected == 6
    assert result.reasons == [
        "2 spans rejected: token count gen_ai.usage.input_tokens is negative",
        "2 spans rejected: token count gen_ai.usage.input_tokens is not a whole number",
        "1 span rejected: model call names no model (gen_ai.request.model or gen_ai.response.model)",
        "1 span rejected: token count gen_ai.usage.output_tokens is above 1,000,000,000 (not one plausible call)",
    ]


def test_bad_identity_and_time_are_rejected() -> None:
    no_start = chat(span_id=1, parent_id=None)
    no_start.start_ns = 0
    zero_span_id = chat(span_id=0, parent_id=None)
    short_trace = chat(span_id=3, parent_id=None)
    short_trace.trace_id = b"\x01" * 8
    result = run(no_start, zero_span_id, short_trace, chat(span_id=4, parent_id=None))
    assert len(result.events) == 1
    assert sorted(result.rejection_counts) == [
        "span has an invalid span_id (must be 8 bytes, not all zero)",
        "span has an invalid trace_id (must be 16 bytes, not all zero)",
        "span has no start_time_unix_nano",
    ]


def test_non_model_spans_are_never_rejected_for_bad_tokens() -> None:
    agent = SpanSpec(
        name="invoke_agent x",
        span_id=1,
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.usage.input_tokens": -3},
    )
    result = run(agent)
    assert (result.rejected, result.ignored_non_model_call) == (0, 1)


def test_reported_cost_is_exact_and_sourced() -> None:
    span = chat(span_id=1, parent_id=None, **{"gen_ai.usage.cost": 0.1 + 0.2, "llm.cost.total": "9"})
    event = run(span).events[0]
    assert (event.reported_cost, event.reported_cost_source) == (Decimal("0.30000000000000004"), "gen_ai.usage.cost")


def test_reported_cost_from_string_and_int() -> None:
    assert run(chat(span_id=1, parent_id=None, **{"llm.cost.total": "0.000125"})).events[0].reported_cost == Decimal(
        "0.000125"
    )
    assert run(chat(span_id=1, parent_id=None, **{"operation.cost": 2})).events[0].reported_cost == Decimal("2")


def test_unusable_reported_cost_is_dropped_and_noted() -> None:
    span = chat(span_id=1, parent_id=None, **{"gen_ai.usage.cost": -0.5, "operation.cost": "0.002"})
    event = run(span).events[0]
    assert (event.reported_cost, event.reported_cost_source) == (Decimal("0.002"), "operation.cost")
    assert event.attributes == {"otel_margin.invalid_reported_cost": "gen_ai.usage.cost"}
    nan = run(chat(span_id=1, parent_id=None, **{"llm.cost.total": float("nan")})).events[0]
    assert (nan.reported_cost, nan.attributes) == (None, {"otel_margin.invalid_reported_cost": "llm.cost.total"})


def test_event_identity_and_time() -> None:
    span = chat(span_id=5, parent_id=None)
    span.start_ns = 1_700_000_000_999_999_999
    event = run(span).events[0]
    assert event.event_id == event.trace_id + event.span_id  # type: ignore[operator]
    assert event.span_id == span_id_bytes(5)
    assert event.time.isoformat() == "2023-11-14T22:13:20.999999+00:00"
    assert event.status is UsageStatus.UNPRICED
    assert (event.cost_total, event.price_version) == (None, None)


def test_accepts_resource_spans_sequence() -> None:
    request = build_request(chat(span_id=1, parent_id=None))
    result = Normalizer().normalize(request.resource_spans)
    assert len(result.events) == 1


def test_empty_request() -> None:
    result = Normalizer().normalize(build_request())
    assert result == NormalizeResult()
    assert result.error_message == ""


def test_same_request_gives_the_same_result() -> None:
    request = build_request(chat(span_id=1, parent_id=None), SpanSpec(name="root", span_id=9))
    normalizer = Normalizer()
    assert normalizer.normalize(request) == normalizer.normalize(request)


def test_response_model_is_the_grouping_model() -> None:
    spec = with_attrs(chat(span_id=1, parent_id=None), {"gen_ai.response.model": "gpt-4o-2024-08-06"})
    event = run(spec).events[0]
    assert (event.request_model, event.response_model, event.model) == (
        "gpt-4o",
        "gpt-4o-2024-08-06",
        "gpt-4o-2024-08-06",
    )


def test_all_zero_parent_id_is_a_root() -> None:
    root = SpanSpec(name="POST /zero", span_id=1, parent_id=0)
    result = run(root, chat(span_id=2, parent_id=1))
    assert result.events[0].feature == "POST /zero"
