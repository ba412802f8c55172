"""Spellings of model names: gateway prefixes, Vertex paths, Bedrock ids and loose variants."""

from __future__ import annotations

from otel_margin_backend.pricing.names import Spelling, loose_variants, spellings


def test_gateway_prefixes_are_peeled_one_at_a_time() -> None:
    assert spellings("openrouter/anthropic/claude-3.5-sonnet") == [
        Spelling("openrouter/anthropic/claude-3.5-sonnet"),
        Spelling("anthropic/claude-3.5-sonnet", "openrouter", "gateway prefix 'openrouter/' removed"),
        Spelling("claude-3.5-sonnet", "anthropic", "gateway prefix 'anthropic/' removed"),
    ]


def test_a_vendor_path_that_is_no_provider_stays() -> None:
    assert spellings("meta-llama/llama-3.3-70b-instruct") == [Spelling("meta-llama/llama-3.3-70b-instruct")]


def test_vertex_resource_path() -> None:
    assert spellings("projects/p/locations/europe-west4/publishers/anthropic/models/claude-3-5-haiku@20241022")[1] == (
        Spelling(
            "claude-3-5-haiku@20241022",
            "google",
            "Vertex AI resource path (publisher 'anthropic') → 'claude-3-5-haiku@20241022'",
        )
    )


def test_bedrock_arn() -> None:
    arn = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0"
    assert spellings(arn)[1].model == "eu.anthropic.claude-3-haiku-20240307-v1:0"


def test_loose_variants() -> None:
    assert [name for name, _ in loose_variants("us.anthropic.claude-3-7-sonnet-20250219-v1:0")] == [
        "anthropic.claude-3-7-sonnet-20250219-v1:0",
        "anthropic.claude-3-7-sonnet-20250219",
        "claude-3-7-sonnet-20250219",
        "claude-3-7-sonnet",
    ]
    assert [name for name, _ in loose_variants("gemini-1.5-pro@002")] == ["gemini-1.5-pro"]
    assert [name for name, _ in loose_variants("gpt-4-0613")] == ["gpt-4"]
    assert loose_variants("llama3-70b-8192") == []  # 8192 is a context length, not a date
