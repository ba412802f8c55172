"""REST budgets through the real Starlette app (ASGI, in process) on real TimescaleDB and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette

from otel_margin_backend.budgets.definition import parse_file
from otel_margin_backend.budgets.routes import routes
from otel_margin_backend.budgets.store import apply_budgets
from otel_margin_backend.storage.database import AsyncConn
from otel_margin_backend.web.auth import TokenCheck
from tests.backend.budgets.helpers import IMAGE_BUDGET, call, connect, spend
from tests.support.events import run

TOKEN = "budget-test-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}

Scenario = Callable[[httpx.AsyncClient], Awaitable[None]]


def with_client(url: str, scenario: Scenario) -> None:
    async def go() -> None:
        pool: AsyncConnectionPool[AsyncConn] = AsyncConnectionPool(
            url, min_size=1, max_size=2, open=False, kwargs={"autocommit": True}
        )
        await pool.open()
        try:
            app = Starlette(routes=routes(pool, TokenCheck(TOKEN)))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://otel-margin", headers=AUTH) as client:
                await scenario(client)
        finally:
            await pool.close()

    run(go())


def test_put_get_list_and_delete_a_budget(db_url: str) -> None:
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "description": "Chat for Acme",
        "scope": {"customer": "acct_acme", "feature": "chat"},
        "period": "month",
        "limit": {"amount": 12.345},
        "thresholds": {"warning_percent": "50"},
    }

    async def scenario(client: httpx.AsyncClient) -> None:
        await spend(db_url, call(1, "7", customer="acct_acme", feature="chat", time=now))
        created = await client.put("/v1/budgets/acme-chat", json=body)
        assert created.status_code == 201
        answer = created.json()
        assert {k: answer[k] for k in ("name", "scope", "period", "limit", "thresholds", "managed_by", "change")} == {
            "name": "acme-chat",
            "scope": {"customer": "acct_acme", "feature": "chat"},
            "period": "month",
            "limit": {"amount": "12.345", "currency": "USD"},
            "thresholds": {"warning_percent": "50", "critical_percent": "90", "exceeded_percent": "100"},
            "managed_by": "api",
            "change": "created",
        }
        status = answer["status"]
        assert (status["spend"], status["limit_amount"], status["percent_used"], status["state"]) == (
            "7", "12.345", "56.70", "warning",
        )  # fmt: skip
        assert status["scope_label"] == "customer=acct_acme, feature=chat"

        again = await client.put("/v1/budgets/acme-chat", json=body)
        assert (again.status_code, again.json()["change"]) == (200, "unchanged")
        updated = await client.put("/v1/budgets/acme-chat", json=body | {"limit": {"amount": "100"}})
        assert (updated.status_code, updated.json()["change"]) == (200, "updated")

        listed = await client.get("/v1/budgets")
        assert listed.status_code == 200
        [item] = listed.json()["budgets"]
        assert (item["name"], item["limit"]["amount"], item["status"]["state"]) == ("acme-chat", "100", "ok")

        one = await client.get("/v1/budgets/acme-chat")
        alerts = one.json()["alerts"]
        assert [(a["severity"], a["resolution"], a["spend_at_crossing"]) for a in alerts] == [
            ("warning", "budget_changed", "7")
        ]

        assert (await client.delete("/v1/budgets/acme-chat")).status_code == 204
        missing = await client.get("/v1/budgets/acme-chat")
        assert (missing.status_code, missing.json()) == (
            404, {"error": {"code": "NOT_FOUND", "message": "no budget named 'acme-chat'"}},
        )  # fmt: skip
        assert (await client.delete("/v1/budgets/acme-chat")).status_code == 404

    with_client(db_url, scenario)


def test_invalid_bodies_are_400_with_every_problem(db_url: str) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        bad = await client.put(
            "/v1/budgets/x", json={"period": "week", "limit": {"amount": 1, "percent_of_revenue": 2}}
        )
        assert bad.status_code == 400
        assert bad.json()["error"]["details"] == [
            {"path": "period", "message": "Input should be 'month' or 'day'"},
            {"path": "limit", "message": "give exactly one of 'amount' or 'percent_of_revenue'"},
        ]
        renamed = await client.put("/v1/budgets/x", json={"name": "y", "period": "day", "limit": {"amount": 1}})
        assert renamed.json() == {
            "error": {
                "code": "INVALID_ARGUMENT",
                "message": "body:1: name: the body names 'y', the URL 'x'",
                "details": [{"path": "name", "message": "the body names 'y', the URL 'x'"}],
            }
        }
        not_json = await client.put("/v1/budgets/x", content=b"{period: day")
        assert not_json.status_code == 400 and not_json.json()["error"]["message"].startswith("body:1: not JSON")
        a_list = await client.put("/v1/budgets/x", json=[])
        assert a_list.json()["error"]["message"] == "body:1: expected a JSON object (one budget)"
        huge = await client.put("/v1/budgets/x", content=b" " * (64 * 1024 + 1))
        assert (huge.status_code, huge.json()["error"]["code"]) == (413, "RESOURCE_EXHAUSTED")

    with_client(db_url, scenario)


def test_file_budgets_are_read_only_over_rest(db_url: str) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        async with connect(db_url) as conn:
            await apply_budgets(conn, parse_file(IMAGE_BUDGET))
        put = await client.put("/v1/budgets/image-generation", json={"period": "day", "limit": {"amount": 1}})
        assert (put.status_code, put.json()["error"]["code"]) == (409, "FAILED_PRECONDITION")
        assert "managed by the budgets file" in put.json()["error"]["message"]
        assert (await client.delete("/v1/budgets/image-generation")).status_code == 409
        assert (await client.get("/v1/budgets/image-generation")).json()["managed_by"] == "file"

    with_client(db_url, scenario)


def test_every_endpoint_needs_the_token(db_url: str) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        for method, path in (("GET", "/v1/budgets"), ("GET", "/v1/budgets/x"), ("DELETE", "/v1/budgets/x")):
            response = await client.request(method, path, headers={"authorization": "Bearer wrong"})
            assert response.status_code == 401
            assert response.json() == {
                "error": {
                    "code": "UNAUTHENTICATED",
                    "message": "invalid token: check it, or ask for one (docs/security.md)",
                }
            }
            assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        put = await client.put("/v1/budgets/x", json={}, headers={"authorization": ""})
        assert put.status_code == 401

    with_client(db_url, scenario)
