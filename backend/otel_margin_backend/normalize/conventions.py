"""Every attribute name the stage reads, per concept, in precedence order (first present wins).

One table per concept so a reader can check a convention against reference/semconv-pricing.md in one place;
``README.md`` in this folder gives the same mapping with the instrumentation and era of each name.
"""

from __future__ import annotations

# --- token counts -------------------------------------------------------------------------------------------------
INPUT_TOKEN_KEYS = (
    "gen_ai.usage.input_tokens",  # OTel >= 1.27, OpenLLMetry >= 0.48, openai-v2, OpenLIT, Logfire, pydantic-ai
    "gen_ai.usage.prompt_tokens",  # OTel <= 1.26; OpenLLMetry <= 0.47
    "llm.usage.prompt_tokens",  # earliest OpenLLMetry
    "llm.token_count.prompt",  # OpenInference
    "ai.usage.inputTokens",  # Vercel AI SDK >= 5 (ai.* spans; doGenerate/doStream also send gen_ai.usage.input_tokens)
    "ai.usage.promptTokens",  # Vercel AI SDK <= 4
)
OUTPUT_TOKEN_KEYS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.usage.completion_tokens",
    "llm.token_count.completion",
    "ai.usage.outputTokens",  # Vercel AI SDK >= 5
    "ai.usage.completionTokens",  # Vercel AI SDK <= 4
)
CACHE_READ_KEYS = (
    "gen_ai.usage.cache_read.input_tokens",  # OTel >= 1.40; OpenLLMetry >= 0.55; util-genai; OpenLIT
    "gen_ai.usage.cache_read_input_tokens",  # OpenLLMetry 0.48-0.54, Sentry
    "gen_ai.usage.input_tokens.cached",  # Sentry
    "gen_ai.usage.cache_read_tokens",  # seen in the wild (Langfuse accepts it)
    "gen_ai.usage.details.cache_read_tokens",  # pydantic-ai
    "llm.token_count.prompt_details.cache_read",  # OpenInference
    "ai.usage.inputTokenDetails.cacheReadTokens",  # Vercel AI SDK >= 6
    "ai.usage.cachedInputTokens",  # Vercel AI SDK 5 (6 and 7 still send it, same value)
)
CACHE_WRITE_KEYS = (
    "gen_ai.usage.cache_write.input_tokens",  # OTel GenAI repo (after 1.41)
    "gen_ai.usage.cache_creation.input_tokens",  # OTel 1.40-1.41; OpenLLMetry Anthropic; util-genai; OpenLIT
    "gen_ai.usage.cache_creation_input_tokens",  # OpenLLMetry 0.48-0.54, Sentry
    "gen_ai.usage.input_tokens.cache_write",  # Sentry
    "gen_ai.usage.cache_write_tokens",  # seen in the wild
    "gen_ai.usage.details.cache_write_tokens",  # pydantic-ai
    "llm.token_count.prompt_details.cache_write",  # OpenInference
    "ai.usage.inputTokenDetails.cacheWriteTokens",  # Vercel AI SDK >= 6 (Anthropic, Bedrock; OpenAI reports none)
)
REASONING_KEYS = (
    "gen_ai.usage.reasoning.output_tokens",  # OTel >= 1.41; util-genai
    "gen_ai.usage.reasoning_tokens",  # OpenLLMetry, OpenLIT
    "gen_ai.usage.output_tokens.reasoning",  # Sentry
    "gen_ai.usage.details.reasoning_tokens",  # pydantic-ai
    "llm.token_count.completion_details.reasoning",  # OpenInference
    "ai.usage.outputTokenDetails.reasoningTokens",  # Vercel AI SDK >= 6; @ai-sdk/otel's OpenTelemetry({usage: true})
    "ai.usage.reasoningTokens",  # Vercel AI SDK 5 (6 and 7 still send it, same value)
)
TOTAL_TOKEN_KEYS = (
    "gen_ai.usage.total_tokens",  # OpenLLMetry >= 0.55, OpenLIT
    "llm.usage.total_tokens",  # OpenLLMetry <= 0.54
    "llm.token_count.total",  # OpenInference
    "ai.usage.totalTokens",  # Vercel AI SDK >= 5
    "ai.usage.tokens",  # Vercel AI SDK embed spans (all input)
)
RAW_USAGE_KEY = "gen_ai.usage.raw"
"""Logfire: the provider's usage object as JSON; the only place its Anthropic spans carry cache counts."""

TOKEN_KEYS = (
    INPUT_TOKEN_KEYS + OUTPUT_TOKEN_KEYS + CACHE_READ_KEYS + CACHE_WRITE_KEYS + REASONING_KEYS + TOTAL_TOKEN_KEYS
)

# --- what was called ----------------------------------------------------------------------------------------------
PROVIDER_KEYS = (
    "gen_ai.provider.name",  # OTel >= 1.37
    "gen_ai.system",  # OTel < 1.37; OpenLLMetry <= 0.54; openai-v2 default
    "llm.provider",  # OpenInference (hosting provider: azure, aws, google, ...)
    "llm.system",  # OpenInference (model family: openai, anthropic, ...)
    "llm.vendor",  # earliest OpenLLMetry
    "ai.model.provider",  # Vercel AI SDK: openai.chat, openai.responses, anthropic.messages, ... (provider.py)
)
REQUEST_MODEL_KEYS = (
    "gen_ai.request.model",
    "llm.request.model",  # earliest OpenLLMetry
    "llm.request.model_name",  # OpenInference
    "llm.model_name",  # OpenInference
    "embedding.model_name",  # OpenInference embedding spans
    "ai.model.id",  # Vercel AI SDK (ai.* spans)
)
RESPONSE_MODEL_KEYS = (
    "gen_ai.response.model",
    "llm.response.model",  # earliest OpenLLMetry
    "llm.response.model_name",  # OpenInference
    "ai.response.model",  # Vercel AI SDK (ai.* spans)
)
RESPONSE_ID_KEYS = (
    "gen_ai.response.id",  # OTel; OpenLLMetry >= 0.48, openai-v2, util-genai, OpenLIT, Logfire, pydantic-ai
    "llm.response.id",  # earliest OpenLLMetry, OpenLLMetry JS and others
    "ai.response.id",  # Vercel AI SDK
)
"""The provider's id of the response: with the trace id, the identity of one call (OpenInference sends none). Read
only on model calls; never makes a span GenAI on its own."""
OPERATION_KEY = "gen_ai.operation.name"
REQUEST_TYPE_KEY = "llm.request.type"  # OpenLLMetry <= 0.54: chat, completion, embedding, rerank
OPENINFERENCE_KIND_KEY = "openinference.span.kind"
TRACELOOP_KIND_KEY = "traceloop.span.kind"
AI_SDK_OPERATION_KEY = "ai.operationId"
"""Vercel AI SDK (``ai.*`` spans): ``ai.generateText`` (the whole call, usage summed over steps) or
``ai.generateText.doGenerate`` (one provider call). Read only on GenAI spans; never makes a span GenAI on its own."""

# --- provider-reported cost ---------------------------------------------------------------------------------------
COST_KEYS = (
    "gen_ai.usage.cost",  # OpenLIT
    "llm.cost.total",  # OpenInference
    "operation.cost",  # Logfire, pydantic-ai
)

# --- who emitted it -----------------------------------------------------------------------------------------------
SDK_NAME_KEY = "telemetry.sdk.name"
"""OpenLIT stamps ``openlit`` here (span and resource); its Anthropic input count excludes cache tokens."""
SERVICE_NAME_KEY = "service.name"

GENAI_KEYS = frozenset(
    (
        *TOKEN_KEYS,
        RAW_USAGE_KEY,
        *PROVIDER_KEYS,
        *REQUEST_MODEL_KEYS,
        *RESPONSE_MODEL_KEYS,
        OPERATION_KEY,
        REQUEST_TYPE_KEY,
        OPENINFERENCE_KIND_KEY,
        TRACELOOP_KIND_KEY,
        *COST_KEYS,
    )
)
"""Keys whose presence makes a span a GenAI span. A span carrying none of them is ignored after one pass over its
attribute keys, without decoding any value."""
