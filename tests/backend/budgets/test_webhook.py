"""Webhook delivery from the outbox to a real local HTTP server: one POST per crossing and resolution, through
repeated evaluations, failures, retries and restarts."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from otel_margin_backend.budgets.config import WebhookConfig
from otel_margin_backend.budgets.definition import parse_file
from otel_margin_backend.budgets.evaluation import evaluate, run_evaluations
from otel_margin_backend.budgets.store import apply_budgets
from otel_margin_backend.budgets.webhook import (
    DeliveryRun,
    WebhookSender,
    backoff_s,
    deliver_due,
    signature_headers,
    summary,
    target,
)
from otel_margin_backend.storage.database import AsyncConn
from tests.backend.budgets.helpers import IMAGE_BUDGET, call, connect, spend
from tests.support.events import run
from tests.support.pgcluster import free_port

MID_NOV = datetime(2026, 11, 16, tzinfo=UTC)
EARLY_DEC = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)


@dataclass
class Received:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes = b""
    """The body as sent (what a signature covers)."""


@dataclass
class Endpoint:
    """A local webhook receiver: answers each POST with the next planned status (then 200) and records it."""

    url: str
    plan: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """Bodies answered with 2xx, in arrival order."""
        with self.lock:
            return [r.body for r in self.received if 200 <= r.status < 300]


@contextmanager
def endpoint(plan: list[int] | None = None, *, port: int = 0) -> Iterator[Endpoint]:
    state = Endpoint(url="", plan=list(plan or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["content-length"]))
            with state.lock:
                status = state.plan.pop(0) if state.plan else 200
                headers = {k.lower(): v for k, v in self.headers.items()}
                state.received.append(Received(status, headers, json.loads(raw), raw))
            answer = b"ok" if status < 300 else b"try later" if status >= 500 else b"bad payload"
            self.send_response(status)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/otel-margin?token=s3cret"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@asynccontextmanager
async def pool_for(url: str) -> AsyncIterator[AsyncConnectionPool[AsyncConn]]:
    pool: AsyncConnectionPool[AsyncConn] = AsyncConnectionPool(url, min_size=1, max_size=4, open=False,
                                                               kwargs={"autocommit": True})  # fmt: skip
    await pool.open()
    try:
        yield pool
    finally:
        await pool.close()


def fast(url: str, **overrides: Any) -> WebhookConfig:
    values: dict[str, Any] = {"url": url, "retry_initial_s": 0.05, "retry_max_s": 0.2, "poll_s": 0.05, "timeout_s": 5}
    return WebhookConfig(**(values | overrides))


async def deliver(url: str, config: WebhookConfig) -> DeliveryRun:
    """One delivery pass by a fresh process: its own pool and HTTP client."""
    async with pool_for(url) as pool, WebhookSender(config) as sender:
        return await deliver_due(pool, sender)


async def outbox(conn: AsyncConn) -> list[tuple[str, int, str | None]]:
    cur = await conn.execute("SELECT state, attempts, last_error FROM budget_notifications ORDER BY id")
    return [(str(s), int(a), e) for s, a, e in await cur.fetchall()]


def test_each_crossing_and_resolution_is_posted_once_across_evaluations_and_restarts(db_url: str) -> None:
    with endpoint() as hook:
        config = fast(hook.url, dashboard_url="https://grafana.example.com/")

        async def scenario() -> None:
            async with connect(db_url) as conn:
                await apply_budgets(conn, parse_file(IMAGE_BUDGET), at=MID_NOV)
                await spend(db_url, call(1, "400"))
                await evaluate(conn, at=MID_NOV)
                assert await deliver(db_url, config) == DeliveryRun(0, 0, None)
                await spend(db_url, call(2, "60"))
                for _ in range(3):
                    await evaluate(conn, at=MID_NOV)
                    assert (await deliver(db_url, config)).wait_s is None
                await spend(db_url, call(3, "100"))
                await evaluate(conn, at=MID_NOV)
                assert await deliver(db_url, config) == DeliveryRun(1, 0, None)
                for _ in range(3):  # repeated evaluations and restarted deliverers: nothing new to send
                    await evaluate(conn, at=MID_NOV)
                    assert await deliver(db_url, config) == DeliveryRun(0, 0, None)
                await evaluate(conn, at=EARLY_DEC)
                await evaluate(conn, at=EARLY_DEC)
                assert await deliver(db_url, config) == DeliveryRun(2, 0, None)
                assert await deliver(db_url, config) == DeliveryRun(0, 0, None)
                assert await outbox(conn) == [("delivered", 1, None)] * 4

        run(scenario())
        assert [r.status for r in hook.received] == [200] * 4
        bodies = hook.delivered
        assert [(b["event"], b["severity"], b["spend"], b["resolution"]) for b in bodies] == [
            ("budget.threshold_crossed", "warning", "460", None),
            ("budget.threshold_crossed", "critical", "560", None),
            ("budget.threshold_resolved", "warning", "560", "period_rolled_over"),
            ("budget.threshold_resolved", "critical", "560", "period_rolled_over"),
        ]
        first = bodies[0]
        assert first["dashboard"] == {
            "uid": "otel-margin-budgets",
            "url": "https://grafana.example.com/d/otel-margin-budgets?var-budget=image-generation",
            "hint": "Grafana dashboard 'otel-margin budgets', or run `otel-margin budgets status`",
        }
        assert first["text"] == (
            "Budget image-generation (feature=image_generation): warning — 75 % reached, 460 USD of 600 USD "
            "(76.66 %), month from 2026-11-01."
        )
        assert bodies[2]["text"] == (
            "Budget image-generation (feature=image_generation): warning resolved (period_rolled_over), "
            "560 USD of 600 USD (93.33 %), month from 2026-11-01."
        )
        assert (first["limit"], first["percent"], first["threshold_percent"], first["currency"]) == (
            "600", "76.66", "75", "USD",
        )  # fmt: skip
        ids = [b["notification_id"] for b in bodies]
        assert len(set(ids)) == 4 and ids == sorted(ids)
        headers = hook.received[0].headers
        assert headers["content-type"] == "application/json"
        assert headers["idempotency-key"] == f"otel-margin-budget-notification-{ids[0]}"
        assert headers["user-agent"].startswith("otel-margin/")


SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"


def test_a_delivered_webhook_verifies_with_the_standard_webhooks_library_even_after_a_retry(db_url: str) -> None:
    with endpoint([503]) as hook:
        config = fast(hook.url, secret=SECRET)

        async def scenario() -> None:
            async with connect(db_url) as conn:
                await apply_budgets(conn, parse_file(IMAGE_BUDGET), at=MID_NOV)
                await spend(db_url, call(1, "460"))
                await evaluate(conn, at=MID_NOV)
                assert (await deliver(db_url, config)).delivered == 0  # 503: retried
                await conn.execute("UPDATE budget_notifications SET next_attempt_at = clock_timestamp()")
                assert await deliver(db_url, config) == DeliveryRun(1, 0, None)

        run(scenario())
    first, second = hook.received
    assert (first.status, second.status) == (503, 200)
    verifier = Webhook(SECRET)
    for attempt in (first, second):
        assert verifier.verify(attempt.raw, attempt.headers) == attempt.body  # the library parses the JSON it checked
        assert attempt.headers["webhook-id"] == attempt.headers["idempotency-key"] == (
            f"otel-margin-budget-notification-{attempt.body['notification_id']}")  # fmt: skip
        assert attempt.headers["webhook-signature"].startswith("v1,")
    assert second.body["spend"] == "460"
    with pytest.raises(WebhookVerificationError, match="No matching signature found"):
        verifier.verify(second.raw.replace(b'"460"', b'"4.60"'), second.headers)
    with pytest.raises(WebhookVerificationError, match="No matching signature found"):
        Webhook("whsec_" + "A" * 32).verify(second.raw, second.headers)


def test_each_attempt_is_signed_at_its_own_time() -> None:
    signer = Webhook(SECRET)
    body = b'{"notification_id":1}'
    old = signature_headers(signer, "otel-margin-budget-notification-1", body, datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(WebhookVerificationError, match="Message timestamp too old"):
        signer.verify(body, old)  # why a retry is signed anew, not replayed
    fresh = signature_headers(signer, "otel-margin-budget-notification-1", body)
    assert signer.verify(body, fresh, json_parse=False) is None


def test_a_webhook_secret_must_be_a_standard_webhooks_secret() -> None:
    for bad in ("s3cret", "whsec_", "whsec_not base64!", "whsec_" + "QUFB"):
        with pytest.raises(ValidationError, match="not a Standard Webhooks secret"):
            WebhookConfig(url="https://hooks.example.com/x", secret=bad)


def test_a_failing_endpoint_is_retried_with_backoff_in_order(db_url: str) -> None:
    with endpoint([503, 500, 429]) as hook:
        config = fast(hook.url, retry_initial_s=0.3, retry_max_s=0.6)

        async def scenario() -> None:
            async with connect(db_url) as conn:
                await apply_budgets(conn, parse_file(IMAGE_BUDGET), at=MID_NOV)
                await spend(db_url, call(1, "560"))
                await evaluate(conn, at=MID_NOV)  # warning and critical at once
                waits = []
                for _ in range(3):
                    result = await deliver(db_url, config)
                    assert (result.delivered, result.failed) == (0, 0)
                    waits.append(result.wait_s)
                    # Not due yet: the next pass sends nothing.
                    assert (await deliver(db_url, config)).delivered == 0
                    await asyncio.sleep(result.wait_s or 0)
                assert waits == [0.3, 0.6, 0.6]
                assert await outbox(conn) == [("pending", 3, "HTTP 429: bad payload"), ("pending", 0, None)]
                assert await deliver(db_url, config) == DeliveryRun(2, 0, None)
                assert await outbox(conn) == [("delivered", 4, None), ("delivered", 1, None)]

        run(scenario())
        assert [(r.status, r.body["severity"]) for r in hook.received] == [
            (503, "warning"), (500, "warning"), (429, "warning"), (200, "warning"), (200, "critical"),
        ]  # fmt: skip
        assert len({r.body["notification_id"] for r in hook.received[:4]}) == 1


def test_a_refused_notification_is_marked_failed_and_the_next_one_goes_out(db_url: str) -> None:
    with endpoint([400]) as hook:
        config = fast(hook.url)

        async def scenario() -> None:
            async with connect(db_url) as conn:
                await apply_budgets(conn, parse_file(IMAGE_BUDGET), at=MID_NOV)
                await spend(db_url, call(1, "560"))
                await evaluate(conn, at=MID_NOV)
                assert await deliver(db_url, config) == DeliveryRun(1, 1, None)
                assert await outbox(conn) == [("failed", 1, "HTTP 400: bad payload"), ("delivered", 1, None)]
                assert await deliver(db_url, config) == DeliveryRun(0, 0, None)

        run(scenario())
        assert [r.status for r in hook.received] == [400, 200]


def test_a_restart_while_the_endpoint_is_down_loses_and_repeats_nothing(db_url: str) -> None:
    port = free_port()
    config = fast(f"http://127.0.0.1:{port}/hooks/otel-margin?token=s3cret")
    now = datetime.now(UTC)

    async def run_for(seconds: float, until: Callable[[], bool] | None = None) -> None:
        """One life of ``serve``'s budget task: evaluate every 50 ms and deliver, then stop (cancel)."""
        async with pool_for(db_url) as pool:
            task = asyncio.create_task(run_evaluations(pool, 0.05, webhook=config))
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not (until and until()):
                await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    async def setup() -> None:
        async with connect(db_url) as conn:
            await apply_budgets(conn, parse_file(IMAGE_BUDGET))
        await spend(db_url, call(1, "560", time=now))

    run(setup())
    run(run_for(0.5))  # nothing listens: every attempt fails, and the process stops mid-retry

    async def attempts() -> list[tuple[str, int, str | None]]:
        async with connect(db_url) as conn:
            return await outbox(conn)

    first_life = run(attempts())
    assert [s for s, _, _ in first_life] == ["pending", "pending"]
    assert first_life[0][1] >= 2 and (first_life[0][2] or "").startswith("ConnectError")

    with endpoint(port=port) as hook:
        run(run_for(10, until=lambda: len(hook.delivered) >= 2))
        run(run_for(0.5))  # another restart, with everything delivered: nothing is sent again
        assert [r.status for r in hook.received] == [200, 200]
        assert [(b["event"], b["severity"]) for b in hook.delivered] == [
            ("budget.threshold_crossed", "warning"),
            ("budget.threshold_crossed", "critical"),
        ]
    assert [s for s, _, _ in run(attempts())] == ["delivered", "delivered"]


def test_backoff_doubles_to_the_cap_and_honours_retry_after() -> None:
    config = WebhookConfig(url="https://hooks.example.com/x", retry_initial_s=5, retry_max_s=900)
    assert [backoff_s(n, config) for n in (1, 2, 3, 4, 8, 9, 100)] == [5, 10, 20, 40, 640, 900, 900]
    assert backoff_s(1, config, retry_after_s=120) == 120
    assert backoff_s(1, config, retry_after_s=5000) == 900


def test_logs_name_the_webhook_host_only() -> None:
    assert target("https://hooks.slack.com/services/T000/B000/secret?x=1") == "https://hooks.slack.com"
    assert target("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080"


def test_a_webhook_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="not an http\\(s\\) URL"):
        WebhookConfig(url="ftp://example.com/hook")


def test_the_summary_of_a_share_of_revenue_alert_without_revenue() -> None:
    payload = {
        "event": "budget.threshold_crossed",
        "budget": "acme-ai-share",
        "scope_label": "customer=acct_acme",
        "period": {"kind": "month", "start": "2026-11-01T00:00:00Z"},
        "severity": "exceeded",
        "threshold_percent": "100",
        "currency": "USD",
        "spend": "12.5",
        "limit": "0",
        "percent": None,
    }
    assert summary(payload) == (
        "Budget acme-ai-share (customer=acct_acme): exceeded — 100 % reached, 12.5 USD of 0 USD, month from 2026-11-01."
    )
