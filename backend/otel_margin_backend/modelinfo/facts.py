"""Model facts for the simulator: context window, priced modalities and quality scores.

What genai-prices data has, and what it does not:

- ``context_window`` (maximum input tokens) is in the data for about 60 % of models (1,419 of
  2,330 in genai-prices 0.2.3); None elsewhere.
- Modalities are *not* in the data: its model records have no capability fields. What the data does
  show is which modalities have a price of their own (``input_audio_mtok``, ``output_image_mtok`` …);
  ``priced_modalities`` reports those. A model can accept a modality that it bills as ordinary text
  tokens (gpt-4o's images), so this is not a capability list.
- Quality scores come from ``quality.yaml`` (``quality.py``), not from genai-prices.
"""

from __future__ import annotations

from dataclasses import dataclass

from genai_prices.types import ModelInfo, ModelPrice

from otel_margin_backend.modelinfo.quality import ModelScores, QualityTable
from otel_margin_backend.pricing.book import PriceBook
from otel_margin_backend.pricing.rates import REGISTRY
from otel_margin_backend.pricing.resolve import Resolution


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What is known about one model, beside its price."""

    resolution: Resolution
    """How the name resolved in the price book."""
    name: str | None
    """Display name from the data."""
    description: str | None
    """Description from the data."""
    context_window: int | None
    """Maximum input tokens, if the data has it."""
    priced_input_modalities: frozenset[str]
    """Input modalities with a price of their own (always includes ``text`` for token-priced models)."""
    priced_output_modalities: frozenset[str]
    """Output modalities with a price of their own."""
    deprecated: bool
    """The provider has deprecated the model (it may still work)."""
    quality: ModelScores | None
    """Published benchmark figures, if the quality table has the model."""


def model_facts(book: PriceBook, provider: str, model: str, *, quality: QualityTable | None = None) -> ModelFacts:
    """Facts about a model, named as a span would name it.

    Args:
        book: The price book used for name resolution and the data.
        provider: The provider as a span names it.
        model: The model as a span names it.
        quality: The quality table to consult, or None for no scores.

    Returns:
        The facts; fields are None or empty when the model does not resolve to the data.
    """
    resolution = book.resolve(provider, model)
    info = _model_info(book, resolution)
    scores = quality.lookup(resolution.model_ref, model, resolution.model_id) if quality is not None else None
    if info is None:
        return ModelFacts(resolution, None, None, None, frozenset(), frozenset(), False, scores)
    inputs, outputs = priced_modalities(info)
    return ModelFacts(
        resolution=resolution,
        name=info.name,
        description=info.description,
        context_window=info.context_window,
        priced_input_modalities=inputs,
        priced_output_modalities=outputs,
        deprecated=bool(info.deprecated),
        quality=scores,
    )


def _model_info(book: PriceBook, resolution: Resolution) -> ModelInfo | None:
    holder = resolution.data_provider_id
    if holder is None or resolution.model_id is None:
        return None
    provider = next((p for p in book.providers if p.id == holder), None)
    if provider is None:
        return None
    return next((m for m in provider.models if m.id == resolution.model_id), None)


def priced_modalities(info: ModelInfo) -> tuple[frozenset[str], frozenset[str]]:
    """The input and output modalities a model's data prices on their own (any dated price or variant).

    Args:
        info: The genai-prices model record.

    Returns:
        (input modalities, output modalities), e.g. ``({"text", "audio"}, {"text"})``.
    """
    price_sets = [info.prices] if isinstance(info.prices, ModelPrice) else [c.prices for c in info.prices]
    price_sets += [v.prices for v in info.price_variants or ()]
    inputs: set[str] = set()
    outputs: set[str] = set()
    for prices in price_sets:
        for key, value in prices.__dict__.items():
            if value is None or key.startswith("_"):
                continue
            try:
                unit = REGISTRY.unit_for_price_key(key)
            except KeyError:
                continue
            if unit.dimensions.get("family") not in {"tokens", "durations", "characters", "pixels", "document_pages"}:
                continue
            modality = unit.dimensions.get("modality") or _implied_modality(unit.dimensions.get("family"))
            direction = unit.dimensions.get("direction")
            if direction == "input":
                inputs.add(modality)
            elif direction == "output":
                outputs.add(modality)
    return frozenset(inputs), frozenset(outputs)


def _implied_modality(family: str | None) -> str:
    """Plain token, character and page prices are text; pixel prices are images."""
    return {"pixels": "image", "durations": "audio"}.get(family or "", "text")
