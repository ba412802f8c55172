"""HTTP routes of the revenue component: ``POST /v1/stripe/webhook`` and ``POST /v1/revenue``.

Answers (statuses from ``web/status.classify``; failures in its one JSON error body ``{"error": {"code",
"message", "retry_after_s"?, "details"?}}``):

``POST /v1/stripe/webhook`` (authenticated by the ``Stripe-Signature`` header, not a bearer token)
    200 ``{"id", "type", "status", "detail"}``: booked, reversed, unchanged, stale, ignored, customer or duplicate;
    ``unusable`` for a correctly signed body revenue cannot book (recorded in ``stripe_unusable_events`` with its
    reason, listed by ``otel-margin stripe unusable``; ``id`` and ``type`` are null when the body has none).
    400: bad, stale or future signature, a header that is not ASCII, a body that is not UTF-8.
    413: a body over 1 MiB.
    503 with ``Retry-After``: no signing secret configured, or the database or Stripe API is down (Stripe
    redelivers).
    Every non-200 answer is recorded in ``stripe_webhook_failures`` (when the database can take it), at most
    ``FAILURES_PER_S`` a second; the table keeps the newest 10,000 rows and 90 days (migration 0066).

``POST /v1/revenue`` (an ``admin`` token): manual revenue, one entry or a list (``manual.py``)
    200 ``{"accepted": n, "rejected": [...]}`` when at least one entry was valid (those are stored), else 400
    with the rejected entries as ``details``; 415 for a body that is not ``application/json``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from decimal import Decimal

from psycopg_pool import AsyncConnectionPool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_margin_backend.pipeline.errors import OtelMarginError, PermanentError, RetryableError
from otel_margin_backend.pipeline.metrics import NOOP, Metrics
from otel_margin_backend.revenue import manual
from otel_margin_backend.revenue.config import RevenueConfig
from otel_margin_backend.revenue.ledger import Ledger
from otel_margin_backend.revenue.stripe_api import StripeApi
from otel_margin_backend.revenue.stripe_booking import StripeBooker
from otel_margin_backend.revenue.stripe_objects import Event
from otel_margin_backend.revenue.webhook import (
    MAX_BODY_BYTES,
    InvalidSignature,
    StripeWebhook,
    UnusableEvent,
    WebhookNotConfigured,
    clean,
)
from otel_margin_backend.storage.database import AsyncConn
from otel_margin_backend.storage.errors import db_errors
from otel_margin_backend.web.auth import Scope, TokenCheck
from otel_margin_backend.web.body import read_body
from otel_margin_backend.web.rest import NothingValid, endpoint, require_json
from otel_margin_backend.web.status import Failure, classify

log = logging.getLogger(__name__)

MANUAL_MAX_BODY_BYTES = 4 * 1_048_576
FAILURES_PER_S = 5
"""Most webhook failures recorded per second (anyone can send unsigned requests); the rest are counted in the log."""
UNUSABLE_KEEP = 10_000
"""Unusable events kept (the newest); older ones are pruned when one is recorded."""
UNUSABLE_KEEP_DAYS = 90
"""Days an unusable event is kept."""


class _RateLimit:
    """At most ``per_s`` events a second (a token bucket of one second); counts what it turned away."""

    def __init__(self, per_s: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_s = per_s
        self.clock = clock
        self.tokens = float(per_s)
        self.at = clock()
        self.dropped = 0

    def allow(self) -> bool:
        now = self.clock()
        self.tokens = min(float(self.per_s), self.tokens + (now - self.at) * self.per_s)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.dropped += 1
        return False


def _reason(exc: BaseException) -> str:
    if isinstance(exc, WebhookNotConfigured):
        return "not_configured"
    if isinstance(exc, InvalidSignature):
        return "bad_signature"
    if isinstance(exc, PermanentError):
        return "bad_payload"
    if isinstance(exc, RetryableError):
        return "unavailable"
    return "error"


def routes(
    config: RevenueConfig,
    pool: AsyncConnectionPool[AsyncConn],
    tokens: TokenCheck,
    *,
    api: StripeApi | None,
    metrics: Metrics = NOOP,
) -> list[Route]:
    """The revenue routes.

    Args:
        config: The revenue config (the webhook secret; the customer metadata key).
        pool: The service's connection pool (autocommit connections).
        tokens: The token check, for ``/v1/revenue`` (``admin``).
        api: The Stripe API client for customer lookups and long invoices (``create_api(config)``; the caller
            closes it on shutdown), or None to use only what payloads carry.
        metrics: Where Stripe events are counted by outcome (the result's status, or the failure's reason).

    Returns:
        ``POST /v1/stripe/webhook`` and ``POST /v1/revenue``.
    """
    webhook = StripeWebhook(config, StripeBooker(config, api))
    limit = _RateLimit(FAILURES_PER_S)

    async def record_failure(exc: BaseException, failure: Failure, event: Event | None) -> None:
        if not limit.allow():
            if limit.dropped in (1, 10, 100) or limit.dropped % 1000 == 0:
                log.warning("Stripe webhook failures over the recording rate", extra={"not_recorded": limit.dropped})
            return
        try:
            with db_errors():
                async with pool.connection(timeout=2.0) as conn:
                    await Ledger(conn).record_failure(
                        _reason(exc), failure.http_status, clean(failure.message, 2000),
                        clean(event.id, 256) if event else None, clean(event.type, 256) if event else None,
                    )  # fmt: skip
        except OtelMarginError as db_exc:  # the database failed too: the answer to Stripe stands
            log.warning("could not record a Stripe webhook failure", extra={"error": str(db_exc)})

    async def unusable(exc: UnusableEvent) -> Response:
        """Acknowledge a signed event revenue cannot book, once it is recorded (else Stripe must redeliver)."""
        with db_errors():
            async with pool.connection() as conn:
                await Ledger(conn).record_unusable(
                    exc.event_id, exc.event_type, exc.reason, keep=UNUSABLE_KEEP, keep_days=UNUSABLE_KEEP_DAYS
                )
        log.warning("Stripe event unusable", extra={"event_id": exc.event_id, "reason": exc.reason})
        return JSONResponse({"id": exc.event_id, "type": exc.event_type, "status": "unusable", "detail": exc.reason})

    async def stripe_webhook(request: Request) -> Response:
        event: Event | None = None
        try:
            body = await read_body(request, MAX_BODY_BYTES)
            try:
                event = webhook.verify(body, request.headers.get("stripe-signature"))
                with db_errors():
                    async with pool.connection() as conn:
                        result = await webhook.process(conn, event)
            except UnusableEvent as exc:
                return await unusable(exc)
        except Exception as exc:  # every failure becomes a status; classify() logs the unexpected
            failure = classify(exc)
            log.warning("Stripe webhook not processed", extra={"reason": _reason(exc), "error": failure.message})
            metrics.stripe_events.add(1, {"outcome": _reason(exc)})
            await record_failure(exc, failure, event)
            return failure.json_response()
        log.debug("Stripe webhook", extra=result.as_dict())
        metrics.stripe_events.add(1, {"outcome": result.status})
        return JSONResponse(result.as_dict())

    async def post_revenue(request: Request) -> Response:
        require_json(request, "revenue")
        body = await read_body(request, MANUAL_MAX_BODY_BYTES)
        try:
            payload = json.loads(body, parse_float=Decimal)
        except ValueError as exc:
            raise PermanentError(f"body is not valid JSON: {exc}") from None
        except RecursionError:
            raise PermanentError("body is not valid JSON for revenue: nested too deep") from None
        if not isinstance(payload, dict | list) or payload == []:
            raise PermanentError("send one revenue entry or a non-empty list of them")
        bookings, rejected = manual.parse_items(payload)
        if not bookings:
            raise NothingValid(rejected)
        with db_errors():
            async with pool.connection() as conn:
                await manual.store(Ledger(conn), bookings)
        return JSONResponse({"accepted": len(bookings), "rejected": rejected})

    return [
        Route("/v1/stripe/webhook", stripe_webhook, methods=["POST"]),
        Route("/v1/revenue", endpoint(post_revenue, tokens=tokens.require(Scope.ADMIN)), methods=["POST"]),
    ]
