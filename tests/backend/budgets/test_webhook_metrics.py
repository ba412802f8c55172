"""The budget webhook's failed attempts are counted by outcome, and the outbox depth is read from the database."""

from __future__ import annotations

import asyncio

import httpx
from psycopg_pool import AsyncConnectionPool

from otel_margin_backend.budgets.config import WebhookConfig
from otel_margin_backend.budgets.webhook import Outcome, WebhookSender, outbox_depth
from otel_margin_backend.service.telemetry import Telemetry
from otel_margin_backend.storage.database import AsyncConn
from tests.deploy.test_collector_batches import metric


def answer(request: httpx.Request) -> httpx.Response:
    status = {"/down": 503, "/gone": 410, "/ok": 204}[request.url.path]
    return httpx.Response(status)


async def send_to(path: str, telemetry: Telemetry) -> Outcome:
    config = WebhookConfig(url=f"https://hooks.example.com{path}")
    async with WebhookSender(config, transport=httpx.MockTransport(answer), metrics=telemetry.metrics) as sender:
        result = await sender.send(1, {"kind": "crossed"})
    return result.outcome


def test_failed_deliveries_are_counted_by_outcome() -> None:
    telemetry = Telemetry()
    outcomes = [asyncio.run(send_to(path, telemetry)) for path in ("/down", "/down", "/gone", "/ok")]
    assert outcomes == [Outcome.RETRY, Outcome.RETRY, Outcome.REJECTED, Outcome.DELIVERED]
    text = telemetry.scrape().decode()
    telemetry.shutdown()
    assert metric(text, "otel_margin_budget_webhook_failures_total", 'outcome="retry"') == 2
    assert metric(text, "otel_margin_budget_webhook_failures_total", 'outcome="rejected"') == 1


def test_the_outbox_depth_counts_pending_notifications(db_url: str) -> None:
    async def depth() -> int:
        pool: AsyncConnectionPool[AsyncConn] = AsyncConnectionPool(db_url, min_size=1, open=False,
                                                                   kwargs={"autocommit": True})  # fmt: skip
        await pool.open()
        try:
            return await outbox_depth(pool)
        finally:
            await pool.close()

    assert asyncio.run(depth()) == 0
