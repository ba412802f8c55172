"""The pricers the pipeline holds: the live price book that can be swapped, and the null pricer.

``CurrentPriceBook`` is how a new data version reaches running code: the sync job (``scheduler.py``) builds a
``PriceBook`` from the fetched file off the hot path, then calls ``swap``. Swapping is one reference
assignment, atomic under the GIL, so every call is priced wholly by one snapshot and no lock is
taken per call.
"""

from __future__ import annotations

import logging

from otel_margin_backend.pipeline.events import UsageEvent, UsageStatus
from otel_margin_backend.pricing.book import PriceBook

log = logging.getLogger(__name__)


class NullPricer:
    """A pricer for when pricing is disabled: every call with usage is ``UNPRICED``, costs stay None.

    Never $0: an unpriced call is visible as unpriced in every report.
    """

    def price(self, event: UsageEvent) -> None:
        """Mark the event unpriced (``MISSING_USAGE`` is left as is).

        Args:
            event: The event.
        """
        if event.status is UsageStatus.MISSING_USAGE:
            return
        event.status = UsageStatus.UNPRICED
        event.cost_input = event.cost_cache_read = event.cost_cache_write = None
        event.cost_output = event.cost_reasoning = event.cost_total = None
        event.price_version = None
        event.override_version = None


class CurrentPriceBook:
    """The price book in force, replaceable as a whole while the pipeline runs.

    Args:
        book: The initial book.
    """

    def __init__(self, book: PriceBook) -> None:
        self._book = book

    @property
    def book(self) -> PriceBook:
        """The book in force now."""
        return self._book

    def swap(self, book: PriceBook) -> PriceBook:
        """Put a new book in force.

        Args:
            book: The new book, fully built.

        Returns:
            The book it replaces.
        """
        old, self._book = self._book, book
        log.info(
            "price book %s (overrides %s) in force, replacing %s",
            book.version,
            book.override_version or "none",
            old.version,
        )
        return old

    def price(self, event: UsageEvent) -> None:
        """Price one event with the book in force (see ``Pricer``).

        Args:
            event: The event.
        """
        self._book.price(event)
