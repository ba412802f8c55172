"""Reading from Stripe's API with the stripe library's client: lookups (customers, charges, refunds) and backfill
listings.

Calls are synchronous (the library's requests-based client); async callers run them with ``asyncio.to_thread``.
Lists use the client's auto-pagination (``auto_paging_iter``: ``has_more`` / ``starting_after``). Every Stripe
error becomes ``StripeUnavailable`` naming the call, so the webhook answers 503 (Stripe retries) and the CLI
prints one line. ``stripe_api_base`` points the client at another server (tests use a local one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import requests  # the stripe library's HTTP client
import stripe
from pydantic import BaseModel

from otel_margin_backend.pipeline.errors import RetryableError
from otel_margin_backend.revenue.config import RevenueConfig
from otel_margin_backend.revenue.stripe_objects import (
    Charge,
    CreditNote,
    Customer,
    Dispute,
    Invoice,
    Line,
    Refund,
    parse,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 100
M = TypeVar("M", bound=BaseModel)


class StripeUnavailable(RetryableError):
    """The Stripe API could not answer (network, authentication, rate limit, or an API error)."""


def _describe(exc: stripe.StripeError) -> str:
    status = f"HTTP {exc.http_status}: " if exc.http_status else ""
    return f"{status}{exc.user_message or type(exc).__name__}"


class StripeApi:
    """The Stripe API calls revenue makes. Close it (or use it as a context manager) to release connections."""

    def __init__(self, config: RevenueConfig) -> None:
        if config.stripe_api_key is None:
            raise ValueError("StripeApi needs stripe_api_key")
        self._session = requests.Session()
        http_client = stripe.RequestsClient(timeout=config.stripe_timeout_s, session=self._session)
        self._client = stripe.StripeClient(
            config.stripe_api_key.get_secret_value(),
            base_addresses={"api": config.stripe_api_base} if config.stripe_api_base else None,
            http_client=http_client,
            max_network_retries=config.stripe_max_network_retries,
        )
        self.base = config.stripe_api_base or stripe.DEFAULT_API_BASE

    def __enter__(self) -> StripeApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections. Safe to call twice."""
        self._session.close()

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except stripe.StripeError as exc:
            raise StripeUnavailable(f"Stripe API ({what}) at {self.base} failed: {_describe(exc)}") from None

    def _iterate(self, what: str, model: type[M], listing: Callable[[], Any]) -> Iterator[M]:
        pages = self._call(what, listing)
        items = iter(pages.auto_paging_iter())
        while True:
            item = self._call(what, lambda: next(items, None))
            if item is None:
                return
            yield parse(model, item.to_dict(), f"an object from {what}")

    def customer(self, customer_id: str) -> Customer | None:
        """The customer, or None when Stripe does not know it (a 404)."""
        try:
            found = self._client.v1.customers.retrieve(customer_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                log.warning("Stripe does not know customer", extra={"customer": customer_id})
                return None
            raise StripeUnavailable(f"Stripe API (customer {customer_id}) failed: {_describe(exc)}") from None
        except stripe.StripeError as exc:
            raise StripeUnavailable(f"Stripe API (customer {customer_id}) failed: {_describe(exc)}") from None
        return parse(Customer, found.to_dict(), f"customer {customer_id}")

    def invoice_lines(self, invoice_id: str) -> list[Line]:
        """Every line of an invoice (webhook payloads carry only the first 10)."""
        listing = lambda: self._client.v1.invoices.line_items.list(invoice_id, params={"limit": PAGE_SIZE})  # noqa: E731
        return list(self._iterate(f"lines of invoice {invoice_id}", Line, listing))

    def invoice_payment_refs(self, invoice_id: str) -> list[str]:
        """Charges and payment intents that paid an invoice (its invoice payments)."""
        what = f"payments of invoice {invoice_id}"
        pages = self._call(
            what, lambda: self._client.v1.invoice_payments.list(params={"invoice": invoice_id, "limit": PAGE_SIZE})
        )
        refs: list[str] = []
        items = iter(pages.auto_paging_iter())
        while (item := self._call(what, lambda: next(items, None))) is not None:
            data = item.to_dict()
            if data.get("status") not in (None, "paid"):
                continue
            payment = data.get("payment") or {}
            refs.extend(str(payment[k]) for k in ("charge", "payment_intent") if isinstance(payment.get(k), str))
        return refs

    def _found(self, what: str, call: Callable[[], Any]) -> Any | None:
        """The object, or None when Stripe answers 404 for it (it does not exist, or not in this account)."""
        try:
            return call()
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                log.warning("Stripe does not know the object", extra={"object": what})
                return None
            raise StripeUnavailable(f"Stripe API ({what}) at {self.base} failed: {_describe(exc)}") from None
        except stripe.StripeError as exc:
            raise StripeUnavailable(f"Stripe API ({what}) at {self.base} failed: {_describe(exc)}") from None

    def charge(self, charge_id: str) -> Charge | None:
        """The charge, or None when Stripe does not know it (a 404)."""
        found = self._found(f"charge {charge_id}", lambda: self._client.v1.charges.retrieve(charge_id))
        return None if found is None else parse(Charge, found.to_dict(), f"charge {charge_id}")

    def refund(self, refund_id: str) -> Refund | None:
        """The refund, or None when Stripe does not know it (a 404)."""
        found = self._found(f"refund {refund_id}", lambda: self._client.v1.refunds.retrieve(refund_id))
        return None if found is None else parse(Refund, found.to_dict(), f"refund {refund_id}")

    def invoices(self, since: date) -> Iterator[Invoice]:
        """Paid invoices created on or after ``since`` (with their payments expanded)."""
        created = _epoch(since)
        return self._iterate(
            "invoices",
            Invoice,
            lambda: self._client.v1.invoices.list(
                params={"created": {"gte": created}, "status": "paid", "limit": PAGE_SIZE, "expand": ["data.payments"]}
            ),
        )

    def credit_notes(self, since: date) -> Iterator[CreditNote]:
        """Credit notes created on or after ``since``."""
        created = _epoch(since)
        return self._iterate(
            "credit notes",
            CreditNote,
            lambda: self._client.v1.credit_notes.list(params={"created": {"gte": created}, "limit": PAGE_SIZE}),
        )

    def refunds(self, since: date) -> Iterator[Refund]:
        """Refunds created on or after ``since``, each with its charge expanded."""
        created = _epoch(since)
        return self._iterate(
            "refunds",
            Refund,
            lambda: self._client.v1.refunds.list(
                params={"created": {"gte": created}, "limit": PAGE_SIZE, "expand": ["data.charge"]}
            ),
        )

    def disputes(self, since: date) -> Iterator[Dispute]:
        """Disputes created on or after ``since``."""
        created = _epoch(since)
        return self._iterate(
            "disputes",
            Dispute,
            lambda: self._client.v1.disputes.list(params={"created": {"gte": created}, "limit": PAGE_SIZE}),
        )


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def create_api(config: RevenueConfig) -> StripeApi | None:
    """The API client, or None when no API key is configured."""
    return StripeApi(config) if config.stripe_api_key is not None else None
