"""Which GenAI spans are model calls, and what operation they performed.

Only model calls are priced. Agent, workflow, tool and retrieval spans often repeat the token totals of the calls
beneath them; pricing them too would count every token twice, so they are never model calls, whatever they carry.
Older instrumentations do not send ``gen_ai.operation.name``; the operation is then inferred from the span name
(``chat gpt-4o`` in the spec's form, ``openai.chat`` in OpenLLMetry's), ``llm.request.type`` or the OpenInference
span kind. Vercel AI SDK spans name their operation in ``ai.operationId`` instead, which wins over the rest.
"""

from __future__ import annotations

__all__ = ["INFERENCE_OPERATIONS", "NON_MODEL_OPERATIONS", "classify_operation"]

INFERENCE_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings", "responses"})
"""Operations that are one call to a model."""

NON_MODEL_OPERATIONS = frozenset(
    {
        "invoke_agent",
        "create_agent",
        "execute_tool",
        "invoke_workflow",
        "retrieval",
        "plan",
        "fetch_response",
        "agent_step",  # Vercel AI SDK 7 (@ai-sdk/otel OpenTelemetry): the `step {n}` span around one `chat` span
    }
)
"""Operations that wrap or follow model calls and are never priced themselves."""

_OPERATION_ALIASES = {
    "completion": "text_completion",
    "embedding": "embeddings",
    "response": "responses",
    "agent run": "invoke_agent",  # pydantic-ai's agent span name
}

_AI_SDK_WRAPPERS = {
    # The whole call: usage summed over its steps, the same numbers as the doGenerate/doStream spans below it.
    "ai.generateText": "invoke_agent",
    "ai.streamText": "invoke_agent",
    "ai.generateObject": "invoke_agent",
    "ai.streamObject": "invoke_agent",
    "ai.workflowAgent.stream": "invoke_agent",
    "ai.embed": "embeddings",
    "ai.embedMany": "embeddings",
    "ai.toolCall": "execute_tool",
}
"""Vercel AI SDK ``ai.operationId`` values of spans that wrap model calls, with the operation they stand for."""
_AI_SDK_CALL_SUFFIXES = {".doGenerate": "chat", ".doStream": "chat", ".doEmbed": "embeddings"}
"""``ai.generateText.doGenerate``, ``ai.streamObject.doStream``, ``ai.embedMany.doEmbed``: one provider call."""

_TRACELOOP_NON_MODEL_KINDS = frozenset({"workflow", "task", "agent", "tool"})
_OPENINFERENCE_MODEL_KINDS = {"LLM": "chat", "EMBEDDING": "embeddings"}
_OPENINFERENCE_OTHER_KINDS = frozenset(
    {"AGENT", "CHAIN", "TOOL", "RETRIEVER", "RERANKER", "GUARDRAIL", "EVALUATOR", "PROMPT"}
)
_KNOWN_OPERATIONS = INFERENCE_OPERATIONS | NON_MODEL_OPERATIONS


def _normalize(name: str) -> str:
    op = name.strip().lower()
    return _OPERATION_ALIASES.get(op, op)


def _from_span_name(span_name: str) -> str | None:
    """``chat gpt-4o`` (spec), ``openai.chat`` / ``anthropic.completion`` (OpenLLMetry), ``agent run`` (pydantic-ai)."""
    name = span_name.strip().lower()
    if name in _OPERATION_ALIASES:
        return _OPERATION_ALIASES[name]
    first = name.split(" ", 1)[0]
    if first in _KNOWN_OPERATIONS:
        return first
    if " " not in name and "." in name:
        suffix = _normalize(name.rsplit(".", 1)[1])
        if suffix in _KNOWN_OPERATIONS:
            return suffix
    return None


def _from_ai_sdk(operation_id: str) -> tuple[bool, str] | None:
    if operation_id in _AI_SDK_WRAPPERS:
        return False, _AI_SDK_WRAPPERS[operation_id]
    for suffix, operation in _AI_SDK_CALL_SUFFIXES.items():
        if operation_id.endswith(suffix):
            return True, operation
    return None


def classify_operation(
    *,
    operation: str | None,
    span_name: str,
    request_type: str | None,
    openinference_kind: str | None,
    traceloop_kind: str | None,
    has_tokens: bool,
    has_model: bool,
    ai_sdk_operation: str | None = None,
) -> tuple[bool, str | None]:
    """Decide whether a GenAI span is a model call.

    Args:
        operation: ``gen_ai.operation.name`` if sent.
        span_name: The span's name.
        request_type: OpenLLMetry's ``llm.request.type`` if sent.
        openinference_kind: ``openinference.span.kind`` if sent.
        traceloop_kind: ``traceloop.span.kind`` if sent.
        has_tokens: Whether the span carries any token count.
        has_model: Whether the span names a model.
        ai_sdk_operation: The Vercel AI SDK's ``ai.operationId`` if sent; it decides alone when it is one of the
            SDK's wrapper or provider-call operations.

    Returns:
        ``(is_model_call, operation)``; the operation is normalized (``completion`` -> ``text_completion``) and may
        be None when nothing names it. A span with no recognisable operation is a model call when it carries both
        token counts and a model.
    """
    if ai_sdk_operation is not None:
        decided = _from_ai_sdk(ai_sdk_operation.strip())
        if decided is not None:
            return decided
    if traceloop_kind is not None and traceloop_kind.strip().lower() in _TRACELOOP_NON_MODEL_KINDS:
        return False, _normalize(operation) if operation else None
    inferred_kind: str | None = None
    if openinference_kind is not None:
        kind = openinference_kind.strip().upper()
        if kind in _OPENINFERENCE_OTHER_KINDS:
            return False, _normalize(operation) if operation else None
        inferred_kind = _OPENINFERENCE_MODEL_KINDS.get(kind)

    op = _normalize(operation) if operation else None
    if not op:
        op = _from_span_name(span_name)
        if op is None and request_type and _normalize(request_type) in _KNOWN_OPERATIONS:
            op = _normalize(request_type)
        if op is None:
            op = inferred_kind
    if op in NON_MODEL_OPERATIONS:
        return False, op
    if op in INFERENCE_OPERATIONS:
        return True, op
    return has_tokens and has_model, op
