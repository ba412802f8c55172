"""Name resolution: every spelling spans use, the rule that resolved it, and what stays unresolved."""

from __future__ import annotations

import pytest
from genai_prices.data import providers

from otel_margin_backend.pricing.resolve import AliasTarget, Resolver
from otel_margin_backend.pricing.types import PriceSource


@pytest.fixture(scope="module")
def resolver() -> Resolver:
    return Resolver(
        providers,
        aliases={"prod-llm": AliasTarget(model="claude-sonnet-4-5", provider="anthropic")},
        custom_models=[("vllm", "llama-3.3-70b-internal"), (None, "acme-ft")],
        azure_deployments={"Chat-EU": "gpt-4o-mini"},
    )


@pytest.mark.parametrize(
    ("provider", "model", "provider_id", "model_id"),
    [
        ("openai", "gpt-4o-2024-08-06", "openai", "gpt-4o"),
        ("openai", "GPT-4o", "openai", "gpt-4o"),
        ("openai", "gpt-4o-2024-05-13", "openai", "gpt-4o-2024-05-13"),  # priced differently: its own entry
        ("openai", "openai/gpt-4o", "openai", "gpt-4o"),
        ("litellm", "openai/gpt-4o", "openai", "gpt-4o"),
        ("", "gpt-4o", "openai", "gpt-4o"),
        ("openrouter", "openrouter/anthropic/claude-3.5-sonnet", "openrouter", "anthropic/claude-3.5-sonnet"),
        ("openrouter", "anthropic/claude-3.5-sonnet", "openrouter", "anthropic/claude-3.5-sonnet"),
        ("litellm", "azure/gpt-4o", "azure", "gpt-4o"),
        ("litellm", "vertex_ai/gemini-1.5-pro-002", "google", "gemini-1.5-pro"),
        ("azure.ai.openai", "chat-eu", "azure", "gpt-4o-mini"),
        ("az.ai.openai", "CHAT-EU", "azure", "gpt-4o-mini"),
        (
            "aws.bedrock",
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "aws",
            "regional.anthropic.claude-3-5-sonnet-20240620-v1:0",
        ),
        (
            "aws.bedrock",
            "eu.anthropic.claude-3-5-sonnet-20240620-v1:0",
            "aws",
            "regional.anthropic.claude-3-5-sonnet-20240620-v1:0",
        ),
        (
            "aws.bedrock",
            "apac.anthropic.claude-sonnet-4-20250514-v1:0",
            "aws",
            "regional.anthropic.claude-sonnet-4-20250514-v1:0",
        ),
        (
            "aws.bedrock",
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "aws",
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        (
            "aws.bedrock",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
            "aws",
            "regional.anthropic.claude-3-haiku-20240307-v1:0",
        ),
        ("bedrock", "us.amazon.nova-pro-v1:0", "aws", "amazon.nova-pro-v1:0"),
        ("gcp.vertex_ai", "publishers/google/models/gemini-1.5-pro-002", "google", "gemini-1.5-pro"),
        (
            "gcp.vertex_ai",
            "projects/p1/locations/us-central1/publishers/google/models/gemini-2.0-flash-001",
            "google",
            "gemini-2.0-flash",
        ),
        ("gcp.vertex_ai", "claude-3-5-sonnet-v2@20241022", "google", "claude-3-5-sonnet"),
        ("vertex_ai", "claude-sonnet-4@20250514", "google", "claude-4-sonnet"),
        ("gcp.gemini", "gemini-2.5-flash", "google", "gemini-2.5-flash"),
        ("x_ai", "grok-3", "x-ai", "grok-3"),
        ("xai", "grok-4", "x-ai", "grok-4-0709"),
        ("mistral_ai", "mistral-large-latest", "mistral", "mistral-large"),
        ("groq", "openai/gpt-oss-120b", "groq", "openai/gpt-oss-120b"),
        ("deepseek", "deepseek-reasoner", "deepseek", "deepseek-reasoner"),
        ("anthropic", "claude-3.5-sonnet", "anthropic", "claude-3-5-sonnet"),
        (
            "together_ai",
            "meta-llama/llama-3.3-70b-instruct-turbo",
            "together",
            "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        ),
        ("anthropic", "prod-llm", "anthropic", "claude-sonnet-4-5"),  # alias
    ],
)
def test_resolves(resolver: Resolver, provider: str, model: str, provider_id: str, model_id: str) -> None:
    resolution = resolver.resolve(provider, model).resolution

    assert resolution.source is PriceSource.DATA, resolution.describe()
    assert (resolution.provider_id, resolution.model_id) == (provider_id, model_id)
    assert (resolution.provider, resolution.model) == (provider, model)


def test_azure_falls_back_to_openai_data(resolver: Resolver) -> None:
    resolution = resolver.resolve("azure.ai.openai", "chat-eu").resolution

    assert resolution.data_provider_id == "openai"
    assert resolution.steps == (
        "provider 'azure.ai.openai' → 'azure'",
        "Azure deployment 'chat-eu' → 'gpt-4o-mini'",
        "priced from 'openai' data (genai-prices fallback for 'azure')",
    )


def test_steps_say_how(resolver: Resolver) -> None:
    resolution = resolver.resolve("openrouter", "openrouter/anthropic/claude-3.5-sonnet").resolution

    assert resolution.steps == ("gateway prefix 'openrouter/' removed",)
    assert resolution.describe() == (
        "openrouter / openrouter/anthropic/claude-3.5-sonnet → data openrouter/anthropic/claude-3.5-sonnet "
        "(gateway prefix 'openrouter/' removed)"
    )


def test_loose_spellings_are_a_last_resort(resolver: Resolver) -> None:
    resolution = resolver.resolve("openai", "gpt-4.1-mini-2099-01-01").resolution

    assert resolution.model_id == "gpt-4.1-mini"
    assert "date suffix removed" in resolution.steps


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "my-finetune-v3"),
        ("openai", "llama-3.3-70b-versatile"),  # a known provider lacking the model: never borrowed
        ("ibm.watsonx.ai", "granite-99b"),
        ("openai", ""),
    ],
)
def test_unresolved(resolver: Resolver, provider: str, model: str) -> None:
    resolution = resolver.resolve(provider, model).resolution

    assert resolution.source is PriceSource.UNRESOLVED
    assert resolution.provider_id is None and resolution.model_id is None
    assert not resolution.resolved


def test_custom_models(resolver: Resolver) -> None:
    scoped = resolver.resolve("vllm", "llama-3.3-70b-internal")
    anywhere = resolver.resolve("openai", "openai/acme-ft")
    other_provider = resolver.resolve("openai", "llama-3.3-70b-internal")

    assert scoped.resolution.source is PriceSource.CUSTOM and scoped.custom_key == ("vllm", "llama-3.3-70b-internal")
    assert anywhere.resolution.source is PriceSource.CUSTOM and anywhere.custom_key == (None, "acme-ft")
    assert other_provider.resolution.source is PriceSource.UNRESOLVED


def test_server_address_names_the_serving_provider(resolver: Resolver) -> None:
    resolution = resolver.resolve("openai", "deepseek-chat", server_address="api.deepseek.com").resolution

    assert (resolution.provider_id, resolution.model_id) == ("deepseek", "deepseek-chat")
    assert "provider 'deepseek' recognised from server.address" in resolution.steps


def test_provider_ids(resolver: Resolver) -> None:
    assert resolver.provider_id("gcp.vertex_ai") == "google"
    assert resolver.provider_id("AWS.Bedrock") == "aws"
    assert resolver.provider_id("together-ai") == "together"  # genai-prices' own provider_match
    assert resolver.provider_id("litellm") is None
    assert resolver.provider_id("ibm.watsonx.ai") is None


def test_results_are_cached_and_bounded() -> None:
    small = Resolver(providers, cache_size=2)

    first = small.resolve("openai", "gpt-4o")
    assert small.resolve("openai", "gpt-4o") is first
    small.resolve("openai", "gpt-4o-mini")
    small.resolve("openai", "o3")
    assert small.resolve("openai", "gpt-4o") is not first  # evicted, resolved again
