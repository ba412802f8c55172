"""Provider names: every convention's spelling mapped to the current ``gen_ai.provider.name`` values.

Prices are looked up by provider, so ``Anthropic`` (OpenLLMetry), ``az.ai.openai`` (OTel before 1.37) and
``azure`` (OpenInference) must all land on one name.
"""

from __future__ import annotations

__all__ = ["PROVIDER_ALIASES", "normalize_provider"]

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


def normalize_provider(raw: str) -> str:
    """The current well-known provider name for any convention's spelling.

    Args:
        raw: The attribute value as sent, e.g. ``"Anthropic"``, ``"az.ai.openai"``, ``"aws"``.

    Returns:
        The normalized name, e.g. ``"anthropic"``, ``"azure.ai.openai"``, ``"aws.bedrock"``; unknown names are
        returned stripped and lower-cased; empty input gives ``""``.
    """
    name = raw.strip().lower()
    return PROVIDER_ALIASES.get(name, name)
