"""Errors of the pricing stage; all are startup, reload or command errors, never raised while pricing a span.

OtelMarginError                       (pipeline/errors.py)
└── PricingError                      the price book cannot be built
    ├── PriceDataError                a genai-prices data file is unreadable or invalid
    ├── PricingFileError              a user YAML file (overrides, quality) is invalid
    │                                 (every problem names the file and line)
    └── PriceSyncError                a price sync failed (one line; the attempt is recorded as failed)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from otel_margin_backend.pipeline.errors import OtelMarginError


class PricingError(OtelMarginError):
    """The price book (or one of its inputs) cannot be built."""


class PriceDataError(PricingError):
    """A genai-prices data file could not be read or did not validate."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a YAML file, at a line a user can jump to."""

    line: int
    """1-based line of the offending entry or key."""
    path: str
    """Where in the document, e.g. ``discounts[1].percent``."""
    message: str
    """What rule was broken."""


class PricingFileError(PricingError):
    """A user-edited YAML file broke its schema; the message lists each problem with its line."""

    def __init__(self, source: str | Path, problems: Sequence[Problem]) -> None:
        self.source = str(source)
        self.problems = tuple(problems)
        lines = [f"{self.source}:{p.line}: {p.path + ': ' if p.path else ''}{p.message}" for p in self.problems]
        super().__init__("\n".join(lines))


class PriceSyncError(PricingError):
    """A sync could not fetch, validate or store new price data; the previous version stays in force."""
