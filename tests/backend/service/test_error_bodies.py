"""Every non-OTLP endpoint of the served app answers every failure in the one JSON error body.

``{"error": {"code", "message", "retry_after_s"?, "details"?}}`` (``web/status.py``), with ``Retry-After`` exactly
when the client should retry. A few bad requests per route go to the real backend (database up); the routes
that fail only when the database is down are asked on an app whose pool points at a closed port. Each path the
app serves, except OTLP's ``/v1/traces``, must be among them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import grpc
import httpx
import pytest
from psycopg_pool import AsyncConnectionPool
from starlette.routing import Route

from otel_margin_backend.budgets.check import BudgetStates
from otel_margin_backend.budgets.routes import routes as budget_routes
from otel_margin_backend.revenue.config import RevenueConfig
from otel_margin_backend.revenue.routes import routes as revenue_routes
from otel_margin_backend.service.app import create_app
from otel_margin_backend.simulator import SimulatorConfig, create
from otel_margin_backend.simulator.routes import routes as simulator_routes
from otel_margin_backend.web.auth import TokenCheck
from tests.backend.simulator.calls import BOOK
from tests.support.backend import AUTH, TOKEN, BackendThread, running_backend
from tests.support.pgcluster import free_port
from tests.support.stores import Server

OTLP_PATHS = {"/v1/traces", "/v1/metrics", "/v1/logs"}
VALID_REVENUE = {"external_id": "c-1", "customer_id": "acct_1", "amount": "10.00", "currency": "USD",
                 "date": "2026-11-03"}  # fmt: skip


class Bad(NamedTuple):
    route: str
    """The route's path template, for the coverage check."""
    method: str
    url: str
    kwargs: dict[str, Any]
    status: int
    code: str


NO_TOKEN = {"authorization": ""}
TEXT = {**AUTH, "content-type": "text/plain"}
JSON = {**AUTH, "content-type": "application/json"}
UP = [
    Bad("/healthz", "POST", "/healthz", {}, 405, "UNIMPLEMENTED"),
    Bad("/v1/stats", "DELETE", "/v1/stats", {}, 405, "UNIMPLEMENTED"),
    Bad("/metrics", "POST", "/metrics", {}, 405, "UNIMPLEMENTED"),
    Bad("/metrics", "GET", "/metrics", {"headers": NO_TOKEN}, 401, "UNAUTHENTICATED"),
    Bad("/v1/pnl", "GET", "/v1/pnl", {"params": {"by": "planet"}}, 400, "INVALID_ARGUMENT"),
    Bad("/v1/pnl", "GET", "/v1/pnl", {"params": {"from": "2026-11-05"}}, 400, "INVALID_ARGUMENT"),
    Bad("/v1/customers/actions", "GET", "/v1/customers/actions", {"params": {"month": "2026-13"}}, 400,
        "INVALID_ARGUMENT"),
    Bad("/v1/customers/actions", "POST", "/v1/customers/actions", {}, 405, "UNIMPLEMENTED"),
    Bad("/v1/pnl/target-margin", "GET", "/v1/pnl/target-margin", {"params": {"target": "-100"}}, 400,
        "INVALID_ARGUMENT"),
    Bad("/v1/budgets", "GET", "/v1/budgets", {"headers": NO_TOKEN}, 401, "UNAUTHENTICATED"),
    Bad("/v1/bills/reconcile", "GET", "/v1/bills/reconcile", {"params": {"by": "planet"}}, 400, "INVALID_ARGUMENT"),
    Bad("/v1/bills/reconcile", "GET", "/v1/bills/reconcile", {"headers": NO_TOKEN}, 401, "UNAUTHENTICATED"),
    Bad("/v1/bills/reconcile", "POST", "/v1/bills/reconcile", {}, 405, "UNIMPLEMENTED"),
    Bad("/v1/budgets/check", "GET", "/v1/budgets/check", {}, 400, "INVALID_ARGUMENT"),
    Bad("/v1/budgets/check", "GET", "/v1/budgets/check", {"params": {"customer": "a"}, "headers": NO_TOKEN}, 401,
        "UNAUTHENTICATED"),
    Bad("/v1/budgets/check", "POST", "/v1/budgets/check?customer=a", {}, 405, "UNIMPLEMENTED"),
    Bad("/v1/budgets/{name}", "GET", "/v1/budgets/nope", {}, 404, "NOT_FOUND"),
    Bad("/v1/budgets/{name}", "DELETE", "/v1/budgets/nope", {}, 404, "NOT_FOUND"),
    Bad("/v1/budgets/{name}", "PUT", "/v1/budgets/x", {"json": {"period": "week"}}, 400, "INVALID_ARGUMENT"),
    Bad("/v1/budgets/{name}", "PUT", "/v1/budgets/x", {"content": b" " * 70_000}, 413, "RESOURCE_EXHAUSTED"),
    Bad("/v1/budgets/{name}", "POST", "/v1/budgets/x", {}, 405, "UNIMPLEMENTED"),
    Bad("/v1/usage", "POST", "/v1/usage", {"json": {}, "headers": NO_TOKEN}, 401, "UNAUTHENTICATED"),
    Bad("/v1/usage", "POST", "/v1/usage", {"content": b"a", "headers": TEXT}, 415, "INVALID_ARGUMENT"),
    Bad("/v1/usage", "POST", "/v1/usage", {"content": b"{}", "headers": {**JSON, "content-encoding": "br"}}, 415,
        "INVALID_ARGUMENT"),
    Bad("/v1/usage", "POST", "/v1/usage", {"json": []}, 400, "INVALID_ARGUMENT"),
    Bad("/v1/usage", "POST", "/v1/usage", {"json": [{"customer_id": "a"}]}, 400, "INVALID_ARGUMENT"),
    Bad("/v1/revenue", "POST", "/v1/revenue", {"data": {"a": "b"}}, 415, "INVALID_ARGUMENT"),
    Bad("/v1/revenue", "POST", "/v1/revenue", {"content": b"{", "headers": JSON}, 400, "INVALID_ARGUMENT"),
    Bad("/v1/revenue", "POST", "/v1/revenue", {"json": [{"external_id": "x"}]}, 400, "INVALID_ARGUMENT"),
    Bad("/v1/stripe/webhook", "POST", "/v1/stripe/webhook", {"content": b"{}"}, 503, "UNAVAILABLE"),
    Bad("/v1/simulate", "GET", "/v1/simulate", {"params": {"customr": "a"}}, 400, "INVALID_ARGUMENT"),
    Bad("/v1/simulate", "GET", "/v1/simulate", {"headers": {"authorization": "Bearer wrong"}}, 401,
        "UNAUTHENTICATED"),
    Bad("(none)", "GET", "/v1/nowhere", {}, 404, "NOT_FOUND"),
]  # fmt: skip
DOWN = [
    Bad("/readyz", "GET", "/readyz", {}, 503, "UNAVAILABLE"),
    Bad("/v1/pnl", "GET", "/v1/pnl", {"params": {"month": "2026-11"}}, 503, "UNAVAILABLE"),
    Bad("/v1/customers/actions", "GET", "/v1/customers/actions", {"params": {"month": "2026-11"}}, 503, "UNAVAILABLE"),
    Bad(
        "/v1/pnl/target-margin",
        "GET",
        "/v1/pnl/target-margin",
        {"params": {"target": "60", "month": "2026-11"}},
        503,
        "UNAVAILABLE",
    ),
    Bad("/v1/budgets", "GET", "/v1/budgets", {}, 503, "UNAVAILABLE"),
    Bad("/v1/budgets/check", "GET", "/v1/budgets/check", {"params": {"customer": "a"}}, 503, "UNAVAILABLE"),
    Bad("/v1/budgets/{name}", "GET", "/v1/budgets/x", {}, 503, "UNAVAILABLE"),
    Bad("/v1/simulate", "GET", "/v1/simulate", {}, 503, "UNAVAILABLE"),
    Bad("/v1/revenue", "POST", "/v1/revenue", {"json": VALID_REVENUE}, 503, "UNAVAILABLE"),
]


def assert_one_shape(bad: Bad, response: httpx.Response) -> None:
    where = f"{bad.method} {bad.url}: {response.text[:300]}"
    assert (response.status_code, response.headers["content-type"]) == (bad.status, "application/json"), where
    body = response.json()
    assert list(body) == ["error"], where
    error = body["error"]
    assert {"code", "message"} <= set(error) <= {"code", "message", "retry_after_s", "details"}, where
    assert error["code"] == bad.code and error["code"] in grpc.StatusCode.__members__, where
    assert isinstance(error["message"], str) and error["message"].strip(), where
    if response.status_code in (429, 503):
        assert error["retry_after_s"] == int(response.headers["retry-after"]) > 0, where
    else:
        assert "retry_after_s" not in error and "retry-after" not in response.headers, where
    if "details" in error:
        assert error["details"] and all(isinstance(d, dict) for d in error["details"]), where
    if response.status_code == 401:
        assert response.headers["www-authenticate"].startswith("Bearer"), where
    if response.status_code == 405:
        assert response.headers["allow"], where


@pytest.fixture
def backend(timescale_server: Server, tmp_path: Path) -> Iterator[BackendThread]:
    """The real backend on a fresh TimescaleDB database (the error bodies do not depend on the server kind)."""
    url, janitor = timescale_server.new_database()
    try:
        with running_backend(url, tmp_path) as running:
            yield running
    finally:
        janitor.drop()


def test_every_route_answers_bad_requests_in_the_one_shape(backend: BackendThread) -> None:
    with httpx.Client(base_url=backend.http_url, headers=AUTH, timeout=30) as client:
        for bad in UP:
            assert_one_shape(bad, client.request(bad.method, bad.url, **bad.kwargs))

    app = backend.running.http.config.app
    served = {r.path for r in app.routes if isinstance(r, Route)} - OTLP_PATHS
    assert served == {bad.route for bad in UP + DOWN} - {"(none)"}


def test_a_database_that_is_down_is_a_503_in_the_one_shape() -> None:
    async def main() -> list[httpx.Response]:
        url = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
        pool = AsyncConnectionPool(url, min_size=0, max_size=1, open=False, timeout=0.3)
        async with pool as opened:
            tokens = TokenCheck(TOKEN)
            simulator = create(SimulatorConfig(candidates=("openai/gpt-4.1-mini",)), BOOK)
            app = create_app(opened, tokens, routes=[
                *budget_routes(opened, tokens, states=BudgetStates(60)),  # never refreshed: the database is down
                *revenue_routes(RevenueConfig(), opened, tokens, api=None),
                *simulator_routes(opened, simulator, tokens=tokens),
            ])  # fmt: skip
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=AUTH) as client:
                return [await client.request(bad.method, bad.url, **bad.kwargs) for bad in DOWN]

    responses = asyncio.run(main())
    for bad, response in zip(DOWN, responses, strict=True):
        assert_one_shape(bad, response)
    messages = {bad.url: response.json()["error"]["message"] for bad, response in zip(DOWN, responses, strict=True)}
    assert messages["/readyz"] == "not ready: no database connection became free in time; retry"
    assert messages["/v1/budgets"] == "no database connection became free in time; retry"
    assert messages["/v1/budgets/check"] == (
        "budget states are not computed yet (the first evaluation is running); retry"
    )
