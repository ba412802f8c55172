"""``GET /v1/simulate`` over HTTP (httpx against the ASGI app), with a real pool on real databases."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette

from otel_margin_backend.simulator import SimulatorConfig, create
from otel_margin_backend.simulator.params import build_request
from otel_margin_backend.simulator.render import to_json
from otel_margin_backend.simulator.routes import routes
from otel_margin_backend.web.auth import TokenCheck
from tests.backend.simulator.calls import BOOK, Vector, call
from tests.support.events import run, write
from tests.support.pgcluster import free_port

SIMULATOR = create(SimulatorConfig(candidates=("openai/gpt-4.1-mini", "openai/gpt-4o-mini", "openai/gpt-5.4")), BOOK)
QUERY = {"feature": "digest", "from": "2026-11-01", "to": "2026-11-30"}


def seed(url: str) -> None:
    vectors: list[Vector] = [(10_000, 0, 0, 1_000, 0)] * 10 + [(290_000, 0, 0, 1_000, 0)] * 10
    events = [call(v, feature="digest", provider="openai", model="gpt-4.1") for v in vectors]
    events.append(call((1_000, 0, 0, 10, 0), feature="other", provider="openai", model="gpt-4.1"))
    run(write(url, events))


def serve(
    url: str, body: Callable[[httpx.AsyncClient], Awaitable[None]], *, token: str | None = None, timeout_s: float = 30
) -> None:
    async def main() -> None:
        pool = AsyncConnectionPool(url, min_size=0, max_size=2, open=False, kwargs={"autocommit": True},
                                   timeout=timeout_s)  # fmt: skip
        async with pool as opened:
            app = Starlette(routes=routes(opened, SIMULATOR, tokens=TokenCheck(token) if token else None))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
                await body(client)

    asyncio.run(main())


@pytest.mark.store
def test_the_same_run_as_the_cli_as_json(db_url: str) -> None:
    seed(db_url)
    responses: list[httpx.Response] = []

    async def body(client: httpx.AsyncClient) -> None:
        responses.append(await client.get("/v1/simulate", params=QUERY))
        responses.append(await client.get("/v1/simulate", params={**QUERY, "candidates": "openai/gpt-5.4"}))

    serve(db_url, body)

    everyone, one = responses
    assert everyone.status_code == 200, everyone.text
    direct_request = build_request(feature="digest", start="2026-11-01", end="2026-11-30")
    with psycopg.connect(db_url) as conn:
        direct = to_json(SIMULATOR.simulate(conn, direct_request))
    served = everyone.json()
    assert {k: v for k, v in served.items() if k != "computed_at"} == {
        k: v for k, v in direct.items() if k != "computed_at"
    }
    (digest,) = served["groups"]
    assert {c["candidate"]: c["simulated_cost"] for c in digest["candidates"]} == {
        "openai/gpt-4.1-mini": "1.232",
        "openai/gpt-4o-mini": "0.462",  # $0.15 / $0.6: 10 * 0.0021 + 10 * 0.0441
        "openai/gpt-5.4": "15.125",
    }
    excluded = {c["candidate"]: c["excluded"] for c in digest["candidates"]}
    assert excluded["openai/gpt-4o-mini"] == "context window 128,000 < largest input 290,000 tokens"
    assert [c["candidate"] for c in one.json()["groups"][0]["candidates"]] == ["openai/gpt-5.4"]


@pytest.mark.store
def test_bad_parameters_are_400_with_the_reason(db_url: str) -> None:
    answers: dict[str, httpx.Response] = {}

    async def body(client: httpx.AsyncClient) -> None:
        answers["unknown"] = await client.get("/v1/simulate", params={"feature": "x", "customr": "acct_1"})
        answers["candidate"] = await client.get("/v1/simulate", params={"candidates": "openai/gpt-4.1-mni"})
        answers["date"] = await client.get("/v1/simulate", params={"to": "soon"})
        answers["range"] = await client.get("/v1/simulate", params={"from": "2026-11-10", "to": "2026-11-01"})

    serve(db_url, body)

    assert {k: r.status_code for k, r in answers.items()} == dict.fromkeys(answers, 400)
    assert answers["unknown"].json() == {
        "error": {
            "code": "INVALID_ARGUMENT",
            "message": "unknown parameter 'customr'; use feature, customer, candidates, from, to, engineering_hours,"
            " hourly_rate",
        }
    }
    messages = {k: r.json()["error"]["message"] for k, r in answers.items()}
    assert messages["candidate"].startswith("candidate 'openai/gpt-4.1-mni' is not in the price book")
    assert messages["date"].startswith("to: 'soon' is not a date")
    assert messages["range"].startswith("the range is empty")


@pytest.mark.store
def test_the_token_is_required_when_configured(db_url: str) -> None:
    answers: list[httpx.Response] = []

    async def body(client: httpx.AsyncClient) -> None:
        answers.append(await client.get("/v1/simulate"))
        answers.append(await client.get("/v1/simulate", headers={"authorization": "Bearer s3cret"}))

    serve(db_url, body, token="s3cret")

    assert [r.status_code for r in answers] == [401, 200]
    assert answers[0].json() == {
        "error": {
            "code": "UNAUTHENTICATED",
            "message": "missing Authorization header: send 'Authorization: Bearer <token>'",
        }
    }
    assert answers[0].headers["www-authenticate"] == "Bearer"


def test_an_unreachable_database_is_503_with_a_retry_hint() -> None:
    answers: list[httpx.Response] = []

    async def body(client: httpx.AsyncClient) -> None:
        answers.append(await client.get("/v1/simulate"))

    serve(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere", body, timeout_s=0.3)

    (answer,) = answers
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    assert answer.json() == {
        "error": {
            "code": "UNAVAILABLE",
            "message": "no database connection became free in time; retry",
            "retry_after_s": 5,
        }
    }
