"""Which GenAI spans are model calls, and the operation inferred when gen_ai.operation.name is missing."""

from __future__ import annotations

import pytest

from otel_margin_backend.normalize.operation import classify_operation


def classify(
    operation: str | None = None,
    span_name: str = "",
    request_type: str | None = None,
    oi_kind: str | None = None,
    tl_kind: str | None = None,
    has_tokens: bool = True,
    has_model: bool = True,
    ai_sdk: str | None = None,
) -> tuple[bool, str | None]:
    return classify_operation(
        ai_sdk_operation=ai_sdk,
        operation=operation,
        span_name=span_name,
        request_type=request_type,
        openinference_kind=oi_kind,
        traceloop_kind=tl_kind,
        has_tokens=has_tokens,
        has_model=has_model,
    )


@pytest.mark.parametrize("op", ["chat", "text_completion", "generate_content", "embeddings", "responses", "CHAT"])
def test_inference_operations_are_model_calls_even_without_tokens(op: str) -> None:
    assert classify(operation=op, has_tokens=False) == (True, op.lower())


@pytest.mark.parametrize(
    "op", ["invoke_agent", "create_agent", "execute_tool", "invoke_workflow", "retrieval", "plan", "fetch_response"]
)
def test_agent_tool_and_workflow_operations_are_never_priced(op: str) -> None:
    assert classify(operation=op, has_tokens=True, has_model=True) == (False, op)


@pytest.mark.parametrize(
    ("span_name", "expected"),
    [
        ("chat gpt-4o", "chat"),
        ("text_completion davinci-002", "text_completion"),
        ("embeddings text-embedding-3-small", "embeddings"),
        ("openai.chat", "chat"),
        ("anthropic.completion", "text_completion"),
        ("openai.embeddings", "embeddings"),
        ("openai.response", "responses"),
        ("vertexai.generate_content", "generate_content"),
    ],
)
def test_operation_from_span_name(span_name: str, expected: str) -> None:
    assert classify(span_name=span_name) == (True, expected)


def test_span_name_beats_openllmetry_request_type() -> None:
    # OpenLLMetry's Anthropic instrumentation labels Messages calls llm.request.type=completion.
    assert classify(span_name="anthropic.chat", request_type="completion") == (True, "chat")


@pytest.mark.parametrize(
    ("request_type", "expected"), [("chat", "chat"), ("completion", "text_completion"), ("embedding", "embeddings")]
)
def test_operation_from_request_type(request_type: str, expected: str) -> None:
    assert classify(span_name="MyWrapper", request_type=request_type) == (True, expected)


def test_unknown_request_type_is_not_an_operation() -> None:
    assert classify(span_name="MyWrapper", request_type="unknown") == (True, None)
    assert classify(span_name="MyWrapper", request_type="rerank", has_model=False) == (False, None)


def test_openinference_kinds() -> None:
    assert classify(span_name="ChatCompletion", oi_kind="LLM") == (True, "chat")
    assert classify(span_name="Embeddings", oi_kind="EMBEDDING") == (True, "embeddings")
    for kind in ("AGENT", "CHAIN", "TOOL", "RETRIEVER", "RERANKER", "GUARDRAIL", "EVALUATOR", "PROMPT"):
        assert classify(span_name="x", oi_kind=kind) == (False, None)


def test_traceloop_kinds_veto_even_an_inference_operation() -> None:
    for kind in ("workflow", "task", "agent", "tool"):
        assert classify(operation="chat", tl_kind=kind) == (False, "chat")


def test_pydantic_ai_agent_run_span_name() -> None:
    assert classify(span_name="agent run") == (False, "invoke_agent")
    assert classify(span_name="invoke_agent support") == (False, "invoke_agent")


def test_without_operation_tokens_and_model_make_a_model_call() -> None:
    assert classify(span_name="llm call") == (True, None)
    assert classify(span_name="llm call", has_model=False) == (False, None)
    assert classify(span_name="llm call", has_tokens=False) == (False, None)


def test_unknown_explicit_operation_follows_the_tokens_and_model_rule() -> None:
    assert classify(operation="image_generation") == (True, "image_generation")
    assert classify(operation="image_generation", has_tokens=False) == (False, "image_generation")


@pytest.mark.parametrize(
    ("operation_id", "expected"),
    [
        ("ai.generateText.doGenerate", (True, "chat")),
        ("ai.streamText.doStream", (True, "chat")),
        ("ai.generateObject.doGenerate", (True, "chat")),
        ("ai.streamObject.doStream", (True, "chat")),
        ("ai.embed.doEmbed", (True, "embeddings")),
        ("ai.embedMany.doEmbed", (True, "embeddings")),
        # the whole call: the same usage as the provider calls below it, never priced again
        ("ai.generateText", (False, "invoke_agent")),
        ("ai.streamText", (False, "invoke_agent")),
        ("ai.generateObject", (False, "invoke_agent")),
        ("ai.streamObject", (False, "invoke_agent")),
        ("ai.embed", (False, "embeddings")),
        ("ai.embedMany", (False, "embeddings")),
        ("ai.toolCall", (False, "execute_tool")),
    ],
)
def test_ai_sdk_operation_id_decides(operation_id: str, expected: tuple[bool, str]) -> None:
    assert classify(ai_sdk=operation_id, span_name=operation_id, has_tokens=True, has_model=True) == expected


def test_unknown_ai_sdk_operation_id_falls_back_to_the_other_rules() -> None:
    assert classify(ai_sdk="ai.rerank.doRerank", span_name="ai.rerank.doRerank", has_tokens=False) == (False, None)
    assert classify(ai_sdk="ai.somethingNew", operation="chat") == (True, "chat")


def test_ai_sdk_7_step_span_is_never_priced() -> None:
    assert classify(operation="agent_step", span_name="step 1", has_tokens=True, has_model=True) == (
        False,
        "agent_step",
    )
