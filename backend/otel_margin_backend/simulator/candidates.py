"""Candidate models: parsed from ``provider/model`` specs, resolved in the price book, with their facts.

A spec is ``provider/model`` (split at the first ``/``: ``openrouter/anthropic/claude-3.5-sonnet`` is OpenRouter's
``anthropic/claude-3.5-sonnet``) or a bare model name, whose provider the price book infers as it does for a span
without one. A spec that names nothing the price book knows is an error that names it, never a silent $0.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from otel_margin_backend.modelinfo.facts import ModelFacts, model_facts
from otel_margin_backend.modelinfo.quality import QualityTable
from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.pricing import PriceBook


class UnknownCandidate(PermanentError):
    """A candidate spec the price book cannot resolve."""


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """A model (current or candidate) as the simulator sees it: how to price it, and what is known about it."""

    label: str
    """How the user or the span named it (``openai/gpt-4.1-mini``)."""
    provider: str
    """The provider to pass to ``PriceBook.cost``."""
    model: str
    """The model to pass to ``PriceBook.cost``."""
    facts: ModelFacts
    """Context window, priced modalities, deprecation and quality scores."""

    @property
    def key(self) -> tuple[str | None, str | None]:
        """(billing provider, model id) it resolves to: two specs with the same key are the same model.
        An unresolved spec is keyed by its label."""
        resolution = self.facts.resolution
        return (resolution.provider_id, resolution.model_id) if resolution.resolved else (None, self.label)

    @property
    def resolved_name(self) -> str:
        """``provider/model`` as the price book resolved it, or the label when it did not resolve."""
        provider, model = self.key
        return f"{provider}/{model}" if provider and model else self.label

    @property
    def embeddings(self) -> bool:
        """True for a model with token prices but no output price: an embeddings model."""
        return bool(self.facts.priced_input_modalities) and not self.facts.priced_output_modalities

    def modalities(self) -> frozenset[str]:
        """Modalities it prices beyond text, such as ``input:audio`` or ``output:image``."""
        return frozenset(
            {f"input:{m}" for m in self.facts.priced_input_modalities if m != "text"}
            | {f"output:{m}" for m in self.facts.priced_output_modalities if m != "text"}
        )

    def score(self, benchmark: str) -> Decimal | None:
        """Its published figure on ``benchmark``, if the quality table has one."""
        scores = self.facts.quality.scores if self.facts.quality is not None else {}
        found = scores.get(benchmark)
        return found.value if found is not None else None


def parse_spec(spec: str) -> tuple[str | None, str]:
    """Split ``provider/model`` at the first slash; a bare name has no provider.

    Args:
        spec: The candidate as written.

    Returns:
        (provider or None, model).

    Raises:
        UnknownCandidate: the spec is empty or has an empty part.
    """
    text = spec.strip()
    provider, slash, model = text.partition("/")
    if not slash:
        provider, model = "", text
    if not model or (slash and not provider):
        raise UnknownCandidate(f"candidate {spec!r} is not 'provider/model' or a model name")
    return (provider or None), model


def resolve_candidate(book: PriceBook, spec: str, quality: QualityTable, *, strict: bool = True) -> ModelProfile:
    """A candidate spec resolved in the price book.

    Args:
        book: The price book.
        spec: ``provider/model`` or a model name.
        quality: The quality table.
        strict: Raise for a model the book does not know. When false, return an unresolved profile instead
            (it has no price, so it is listed as excluded): for configured candidates after a price update.

    Returns:
        The profile.

    Raises:
        UnknownCandidate: the price book does not know the model (``strict``), or the spec is malformed.
    """
    provider, model = parse_spec(spec)
    resolution = book.resolve(provider, model)
    if not resolution.resolved and provider is not None:
        # ``openrouter/anthropic/claude-3.5-sonnet`` style names may also be a gateway-prefixed model name.
        whole = book.resolve(None, spec.strip())
        if whole.resolved:
            provider, model, resolution = None, spec.strip(), whole
    if (not resolution.resolved or resolution.provider_id is None) and not strict:
        unresolved = provider or ""
        return ModelProfile(spec.strip(), unresolved, model, model_facts(book, unresolved, model, quality=quality))
    if not resolution.resolved or resolution.provider_id is None:
        raise UnknownCandidate(
            f"candidate {spec!r} is not in the price book; use provider/model as genai-prices or your overrides "
            "name it, e.g. openai/gpt-4.1-mini"
        )
    billing = provider if provider is not None else resolution.provider_id
    return ModelProfile(spec.strip(), billing, model, model_facts(book, billing, model, quality=quality))


def current_model(book: PriceBook, provider: str, model: str, quality: QualityTable) -> ModelProfile:
    """The model a feature uses now, as stored (it may not resolve: then it has no price and no facts).

    Args:
        book: The price book.
        provider: The stored provider.
        model: The stored model.
        quality: The quality table.

    Returns:
        The profile.
    """
    return ModelProfile(f"{provider}/{model}", provider, model, model_facts(book, provider, model, quality=quality))
