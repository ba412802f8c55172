"""Delivering budget alerts to a webhook from the outbox (``budget_notifications``).

Every crossing and resolution is queued by ``budget_evaluate()`` in the transaction that records it, so a
notification exists exactly once whatever crashes. Delivery takes the oldest pending notification with
``FOR UPDATE SKIP LOCKED`` (two ``serve`` processes never send the same one), POSTs it, and marks it delivered
in the same transaction. A failure (network error, timeout, 408, 425, 429, 5xx) is retried with exponential
backoff, forever; later notifications wait behind it, so they arrive in order. Any other answer (a 3xx or
4xx: the endpoint refuses this request) marks the notification ``failed`` with the answer, and delivery moves on.

Stopping ``serve`` (cancelling the task) lets the POST in flight finish and be recorded, so a restart neither
loses nor repeats a notification. Only a hard crash (kill -9, power loss) between the endpoint's answer and the
commit can repeat one: every POST carries the notification's id (``notification_id`` and the
``Idempotency-Key`` header) so a receiver can drop such a repeat.

With a secret configured, every POST is signed the Standard Webhooks way (``standardwebhooks``): ``webhook-id``
(the same for every attempt of one notification, like ``Idempotency-Key``), ``webhook-timestamp`` (this attempt's
Unix time, so a retry hours later still passes the receiver's five-minute tolerance) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of id.timestamp.body>``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlsplit

import httpx
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

from otel_margin_backend import __version__
from otel_margin_backend.budgets.config import DASHBOARD_UID, WebhookConfig
from otel_margin_backend.pipeline.errors import OtelMarginError
from otel_margin_backend.pipeline.metrics import NOOP, Metrics
from otel_margin_backend.storage.database import AsyncConn
from otel_margin_backend.storage.errors import db_errors

log = logging.getLogger(__name__)

_RETRYABLE = frozenset({httpx.codes.REQUEST_TIMEOUT, httpx.codes.TOO_EARLY, httpx.codes.TOO_MANY_REQUESTS})
_BODY_IN_ERROR = 200
"""Characters of a refusing endpoint's answer kept in ``last_error``."""


class Outcome(enum.Enum):
    """What one POST achieved."""

    DELIVERED = "delivered"
    RETRY = "retry"
    """A passing failure: try again later."""
    REJECTED = "rejected"
    """The endpoint refuses this request: sending it again will not help."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """What one delivery attempt of an alert did: sent, or why not and when to retry."""

    outcome: Outcome
    error: str | None = None
    retry_after_s: float | None = None
    """The endpoint's ``Retry-After`` (seconds), if it gave one."""


@dataclass(frozen=True, slots=True)
class DeliveryRun:
    """What one ``deliver_due`` call did."""

    delivered: int
    failed: int
    """Notifications the endpoint refused (now ``failed``)."""
    wait_s: float | None
    """Seconds until the next pending notification is due; None when none is pending."""


def target(url: str | SecretStr) -> str:
    """``scheme://host[:port]`` of a webhook URL, for logs (its path and query may hold a secret)."""
    parts = urlsplit(url.get_secret_value() if isinstance(url, SecretStr) else url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


def message(notification_id: int, payload: dict[str, Any], config: WebhookConfig) -> dict[str, Any]:
    """The JSON body of one POST: the queued payload plus its id, the dashboard and a one-line summary.

    Args:
        notification_id: The outbox id (also the ``Idempotency-Key``).
        payload: The payload queued with the crossing or resolution.
        config: The webhook config (for the dashboard link).

    Returns:
        The body.
    """
    budget = str(payload.get("budget", ""))
    url = None
    if config.dashboard_url:
        url = f"{config.dashboard_url.rstrip('/')}/d/{DASHBOARD_UID}?var-budget={quote(budget, safe='')}"
    return {
        "notification_id": notification_id,
        **payload,
        "dashboard": {
            "uid": DASHBOARD_UID,
            "url": url,
            "hint": "Grafana dashboard 'otel-margin budgets', or run `otel-margin budgets status`",
        },
        "text": summary(payload),
    }


def summary(payload: dict[str, Any]) -> str:
    """One human-readable line for chat tools (Slack and others show ``text``).

    Args:
        payload: A queued payload.

    Returns:
        The line.
    """
    currency = payload.get("currency", "")
    period = payload.get("period") or {}
    head = f"Budget {payload.get('budget')} ({payload.get('scope_label')})"
    usage = f"{payload.get('spend')} {currency} of {payload.get('limit')} {currency}"
    if payload.get("percent") is not None:
        usage += f" ({payload['percent']} %)"
    when = f"{period.get('kind')} from {str(period.get('start', ''))[:10]}"
    if payload.get("event") == "budget.threshold_crossed":
        return f"{head}: {payload.get('severity')} — {payload.get('threshold_percent')} % reached, {usage}, {when}."
    return f"{head}: {payload.get('severity')} resolved ({payload.get('resolution')}), {usage}, {when}."


class WebhookSender:
    """POSTs notifications to one endpoint; use as an async context manager (it owns an HTTP client)."""

    def __init__(
        self, config: WebhookConfig, *, transport: httpx.AsyncBaseTransport | None = None, metrics: Metrics = NOOP
    ) -> None:
        """Open the HTTP client; failed attempts are counted in ``metrics`` by outcome (retry, rejected).

        Raises:
            ValueError: the config has no URL (set ``OTEL_MARGIN_BUDGET_WEBHOOK_URL``).
        """
        if config.url is None:
            raise ValueError("the budget webhook has no URL; set OTEL_MARGIN_BUDGET_WEBHOOK_URL")
        self.config = config
        self.metrics = metrics
        self.url = config.url.get_secret_value()
        self._signer = Webhook(config.secret.get_secret_value()) if config.secret is not None else None
        if self._signer is None:
            log.warning("budget webhooks are sent unsigned: set OTEL_MARGIN_BUDGET_WEBHOOK_SECRET (whsec_...) so "
                        "receivers can verify them", extra={"webhook": target(self.url)})  # fmt: skip
        self._client = httpx.AsyncClient(
            timeout=config.timeout_s,
            follow_redirects=False,
            transport=transport,
            headers={"user-agent": f"otel-margin/{__version__}"},
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def send(self, notification_id: int, payload: dict[str, Any]) -> SendResult:
        """POST one notification.

        Args:
            notification_id: The outbox id.
            payload: The queued payload.

        Returns:
            Whether it was delivered, should be retried, or was refused.
        """
        body = json.dumps(message(notification_id, payload, self.config), separators=(",", ":")).encode()
        message_id = f"otel-margin-budget-notification-{notification_id}"
        headers = {"content-type": "application/json", "idempotency-key": message_id}
        if self._signer is not None:
            headers |= signature_headers(self._signer, message_id, body)
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            self.metrics.webhook_failures.add(1, {"outcome": "retry"})
            return SendResult(Outcome.RETRY, f"{type(exc).__name__}: {exc}".rstrip(": "))
        status = response.status_code
        if httpx.codes.is_success(status):
            return SendResult(Outcome.DELIVERED)
        retry = status in _RETRYABLE or httpx.codes.is_server_error(status)
        self.metrics.webhook_failures.add(1, {"outcome": "retry" if retry else "rejected"})
        error = f"HTTP {status}: {response.text[:_BODY_IN_ERROR]}".rstrip(": ")
        if status in _RETRYABLE or httpx.codes.is_server_error(status):
            return SendResult(Outcome.RETRY, error, _retry_after(response.headers.get("retry-after")))
        if httpx.codes.is_redirect(status):
            error += " (redirects are not followed: set the final URL)"
        return SendResult(Outcome.REJECTED, error)


def signature_headers(signer: Webhook, message_id: str, body: bytes, now: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt: its id, this attempt's time and the signature of the body.

    Args:
        signer: The webhook signer (``standardwebhooks.Webhook`` with the secret).
        message_id: The notification's id, the same for every attempt.
        body: The exact bytes POSTed.
        now: This attempt's time. Default: the clock.

    Returns:
        ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature``.
    """
    at = (now or datetime.now(UTC)).replace(microsecond=0)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signer.sign(message_id, at, body.decode()),
    }


async def outbox_depth(pool: AsyncConnectionPool[AsyncConn]) -> int:
    """Notifications in the outbox not yet delivered (nor refused): the webhook's backlog."""
    async with pool.connection(timeout=2.0) as conn:
        cur = await conn.execute("SELECT count(*) FROM budget_notifications WHERE state = 'pending'")
        row = await cur.fetchone()
    return int(row[0]) if row else 0


def backoff_s(attempts: int, config: WebhookConfig, retry_after_s: float | None = None) -> float:
    """Seconds to wait after ``attempts`` failed attempts: doubling from ``retry_initial_s``, at most
    ``retry_max_s``, and no less than the endpoint's ``Retry-After`` (within that cap).

    Args:
        attempts: Failed attempts so far (1 after the first failure).
        config: The webhook config.
        retry_after_s: The endpoint's ``Retry-After``, if any.

    Returns:
        The wait.
    """
    delay: float = config.retry_initial_s * 2.0 ** min(max(attempts - 1, 0), 32)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return min(delay, config.retry_max_s)


_NEXT = (
    "SELECT id, payload, attempts, greatest(extract(epoch FROM next_attempt_at - clock_timestamp()), 0)::float8 "
    "FROM budget_notifications WHERE state = 'pending' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
)


async def deliver_due(pool: AsyncConnectionPool[AsyncConn], sender: WebhookSender, *, limit: int = 100) -> DeliveryRun:
    """Deliver pending notifications in order until one must wait, none is left, or ``limit`` were sent.

    Cancelling it (``serve`` stopping) lets the notification in flight finish first, within the HTTP timeout:
    stopping between the endpoint's answer and the commit would send it again after the restart.

    Args:
        pool: An open connection pool.
        sender: The sender for the configured endpoint.
        limit: Most notifications handled in this call.

    Returns:
        What was delivered, and when to call again.
    """
    delivered = failed = 0
    for _ in range(limit):
        step = asyncio.ensure_future(_deliver_next(pool, sender))
        try:
            outcome, wait_s = await asyncio.shield(step)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await step
            raise
        if outcome is Outcome.DELIVERED:
            delivered += 1
        elif outcome is Outcome.REJECTED:
            failed += 1
        else:
            return DeliveryRun(delivered, failed, wait_s)
    return DeliveryRun(delivered, failed, 0.0)


async def _deliver_next(pool: AsyncConnectionPool[AsyncConn], sender: WebhookSender) -> tuple[Outcome, float | None]:
    """Send the oldest pending notification if it is due; RETRY means "stop for now", with the wait if any."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute(_NEXT)
        row = await cur.fetchone()
        if row is None:
            return Outcome.RETRY, None
        notification_id, payload, attempts, wait_s = int(row[0]), dict(row[1]), int(row[2]) + 1, float(row[3])
        if wait_s > 0:
            return Outcome.RETRY, wait_s
        result = await sender.send(notification_id, payload)
        if result.outcome is Outcome.DELIVERED:
            await conn.execute(
                "UPDATE budget_notifications SET state = 'delivered', delivered_at = clock_timestamp(), "
                "attempts = %s, last_error = NULL WHERE id = %s",
                (attempts, notification_id),
            )
            return Outcome.DELIVERED, None
        if result.outcome is Outcome.REJECTED:
            await conn.execute(
                "UPDATE budget_notifications SET state = 'failed', attempts = %s, last_error = %s WHERE id = %s",
                (attempts, result.error, notification_id),
            )
            log.error(
                "the alert webhook refused a notification; it will not be retried",
                extra={"notification_id": notification_id, "webhook": target(sender.url),
                       "error": result.error},
            )  # fmt: skip
            return Outcome.REJECTED, None
        delay_s = backoff_s(attempts, sender.config, result.retry_after_s)
        await conn.execute(
            "UPDATE budget_notifications SET attempts = %s, last_error = %s, "
            "next_attempt_at = clock_timestamp() + make_interval(secs => %s) WHERE id = %s",
            (attempts, result.error, delay_s, notification_id),
        )
        log.warning(
            "alert webhook delivery failed; will retry",
            extra={"notification_id": notification_id, "attempt": attempts, "retry_in_s": delay_s,
                   "webhook": target(sender.url), "error": result.error},
        )  # fmt: skip
        return Outcome.RETRY, delay_s


async def run_deliveries(
    pool: AsyncConnectionPool[AsyncConn],
    config: WebhookConfig,
    *,
    wake: asyncio.Event | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    metrics: Metrics = NOOP,
) -> None:
    """Deliver the outbox until cancelled: when woken, when a retry is due, and every ``poll_s``.

    Args:
        pool: The service's open connection pool.
        config: The endpoint and retry policy.
        wake: Set it to deliver right away (the evaluator does after a crossing). Default: poll only.
        transport: The HTTP transport (tests). Default: httpx's.
        metrics: Where failed delivery attempts are counted.
    """
    wake = wake or asyncio.Event()
    async with WebhookSender(config, transport=transport, metrics=metrics) as sender:
        while True:
            wake.clear()
            wait_s = config.poll_s
            try:
                with db_errors():
                    run = await deliver_due(pool, sender)
            except OtelMarginError as exc:  # the database failed (translated): the next poll tries again
                log.warning("alert webhook delivery paused: the database failed", extra={"error": str(exc)})
            except Exception:
                log.exception("alert webhook delivery failed unexpectedly")
            else:
                if run.wait_s is not None:
                    wait_s = min(wait_s, run.wait_s)
            if wait_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), wait_s)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP date: the backoff applies
    return seconds if seconds >= 0 else None
