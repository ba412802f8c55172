"""Provider spellings from every convention map to the current gen_ai.provider.name values."""

from __future__ import annotations

import pytest

from otel_margin_backend.normalize.provider import normalize_provider


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("openai", "openai"),
        ("OpenAI", "openai"),
        ("Anthropic", "anthropic"),
        ("az.ai.openai", "azure.ai.openai"),
        ("az.ai.inference", "azure.ai.inference"),
        ("azure", "azure.ai.openai"),
        ("vertex_ai", "gcp.vertex_ai"),
        ("vertexai", "gcp.vertex_ai"),
        ("gemini", "gcp.gemini"),
        ("google", "gcp.gen_ai"),
        ("xai", "x_ai"),
        ("aws", "aws.bedrock"),
        ("AWS", "aws.bedrock"),
        ("aws.bedrock", "aws.bedrock"),
        ("MistralAI", "mistral_ai"),
        ("Watsonx", "ibm.watsonx.ai"),
        ("ibm.watsonx.ai", "ibm.watsonx.ai"),
        ("gcp.gen_ai", "gcp.gen_ai"),
        (" deepseek ", "deepseek"),
        ("TogetherAI", "togetherai"),
        ("", ""),
    ],
)
def test_normalize_provider_other_conventions(raw: str, expected: str) -> None:
    assert normalize_provider(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Vercel AI SDK provider ids: one provider whatever API of it was called
        ("openai.chat", "openai"),
        ("openai.responses", "openai"),
        ("openai.completion", "openai"),
        ("openai.embedding", "openai"),
        ("anthropic.messages", "anthropic"),
        ("google.generative-ai", "gcp.gemini"),
        ("google.vertex.chat", "gcp.vertex_ai"),
        ("google.vertex.anthropic.messages", "gcp.vertex_ai"),
        ("google-vertex", "gcp.vertex_ai"),
        ("amazon-bedrock", "aws.bedrock"),
        ("amazon-bedrock.chat", "aws.bedrock"),
        ("azure.chat", "azure.ai.openai"),
        ("azure.responses", "azure.ai.openai"),
        ("azure-openai.chat", "azure.ai.openai"),
        ("mistral.chat", "mistral_ai"),
        ("xai.chat", "x_ai"),
        ("groq.chat", "groq"),
        ("deepseek.chat", "deepseek"),
        ("cohere.chat", "cohere"),
        ("perplexity", "perplexity"),
        # well-known dotted values are left alone; an OpenAI-compatible server is not OpenAI
        ("azure.ai.openai", "azure.ai.openai"),
        ("azure.ai.inference", "azure.ai.inference"),
        ("gcp.vertex_ai", "gcp.vertex_ai"),
        ("openai-compatible.chat", "openai-compatible.chat"),
        ("lmstudio.chat", "lmstudio.chat"),
        ("OpenAI.Chat", "openai"),
    ],
)
def test_normalize_provider_ai_sdk(raw: str, expected: str) -> None:
    assert normalize_provider(raw) == expected
