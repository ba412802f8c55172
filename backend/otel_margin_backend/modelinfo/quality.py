"""Public quality scores per model, for the simulator's "quality per dollar" comparisons.

The bundled table (``quality.yaml`` beside this module) holds published benchmark figures, each
with its source URL, the source's date and whether the figure was checked against a copy of the
source when the table was built. Users extend or correct it with their own YAML file of the same
shape: an entry for the same (vendor, model) replaces the bundled scores benchmark by benchmark.

Scores are ``Decimal`` like every number in this package; they are read from YAML as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from otel_margin_backend.pipeline.textfile import TextFileError, read_text
from otel_margin_backend.pricing import _yaml, names
from otel_margin_backend.pricing.errors import PricingFileError, Problem

BUNDLED_QUALITY = Path(__file__).with_name("quality.yaml")
"""The quality table shipped with otel-margin."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class BenchmarkConfig(_Strict):
    """A benchmark the table has scores for."""

    name: str = Field(min_length=1)
    """Display name, e.g. ``MMLU-Pro``. Required."""
    scale: str = Field(min_length=1)
    """What a value means, e.g. ``percent correct, 0-100``. Required."""
    url: str = Field(min_length=1)
    """Where the benchmark is defined. Required."""
    note: str = ""
    """Caveats. Default: none."""


class ScoreConfig(_Strict):
    """One published figure."""

    benchmark: str = Field(min_length=1)
    """Key of a benchmark in ``benchmarks``. Required."""
    value: Decimal
    """The figure, on the benchmark's scale. Required."""
    source: str = Field(min_length=1)
    """URL of the publication the figure is taken from. Required."""
    as_of: date
    """Date of that publication. Required."""
    checked: bool = False
    """True if the figure was compared with a copy of the source when entered. Default: false."""
    note: str = ""
    """Setting or version details (e.g. ``0-shot CoT``, ``no extended thinking``). Default: none."""


class ModelScoresConfig(_Strict):
    """The scores of one model version."""

    vendor: str = Field(min_length=1)
    """Who makes the model (``openai``, ``anthropic``, ``meta`` …). Required."""
    model: str = Field(min_length=1)
    """The model version the scores are for, as the vendor names it. Required."""
    aliases: tuple[str, ...] = ()
    """Other names of the same model version (API ids, genai-prices ids). Default: none."""
    scores: tuple[ScoreConfig, ...] = Field(min_length=1)
    """The figures. Required."""


class QualityConfig(_Strict):
    """A quality table file."""

    version: str = Field(min_length=1)
    """Version of the table (a date is a good choice). Required."""
    description: str = ""
    """What the table is. Default: none."""
    benchmarks: dict[str, BenchmarkConfig] = Field(default_factory=dict)
    """Benchmark key → definition. Default: none (a user file may use the bundled keys)."""
    models: tuple[ModelScoresConfig, ...] = ()
    """Scores per model. Default: none."""


@dataclass(frozen=True, slots=True)
class Score:
    """One published figure, typed."""

    benchmark: str
    value: Decimal
    source: str
    as_of: date
    checked: bool
    note: str


@dataclass(frozen=True, slots=True)
class ModelScores:
    """A model version's figures, by benchmark key."""

    vendor: str
    model: str
    scores: Mapping[str, Score]
    aliases: tuple[str, ...] = ()
    """Other names of the model version, from every file that lists it."""


class QualityTable:
    """The bundled quality table, optionally extended by a user file.

    Args:
        configs: Table files, later ones overriding earlier ones score by score.
    """

    def __init__(self, *configs: QualityConfig) -> None:
        self.benchmarks: dict[str, BenchmarkConfig] = {}
        self.versions: tuple[str, ...] = tuple(c.version for c in configs)
        merged: dict[tuple[str, str], dict[str, Score]] = {}
        names_by_key: dict[tuple[str, str], tuple[str, str]] = {}
        aliases: dict[tuple[str, str], dict[str, None]] = {}
        self._index: dict[str, tuple[str, str]] = {}
        for config in configs:
            self.benchmarks.update(config.benchmarks)
            for entry in config.models:
                key = (names.provider_key(entry.vendor), names.model_key(entry.model))
                names_by_key.setdefault(key, (entry.vendor, entry.model))
                scores = merged.setdefault(key, {})
                for s in entry.scores:
                    scores[s.benchmark] = Score(s.benchmark, s.value, s.source, s.as_of, s.checked, s.note)
                for name in (entry.model, *entry.aliases):
                    self._index[names.model_key(name)] = key
                aliases.setdefault(key, {}).update(dict.fromkeys(entry.aliases))
        self._models = {
            key: ModelScores(
                vendor=names_by_key[key][0],
                model=names_by_key[key][1],
                scores=dict(scores),
                aliases=tuple(aliases.get(key, ())),
            )
            for key, scores in merged.items()
        }

    @classmethod
    def load(cls, user_file: str | Path | None = None) -> QualityTable:
        """The bundled table, extended by ``user_file`` if given.

        Args:
            user_file: A YAML file in the same format, or None.

        Returns:
            The table.

        Raises:
            PricingFileError: a file is invalid (each problem names its line), or uses a benchmark
                key no file defines.
        """
        bundled = _load(BUNDLED_QUALITY, known=frozenset())
        if user_file is None:
            return cls(bundled)
        return cls(bundled, _load(Path(user_file), known=frozenset(bundled.benchmarks)))

    @property
    def models(self) -> tuple[ModelScores, ...]:
        """Every model with scores."""
        return tuple(self._models.values())

    def lookup(self, *model_names: str | None) -> ModelScores | None:
        """The scores of the first of ``model_names`` the table knows (by name or alias).

        Args:
            *model_names: Candidate names, e.g. a resolution's ``model_id`` then the span's model.

        Returns:
            The scores, or None.
        """
        for name in model_names:
            key = self._index.get(names.model_key(name)) if name else None
            if key is not None:
                return self._models[key]
        return None


def _load(path: Path, *, known: frozenset[str]) -> QualityConfig:
    """Read one table file; ``known`` are benchmark keys defined by files loaded before it."""
    try:
        text = read_text(path, what="quality table")
    except TextFileError as exc:
        raise PricingFileError(path, [Problem(exc.line, "", exc.reason)]) from None
    config, root = _yaml.load_model(QualityConfig, text, path)
    known = known | frozenset(config.benchmarks)
    problems = [
        Problem(
            _yaml.line_of(root, ("models", i, "scores", j, "benchmark")),
            _yaml.format_loc(("models", i, "scores", j, "benchmark")),
            f"unknown benchmark {score.benchmark!r} (define it under 'benchmarks')",
        )
        for i, entry in enumerate(config.models)
        for j, score in enumerate(entry.scores)
        if score.benchmark not in known
    ]
    if problems:
        raise PricingFileError(path, problems)
    return config
