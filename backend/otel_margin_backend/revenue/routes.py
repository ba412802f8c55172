"""HTTP routes of the revenue component: ``POST /v1/stripe/webhook`` and ``POST /v1/revenue``.

Answers (the status codes come from ``web/status.classify``, the one place errors become statuses):

``POST /v1/stripe/webhook`` (authenticated by the ``Stripe-Signature`` header, not the ingest token)
    200 ``{"id", "type", "status", "detail"}``: booked, reversed, unchanged, stale, ignored, customer or duplicate.
    400 ``{"error"}``: bad or stale signature, or a signed body that is not a readable event.
    503 ``{"error"}`` with ``Retry-After``: no signing secret configured, or the database or Stripe API is down.
    Every non-200 answer is recorded in ``stripe_webhook_failures`` (when the database can take it).

``POST /v1/revenue`` (ingest token): manual revenue, one entry or a list (``manual.py``)
    200 ``{"accepted": n, "rejected": [...]}`` when at least one entry was valid (those are stored), else 400.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_margin_backend.pipeline.errors import PermanentError, RetryableError, StoreUnavailable
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
    WebhookNotConfigured,
)
from otel_margin_backend.storage.database import AsyncConn
from otel_margin_backend.web.auth import TokenCheck
from otel_margin_backend.web.body import read_body
from otel_margin_backend.web.status import Failure, UnsupportedMediaType, classify

log = logging.getLogger(__name__)

JSON = "application/json"

MANUAL_MAX_BODY_BYTES = 4 * 1_048_576


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


def _error(failure: Failure) -> JSONResponse:
    headers = {"Retry-After": str(round(failure.retry_after_s))} if failure.retry_after_s is not None else None
    return JSONResponse({"error": failure.message}, status_code=failure.http_status, headers=headers)


def routes(
    config: RevenueConfig, pool: AsyncConnectionPool[AsyncConn], tokens: TokenCheck, *, api: StripeApi | None
) -> list[Route]:
    """The revenue routes.

    Args:
        config: The revenue config (the webhook secret; the customer metadata key).
        pool: The service's connection pool (autocommit connections).
        tokens: The ingest token check, for ``/v1/revenue``.
        api: The Stripe API client for customer lookups and long invoices (``create_api(config)``; the caller
            closes it on shutdown), or None to use only what payloads carry.

    Returns:
        ``POST /v1/stripe/webhook`` and ``POST /v1/revenue``.
    """
    webhook = StripeWebhook(config, StripeBooker(config, api))

    async def record_failure(exc: BaseException, failure: Failure, event: Event | None) -> None:
        try:
            async with pool.connection(timeout=2.0) as conn:
                await Ledger(conn).record_failure(
                    _reason(exc), failure.http_status, failure.message, event.id if event else None,
                    event.type if event else None,
                )  # fmt: skip
        except (psycopg.Error, PoolTimeout) as db_exc:
            log.warning("could not record a Stripe webhook failure", extra={"error": str(db_exc).splitlines()[0]})

    async def stripe_webhook(request: Request) -> Response:
        event: Event | None = None
        try:
            body = await read_body(request, MAX_BODY_BYTES)
            event = webhook.verify(body, request.headers.get("stripe-signature"))
            try:
                async with pool.connection() as conn:
                    result = await webhook.process(conn, event)
            except (psycopg.OperationalError, PoolTimeout) as exc:
                raise StoreUnavailable(f"the database is unavailable: {str(exc).splitlines()[0]}") from None
        except Exception as exc:  # every failure becomes a status; classify() logs the unexpected
            failure = classify(exc)
            log.warning("Stripe webhook not processed", extra={"reason": _reason(exc), "error": failure.message})
            await record_failure(exc, failure, event)
            return _error(failure)
        log.debug("Stripe webhook", extra=result.as_dict())
        return JSONResponse(result.as_dict())

    async def post_revenue(request: Request) -> Response:
        try:
            tokens.check(request.headers.get("authorization"))
            if (request.headers.get("content-type") or JSON).split(";")[0].strip().lower() != JSON:
                raise UnsupportedMediaType("send revenue as application/json")
            body = await read_body(request, MANUAL_MAX_BODY_BYTES)
            try:
                payload = json.loads(body, parse_float=Decimal)
            except ValueError as exc:
                raise PermanentError(f"body is not valid JSON: {exc}") from None
            if not isinstance(payload, dict | list) or payload == []:
                raise PermanentError("send one revenue entry or a non-empty list of them")
            bookings, rejected = manual.parse_items(payload)
            if bookings:
                try:
                    async with pool.connection() as conn:
                        await manual.store(Ledger(conn), bookings)
                except (psycopg.OperationalError, PoolTimeout) as exc:
                    raise StoreUnavailable(f"the database is unavailable: {str(exc).splitlines()[0]}") from None
        except Exception as exc:  # every failure becomes a status; classify() logs the unexpected
            return _error(classify(exc))
        if bookings:
            return JSONResponse({"accepted": len(bookings), "rejected": rejected})
        status = classify(PermanentError("no valid entry")).http_status
        return JSONResponse({"accepted": 0, "rejected": rejected}, status_code=status)

    return [
        Route("/v1/stripe/webhook", stripe_webhook, methods=["POST"]),
        Route("/v1/revenue", post_revenue, methods=["POST"]),
    ]
