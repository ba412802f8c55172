"""Fixtures: the revenue routes served by uvicorn on a real socket, a local Stripe API, and the CLI sub-apps.

The routes run as the service will run them (``routes(config, pool, tokens, api=...)`` in a Starlette app over an
``AsyncConnectionPool``) against a fresh TimescaleDB and PostgreSQL database (``db_url``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import typer
import uvicorn
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from typer.testing import CliRunner, Result

from otel_margin_backend.cli import revenue as revenue_cli
from otel_margin_backend.revenue.config import RevenueConfig
from otel_margin_backend.revenue.routes import routes
from otel_margin_backend.revenue.stripe_api import create_api
from otel_margin_backend.storage.database import AsyncConn
from otel_margin_backend.web.auth import TokenCheck
from tests.backend.revenue.stripe_fixtures import WEBHOOK_SECRET, body_of, signed
from tests.backend.revenue.stripe_stub import API_KEY, StripeStub

TOKEN = "revenue-test-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class RevenueServer:
    """The revenue routes behind uvicorn, on their own event loop in a thread."""

    def __init__(self, db_url: str, config: RevenueConfig) -> None:
        self.db_url = db_url
        self.config = config
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="revenue", daemon=True)
        self.api = create_api(config)
        self.pool: AsyncConnectionPool[AsyncConn] | None = None
        self.server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    def start(self) -> RevenueServer:
        self._thread.start()

        async def start() -> None:
            self.pool = AsyncConnectionPool(self.db_url, min_size=1, max_size=4, open=False,
                                            kwargs={"autocommit": True})  # fmt: skip
            await self.pool.open()
            app = Starlette(routes=routes(self.config, self.pool, TokenCheck(TOKEN), api=self.api))
            self.server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False,
                                                 lifespan="off"))  # fmt: skip
            self._task = asyncio.create_task(self.server.serve())
            while not self.server.started:
                if self._task.done():
                    await self._task
                await asyncio.sleep(0.01)

        self._call(start())
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        async def stop() -> None:
            if self.server is not None:
                self.server.should_exit = True
            if self._task is not None:
                await self._task
            if self.pool is not None:
                await self.pool.close()

        self._call(stop())
        if self.api is not None:
            self.api.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def deliver(self, evt: dict[str, Any], *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None,
                signature: str | None = None) -> httpx.Response:  # fmt: skip
        """POST an event the way Stripe does: the raw JSON body, signed."""
        body = body_of(evt)
        header = signature if signature is not None else signed(body, secret=secret, timestamp=timestamp)
        return self.post(body, header)

    def post(self, body: bytes, header: str | bytes) -> httpx.Response:
        """POST a raw body with this ``Stripe-Signature`` header (bytes: sent as they are)."""
        return httpx.post(
            f"{self.url}/v1/stripe/webhook", content=body, timeout=30,
            headers={"content-type": "application/json; charset=utf-8", "stripe-signature": header,
                     "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"},
        )  # fmt: skip

    def deliver_ok(self, evt: dict[str, Any]) -> dict[str, Any]:
        response = self.deliver(evt)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
def stripe_stub() -> Iterator[StripeStub]:
    stub = StripeStub().start()
    try:
        yield stub
    finally:
        stub.stop()


def config_for(stub: StripeStub | None, **overrides: Any) -> RevenueConfig:
    values: dict[str, Any] = {"stripe_webhook_secret": WEBHOOK_SECRET, "stripe_max_network_retries": 0}
    if stub is not None:
        values.update(stripe_api_key=API_KEY, stripe_api_base=stub.url)
    values.update(overrides)
    return RevenueConfig(**values)


@contextlib.contextmanager
def serving(db_url: str, config: RevenueConfig) -> Iterator[RevenueServer]:
    server = RevenueServer(db_url, config).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def revenue(db_url: str, stripe_stub: StripeStub) -> Iterator[RevenueServer]:
    """The routes with a webhook secret and the Stripe API pointed at the local stub."""
    with serving(db_url, config_for(stripe_stub)) as server:
        yield server


# -- reading back ----------------------------------------------------------------------------------------------------


def monthly(url: str) -> dict[tuple[str, str, str], tuple[str, str, str]]:
    """revenue_monthly as {(customer, YYYY-MM, currency): (revenue, refunds, net)} (exact decimal strings)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT customer_id, to_char(month AT TIME ZONE 'UTC', 'YYYY-MM'), currency, revenue, refunds, net"
            " FROM revenue_monthly ORDER BY 1, 2, 3"
        ).fetchall()
    return {(c, m, cur): (str(r), str(f), str(n)) for c, m, cur, r, f, n in rows}


def tax_by_month(url: str) -> dict[tuple[str, str, str], str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT customer_id, to_char(month AT TIME ZONE 'UTC', 'YYYY-MM'), currency, tax FROM revenue_monthly"
            " WHERE tax <> 0 ORDER BY 1, 2, 3"
        ).fetchall()
    return {(c, m, cur): str(t) for c, m, cur, t in rows}


def entries(url: str) -> list[tuple[str, str, str, str, int, str]]:
    """(source_id, source_line, kind, YYYY-MM, amount_minor, currency) of every entry."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT source_id, source_line, kind, to_char(month, 'YYYY-MM'), amount_minor, currency"
            " FROM revenue_entries ORDER BY source_id, source_line, kind, month"
        ).fetchall()
    return [(str(a), str(b), str(c), str(d), int(e), str(f)) for a, b, c, d, e, f in rows]


def events(url: str) -> list[tuple[str, str, str]]:
    """(event id, type, outcome) of processed events."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT event_id, type, outcome FROM stripe_events ORDER BY received_at, event_id")
        return [(str(a), str(b), str(c)) for a, b, c in rows.fetchall()]


def failures(url: str) -> list[tuple[str, int, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT reason, http_status, message FROM stripe_webhook_failures ORDER BY id")
        return [(str(a), int(b), str(c)) for a, b, c in rows.fetchall()]


def unusable(url: str) -> list[tuple[str | None, str | None, str]]:
    """(event id, type, reason) of signed events recorded as unusable, newest first."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT event_id, event_type, reason FROM stripe_unusable_events ORDER BY id DESC")
        return [(a, b, str(c)) for a, b, c in rows.fetchall()]


# -- the CLI ---------------------------------------------------------------------------------------------------------


def cli_app() -> typer.Typer:
    """``otel-margin`` with the revenue sub-apps added exactly as cli/main.py adds them."""
    app = typer.Typer(name="otel-margin", no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
    app.add_typer(revenue_cli.customers_app)
    app.add_typer(revenue_cli.stripe_app)
    app.add_typer(revenue_cli.revenue_app)
    app.add_typer(revenue_cli.fx_app)
    return app


def run_cli(*args: str, db_url: str, env: dict[str, str] | None = None) -> Result:
    """Run ``otel-margin <args>`` in-process, configured only through the environment."""
    environment = {
        "OTEL_MARGIN_DATABASE_URL": db_url,
        "OTEL_MARGIN_LOG_FORMAT": "console",
        "OTEL_MARGIN_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",
        "STRIPE_API_KEY": "",
        "STRIPE_WEBHOOK_SECRET": "",
        "OTEL_MARGIN_STRIPE_API_KEY": "",
        "OTEL_MARGIN_STRIPE_API_BASE": "",
    }
    environment.update(env or {})
    # An empty value means "unset" for the variables above; CliRunner removes variables whose value is None.
    cleaned: dict[str, str | None] = {k: (v if v != "" else None) for k, v in environment.items()}
    return CliRunner().invoke(cli_app(), list(args), env=cleaned, catch_exceptions=False)
