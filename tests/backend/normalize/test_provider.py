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
def test_normalize_provider(raw: str, expected: str) -> None:
    assert normalize_provider(raw) == expected
