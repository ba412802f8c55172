"""Provider names: every convention's spelling mapped to the current ``gen_ai.provider.name`` values.

Prices are looked up by provider, so ``Anthropic`` (OpenLLMetry), ``az.ai.openai`` (OTel before 1.37) and
``azure`` (OpenInference) must all land on one name. The Vercel AI SDK names a provider *and* its API
(``openai.chat``, ``openai.responses``, ``anthropic.messages``, ``google.generative-ai``): both OpenAI APIs are
OpenAI, or a P&L by provider would split it in two.
"""

from __future__ import annotations

__all__ = ["AI_SDK_PROVIDER_PREFIXES", "PROVIDER_ALIASES", "normalize_provider"]

PROVIDER_ALIASES: dict[str, str] = {
    # OTel renames in v1.37.0 (gen_ai.system -> gen_ai.provider.name)
    "az.ai.openai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "vertex_ai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "xai": "x_ai",
    # OpenInference llm.provider / llm.system, OpenLLMetry GenAISystem, other spellings seen in the wild
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azureopenai": "azure.ai.openai",
    "vertexai": "gcp.vertex_ai",
    "google": "gcp.gen_ai",
    "google_genai": "gcp.gen_ai",
    "aws": "aws.bedrock",
    "bedrock": "aws.bedrock",
    "aws_bedrock": "aws.bedrock",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "watsonx": "ibm.watsonx.ai",
    "ibm": "ibm.watsonx.ai",
    "moonshot": "moonshot_ai",
    "moonshotai": "moonshot_ai",
}
"""Lower-cased spelling -> current well-known value. Names not listed pass through lower-cased."""

_WELL_KNOWN = frozenset(PROVIDER_ALIASES.values()) | {"openai", "anthropic", "cohere", "deepseek", "groq", "perplexity"}

AI_SDK_PROVIDER_PREFIXES: tuple[tuple[str, str], ...] = (
    # The table of @ai-sdk/otel 1.0's mapProviderName (longest prefixes first), except `azure`: @ai-sdk/azure calls
    # Azure OpenAI (azure.chat, azure.responses), priced as azure.ai.openai, where @ai-sdk/otel says
    # azure.ai.inference.
    ("google.vertex", "gcp.vertex_ai"),  # google.vertex.chat, google.vertex.anthropic.messages
    ("google.generative-ai", "gcp.gemini"),
    ("google-vertex", "gcp.vertex_ai"),
    ("amazon-bedrock", "aws.bedrock"),
    ("azure-openai", "azure.ai.openai"),
    ("anthropic", "anthropic"),  # anthropic.messages
    ("openai", "openai"),  # openai.chat, openai.responses, openai.completion, openai.embedding
    ("azure", "azure.ai.openai"),
    ("google", "gcp.gemini"),
    ("mistral", "mistral_ai"),
    ("cohere", "cohere"),
    ("bedrock", "aws.bedrock"),
    ("groq", "groq"),
    ("deepseek", "deepseek"),
    ("perplexity", "perplexity"),
    ("xai", "x_ai"),
)
"""Vercel AI SDK provider ids (``<provider>`` or ``<provider>.<api>``) -> well-known value, first match."""


def normalize_provider(raw: str) -> str:
    """The current well-known provider name for any convention's spelling.

    Args:
        raw: The attribute value as sent, e.g. ``"Anthropic"``, ``"az.ai.openai"``, ``"aws"``.

    Returns:
        The normalized name, e.g. ``"anthropic"``, ``"azure.ai.openai"``, ``"aws.bedrock"``, ``"openai"`` for the
        AI SDK's ``"openai.responses"``; unknown names are
        returned stripped and lower-cased; empty input gives ``""``.
    """
    name = raw.strip().lower()
    alias = PROVIDER_ALIASES.get(name)
    if alias is not None:
        return alias
    if name in _WELL_KNOWN or ("." not in name and "-" not in name):
        return name
    for prefix, value in AI_SDK_PROVIDER_PREFIXES:
        # Only "." ends a prefix: "openai-compatible.chat" is any server speaking OpenAI's API, not OpenAI.
        if name == prefix or name.startswith(prefix + "."):
            return value
    return name
