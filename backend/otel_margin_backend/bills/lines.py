"""A bill line, and the interface every importer implements (pure: no I/O here).

An importer turns one provider's reports into ``BillLine`` values, one day and stream at a time. Two streams per
API provider: its cost report (amounts) and its usage report (token counts); an invoice CSV is one stream carrying
both. Token counts follow OTel, like ``usage_events``: ``input_tokens`` includes cache reads and cache writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import astuple, dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from otel_margin_backend.pipeline.errors import RetryableError


class BillImportError(RetryableError):
    """A provider's API refused an import or kept failing after its retries; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class BillLine:
    """One line of a provider's bill for one UTC day."""

    stream: str
    """The report it came from: ``openai.costs``, ``openai.usage``, ``anthropic.cost_report``, ``csv`` …"""
    day: date
    model: str = ""
    """The model as the provider names it; empty for lines that are not a model's (tools, storage)."""
    project: str = ""
    """OpenAI project id, Anthropic workspace id; empty for the default workspace or when not grouped."""
    api_key: str = ""
    line_item: str = ""
    """The provider's description of the line (``gpt-4o-2024-08-06, input``, ``Claude Sonnet 4 Usage``)."""
    service_tier: str = ""
    requests: int = 0
    input_tokens: int = 0
    """All input tokens, cache reads and writes included."""
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    amount: Decimal = Decimal(0)
    """Billed amount in major units (dollars), exact."""
    currency: str = "USD"


@dataclass(frozen=True, slots=True)
class BillDay:
    """Every line of one stream for one day, as the provider reports it now."""

    stream: str
    day: date
    lines: tuple[BillLine, ...]

    @property
    def amount(self) -> Decimal:
        """The day's billed total."""
        return sum((line.amount for line in self.lines), Decimal(0))

    @property
    def digest(self) -> str:
        """A digest of the lines, independent of their order: equal digests, same bill."""
        rows = sorted("\x1f".join(_text(v) for v in astuple(line)) for line in self.lines)
        return hashlib.sha256("\x1e".join(rows).encode()).hexdigest()


def _text(value: object) -> str:
    return format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)


def by_day(lines: Iterable[BillLine], streams: Iterable[str], first: date, last: date) -> list[BillDay]:
    """Lines grouped per stream and day, with an empty ``BillDay`` for each day of ``[first, last]`` without lines.

    An empty day matters: a provider that revised a day down to nothing must replace the lines stored for it.

    Args:
        lines: Lines of the range.
        streams: The streams the import fetched.
        first: First day fetched.
        last: Last day fetched (inclusive).

    Returns:
        One ``BillDay`` per stream and day, in order.
    """
    grouped: dict[tuple[str, date], list[BillLine]] = {}
    for line in lines:
        grouped.setdefault((line.stream, line.day), []).append(line)
    days = [first.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)]
    return [BillDay(s, d, tuple(grouped.get((s, d), ()))) for s in sorted(set(streams)) for d in days]


Progress = Callable[[str], None]
"""Told what an importer is doing (``openai.costs: page 3``), for a progress line."""


class BillImporter(Protocol):
    """What a provider's importer offers: its name, its streams, and the lines of a range of days.

    To add a provider, implement these three members and register the importer in ``importers.create``; providers
    without an API import invoices as CSV (``csvfile.py``).
    """

    provider: str
    """The provider as spans name it (``gen_ai.provider.name``): ``openai``, ``anthropic``."""
    streams: tuple[str, ...]
    """The streams ``lines`` returns; each day of each is stored as one version."""
    source: str
    """Where the lines come from (the API's base URL), for the import record."""

    def lines(self, first: date, last: date, progress: Progress) -> Iterator[BillLine]:
        """Every line of the UTC days ``[first, last]`` (last inclusive), all pages fetched.

        Raises:
            BillImportError: the API refused or kept failing after its retries (the message says why).
        """
        ...
