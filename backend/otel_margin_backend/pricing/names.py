"""Provider and model names as spans spell them, turned into what genai-prices data can look up.

Pure string functions with no data access, so each rule can be read and tested on its own.
``resolve.py`` tries their outputs against the data in a fixed order and records which one worked.

Work is linear in a name's length and bounded: at most ``MAX_PREFIX_HOPS`` gateway prefixes are removed, and a
name longer than ``MAX_NAME_CHARS`` gets no derived readings at all (the edge refuses such names before pricing;
this keeps other callers, the simulator and the CLI, bounded too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from otel_margin_backend.pipeline.limits import MAX_NAME_BYTES

PROVIDER_IDS: Final = MappingProxyType(
    {
        # OpenTelemetry gen_ai.provider.name values (and the older gen_ai.system spellings)
        "openai": "openai",
        "anthropic": "anthropic",
        "aws.bedrock": "aws",
        "azure.ai.openai": "azure",
        "az.ai.openai": "azure",
        "azure.ai.inference": "azure",
        "az.ai.inference": "azure",
        "gcp.vertex_ai": "google",
        "gcp.gemini": "google",
        "gcp.gen_ai": "google",
        "vertex_ai": "google",
        "gemini": "google",
        "cohere": "cohere",
        "deepseek": "deepseek",
        "groq": "groq",
        "mistral_ai": "mistral",
        "perplexity": "perplexity",
        "x_ai": "x-ai",
        "xai": "x-ai",
        "moonshot_ai": "moonshotai",
        # OpenLLMetry / OpenInference / LiteLLM spellings
        "aws": "aws",
        "bedrock": "aws",
        "bedrock_converse": "aws",
        "amazon_bedrock": "aws",
        "azure": "azure",
        "azure_ai": "azure",
        "azure_openai": "azure",
        "google": "google",
        "vertexai": "google",
        "vertex_ai_beta": "google",
        "google_genai": "google",
        "google_vertexai": "google",
        "mistral": "mistral",
        "mistralai": "mistral",
        "x-ai": "x-ai",
        "grok": "x-ai",
        "moonshot": "moonshotai",
        "moonshotai": "moonshotai",
        "openrouter": "openrouter",
        "together": "together",
        "together_ai": "together",
        "togetherai": "together",
        "fireworks": "fireworks",
        "fireworks_ai": "fireworks",
        "cerebras": "cerebras",
        "cohere_chat": "cohere",
        "perplexityai": "perplexity",
        "novita": "novita",
    }
)
"""Provider names seen on spans (OTel, OpenLLMetry, OpenInference, LiteLLM), lower-cased, to genai-prices ids.

Names not listed fall back to genai-prices' own ``provider_match`` rules (``resolve.py``).
"""

SPAN_PROVIDER_NAMES: Final = MappingProxyType(
    {"aws": "aws.bedrock", "azure": "azure.ai.openai", "google": "gcp.gen_ai", "mistral": "mistral_ai",
     "x-ai": "x_ai", "moonshotai": "moonshot_ai"}
)  # fmt: skip
"""genai-prices provider ids to the ``gen_ai.provider.name`` value spans use, where the two differ (the rest are
spelled the same): the provider a call that named none is stored under, so it groups with the calls that did."""

GATEWAY_NAMES: Final = frozenset({"litellm", "openai_compatible", "openai-compatible", "portkey", "helicone"})
"""Provider values that name a gateway rather than who serves the model: the model name decides."""

MAX_NAME_CHARS: Final = MAX_NAME_BYTES
"""Longest name that gets derived readings: the ingest edge's limit (``pipeline/limits.py``)."""
MAX_PREFIX_HOPS: Final = 3
"""Most gateway prefixes removed from one name (``litellm/openrouter/anthropic/claude-3.5-sonnet`` has three)."""

_BEDROCK_REGIONS: Final = ("us-gov", "us", "eu", "apac", "au", "jp", "ca", "in", "global")
_BEDROCK_REGION_RE: Final = re.compile(r"^(?:" + "|".join(re.escape(r) for r in _BEDROCK_REGIONS) + r")\.(?=[a-z])")
_BEDROCK_VERSION_RE: Final = re.compile(r"-v\d+(?::\d+)?$")
_BEDROCK_ARN_RE: Final = re.compile(r"^arn:aws[a-z-]*:bedrock:[^:]*:[^:]*:(?:[a-z-]+)/(?P<id>[^/]+)$")
_VERTEX_PATH_RE: Final = re.compile(
    r"^(?:projects/[^/]+/locations/[^/]+/)?publishers/(?P<publisher>[^/]+)/models/(?P<model>[^/]+)$"
)
_VERTEX_VERSION_RE: Final = re.compile(r"@[\w.-]+$")
_DATE_SUFFIX_RE: Final = re.compile(r"-(?:20\d\d-\d\d-\d\d|20\d{6}|(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))$")
_LATEST_SUFFIX_RE: Final = re.compile(r"-latest$")


def provider_key(name: str | None) -> str:
    """The lookup form of a provider name: stripped and lower-cased (``""`` for none)."""
    return (name or "").strip().lower()


def model_key(name: str | None) -> str:
    """The lookup form of a model name: stripped and lower-cased, as genai-prices matches it."""
    return (name or "").strip().lower()


def known_provider_id(name: str) -> str | None:
    """The genai-prices id for a provider name from ``PROVIDER_IDS``, or None if not listed.

    Args:
        name: A provider name in lookup form (``provider_key``).

    Returns:
        The genai-prices provider id, or None.
    """
    return PROVIDER_IDS.get(name)


@dataclass(frozen=True, slots=True)
class Spelling:
    """One way to read a model name: an optional provider hint, the name to look up, and why."""

    model: str
    """The model name to look up (lookup form)."""
    provider_hint: str | None = None
    """A genai-prices provider id the name itself implies (a gateway prefix, a Vertex path)."""
    note: str = ""
    """How this spelling was derived, for ``Resolution.steps``; empty for the name as given."""


def spellings(model: str) -> list[Spelling]:
    """The readings of a model name, most literal first.

    Handles gateway prefixes (``openai/gpt-4o``, ``openrouter/anthropic/claude-3.5-sonnet``,
    ``bedrock/…``, ``vertex_ai/…``, ``azure/…``), Vertex resource paths
    (``projects/p/locations/l/publishers/google/models/gemini-1.5-pro-002``) and Bedrock ARNs.

    Args:
        model: The model name in lookup form.

    Returns:
        The name itself first, then each derived reading (deduplicated): at most ``MAX_PREFIX_HOPS`` prefixes
        removed; only the name itself when it is longer than ``MAX_NAME_CHARS``.
    """
    out: list[Spelling] = [Spelling(model)]
    if len(model) > MAX_NAME_CHARS:
        return out
    if arn := _BEDROCK_ARN_RE.match(model):
        out.append(Spelling(arn["id"], "aws", f"Bedrock ARN → {arn['id']!r}"))
    if vertex := _VERTEX_PATH_RE.match(model):
        publisher, name = vertex["publisher"], vertex["model"]
        out.append(Spelling(name, "google", f"Vertex AI resource path (publisher {publisher!r}) → {name!r}"))
    rest = model
    for _ in range(MAX_PREFIX_HOPS):
        if "/" not in rest:
            break
        head, tail = rest.split("/", 1)
        provider = PROVIDER_IDS.get(head)
        if provider is None and head not in GATEWAY_NAMES:
            break
        out.append(Spelling(tail, provider, f"gateway prefix {head + '/'!r} removed"))
        rest = tail
    seen: set[tuple[str, str | None]] = set()
    unique: list[Spelling] = []
    for spelling in out:
        if (spelling.model, spelling.provider_hint) not in seen:
            seen.add((spelling.model, spelling.provider_hint))
            unique.append(spelling)
    return unique


def loose_variants(model: str) -> list[tuple[str, str]]:
    """Looser readings of a model name, tried only when the exact one finds nothing.

    Removes, in turn: a Vertex ``@version``, a Bedrock cross-region prefix (``us.``, ``eu.``,
    ``apac.``, ``global.`` …) and ``-v1:0`` version, a Bedrock vendor prefix (``anthropic.``), a
    ``-latest`` suffix and a date suffix (``-2024-08-06``, ``-20240806``, ``-0613``). A dated
    snapshot priced differently from its base model is in the data under its own name and is found
    before any of these apply.

    Args:
        model: The model name in lookup form.

    Returns:
        (name, note) pairs, each derived from the previous one, deduplicated; none for a name longer than
        ``MAX_NAME_CHARS``.
    """
    out: list[tuple[str, str]] = []
    if len(model) > MAX_NAME_CHARS:
        return out
    current = model

    def step(new: str, note: str) -> None:
        nonlocal current
        if new and new != current:
            current = new
            out.append((new, note))

    step(_VERTEX_VERSION_RE.sub("", current), "Vertex '@version' removed")
    step(_BEDROCK_REGION_RE.sub("", current), "Bedrock cross-region prefix removed")
    step(_BEDROCK_VERSION_RE.sub("", current), "Bedrock '-vN:M' version removed")
    vendor, dot, name = current.partition(".")
    if dot and vendor in {"anthropic", "meta", "mistral", "cohere", "amazon", "ai21", "deepseek", "openai", "qwen"}:
        step(name, f"Bedrock vendor prefix {vendor + '.'!r} removed")
    step(_LATEST_SUFFIX_RE.sub("", current), "'-latest' removed")
    step(_DATE_SUFFIX_RE.sub("", current), "date suffix removed")
    return out
