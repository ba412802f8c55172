"""What one normalization pass produced: the usage events, and an account of every span it did not turn into one.

Receivers answer OTLP clients from this: ``rejected`` and ``error_message`` become the partial-success
``rejected_spans`` and ``error_message``; the counters feed metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.pipeline.events import UsageEvent

__all__ = ["NormalizeResult", "SpanRejected"]


class SpanRejected(PermanentError):
    """One span cannot become a usage event; the rest of the request is unaffected.

    The message is the reason shown to the client. It names attributes, never values, so that identical
    problems collapse into one line however many spans share them.
    """


@dataclass(slots=True)
class NormalizeResult:
    """The outcome of normalizing one OTLP request."""

    events: list[UsageEvent] = field(default_factory=list)
    """One event per model call, in the order the spans arrived."""
    rejected: int = 0
    """Spans refused for bad data or a missing customer in strict mode."""
    rejection_counts: dict[str, int] = field(default_factory=dict)
    """Reason -> number of spans rejected for it."""
    ignored_non_genai: int = 0
    """Spans with no GenAI attribute at all (HTTP, database, ...)."""
    ignored_non_model_call: int = 0
    """GenAI spans that are not model calls: agents, workflows, tools, retrieval; never priced."""
    unattributed: int = 0
    """Events booked to the ``(unattributed)`` customer."""
    estimated: int = 0
    """Events whose token counts were estimated from message text."""
    missing_usage: int = 0
    """Events with no token counts and no estimate (status ``missing_usage``)."""
    duplicates: int = 0
    """Model-call spans folded into another span's event: the same provider call, exported twice."""

    def reject(self, reason: str) -> None:
        """Count one rejected span under ``reason``."""
        self.rejected += 1
        self.rejection_counts[reason] = self.rejection_counts.get(reason, 0) + 1

    @property
    def reasons(self) -> list[str]:
        """One human-readable line per distinct reason, most frequent first, e.g.
        ``"3 spans rejected: span has no customer (strict mode)"``."""
        ordered = sorted(self.rejection_counts.items(), key=lambda item: (-item[1], item[0]))
        return [f"{count} span{'' if count == 1 else 's'} rejected: {reason}" for reason, count in ordered]

    @property
    def error_message(self) -> str:
        """All reasons in one line, for OTLP partial success; empty when nothing was rejected."""
        return "; ".join(self.reasons)
