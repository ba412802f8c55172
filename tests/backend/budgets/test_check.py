"""The budget check on real TimescaleDB and PostgreSQL: a crossing shows after the next evaluation round (and not
before: the state is the last round's, ``as_of`` says when), which budgets apply to a customer and feature, and
what an unknown customer, a missing exchange rate and a service that has not evaluated yet answer."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg_pool import AsyncConnectionPool

from otel_margin_backend.budgets.check import BudgetStates, parse_query
from otel_margin_backend.budgets.definition import parse_body
from otel_margin_backend.budgets.evaluation import Evaluation, evaluate_round, run_evaluations
from otel_margin_backend.budgets.store import put_budget, read_alerts
from otel_margin_backend.pipeline.errors import PermanentError, RetryableError
from otel_margin_backend.storage.database import AsyncConn
from tests.backend.budgets.helpers import call, spend
from tests.support.events import run


@asynccontextmanager
async def service_pool(url: str) -> AsyncIterator[AsyncConnectionPool[AsyncConn]]:
    """A pool like the service's (autocommit connections)."""
    pool: AsyncConnectionPool[AsyncConn] = AsyncConnectionPool(
        url, min_size=1, max_size=2, open=False, kwargs={"autocommit": True}
    )
    await pool.open()
    try:
        yield pool
    finally:
        await pool.close()


async def put(pool: AsyncConnectionPool[AsyncConn], name: str, body: dict[str, Any]) -> None:
    async with pool.connection() as conn:
        await put_budget(conn, parse_body(name, body))


def headline(answer: dict[str, Any]) -> tuple[object, ...]:
    return answer["state"], answer["budget"], answer["spend"], answer["limit"], answer["percent_used"]


def test_a_crossing_shows_after_the_next_evaluation_round_and_not_before(db_url: str) -> None:
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)

    async def scenario() -> None:
        async with service_pool(db_url) as pool:
            states = BudgetStates(interval_s=60)
            await put(pool, "acme", {"scope": {"customer": "acct_acme"}, "period": "month", "limit": {"amount": 100}})
            await spend(db_url, call(1, "70.00", customer="acct_acme", time=now))
            await evaluate_round(pool, states=states)
            first = states.check("acct_acme")
            assert headline(first) == ("ok", "acme", "70.00", "100", "70.00")
            assert first["currency"] == "USD" and first["stale"] is False and first["evaluate_interval_s"] == 60
            assert first["period"]["kind"] == "month"
            assert datetime.fromisoformat(first["period"]["start"]) == month_start
            as_of = datetime.fromisoformat(first["as_of"])
            assert now <= as_of <= datetime.now(UTC)

            # 75 % is reached in the database; the state in memory is the last round's until the next one.
            await spend(db_url, call(2, "5.00", customer="acct_acme", time=now))
            assert headline(states.check("acct_acme")) == ("ok", "acme", "70.00", "100", "70.00")
            assert states.check("acct_acme")["as_of"] == first["as_of"]
            assert await evaluate_round(pool, states=states) == Evaluation(crossed=1, resolved=0)
            warned = states.check("acct_acme")
            assert headline(warned) == ("warning", "acme", "75.00", "100", "75.00")
            assert datetime.fromisoformat(warned["as_of"]) > as_of

            await spend(db_url, call(3, "15.00", customer="acct_acme", time=now))
            await evaluate_round(pool, states=states)
            assert headline(states.check("acct_acme")) == ("critical", "acme", "90.00", "100", "90.00")
            await spend(db_url, call(4, "10.00", customer="acct_acme", time=now))
            await evaluate_round(pool, states=states)
            assert headline(states.check("acct_acme")) == ("exceeded", "acme", "100.00", "100", "100.00")
            async with pool.connection() as conn:
                alerts = await read_alerts(conn, budget="acme")
            # The check and the alerts are one evaluation: the same thresholds, crossed at the same spend.
            assert sorted((a.severity, a.spend_at_crossing) for a in alerts) == [
                ("critical", 90), ("exceeded", 100), ("warning", 75)
            ]  # fmt: skip

    run(scenario())


def test_the_evaluation_loop_fills_the_states_in_its_first_round_and_says_so(db_url: str) -> None:
    now = datetime.now(UTC)

    async def scenario() -> None:
        async with service_pool(db_url) as pool:
            await put(pool, "acme", {"scope": {"customer": "acct_acme"}, "period": "day", "limit": {"amount": 10}})
            await spend(db_url, call(1, "9.50", customer="acct_acme", time=now))
            states, ready = BudgetStates(interval_s=3600), asyncio.Event()
            loop = asyncio.create_task(run_evaluations(pool, 3600, states=states, ready=ready))
            try:
                await asyncio.wait_for(ready.wait(), timeout=60)
                assert headline(states.check("acct_acme")) == ("critical", "acme", "9.50", "10", "95.00")
            finally:
                loop.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop

    run(scenario())


def test_the_worst_applicable_budget_decides_and_every_applicable_one_is_listed(db_url: str) -> None:
    now = datetime.now(UTC)

    async def scenario() -> None:
        async with service_pool(db_url) as pool:
            month, day = {"period": "month"}, {"period": "day"}
            await put(pool, "org", {**month, "limit": {"amount": 1000}})
            await put(pool, "acme", {**month, "scope": {"customer": "acct_acme"}, "limit": {"amount": 100}})
            await put(pool, "acme-chat", {**day, "scope": {"customer": "acct_acme", "feature": "chat"},
                                          "limit": {"amount": 20}})  # fmt: skip
            await put(pool, "chat", {**month, "scope": {"feature": "chat"}, "limit": {"amount": 500},
                                     "thresholds": {"warning_percent": 2}})  # fmt: skip
            # Scoped to a model: the app asks before it picks one, so it never decides a check.
            await put(pool, "acme-o1", {**month, "scope": {"customer": "acct_acme", "model": "o1"},
                                        "limit": {"amount": 1}})  # fmt: skip
            await put(pool, "globex", {**month, "scope": {"customer": "acct_globex"}, "limit": {"amount": 1}})
            await spend(
                db_url,
                call(1, "50.00", customer="acct_acme", feature="search", time=now),
                call(2, "19.00", customer="acct_acme", feature="chat", time=now),
                call(3, "5.00", customer="acct_acme", feature="chat", model="o1", time=now),
            )
            states = BudgetStates(interval_s=60)
            await evaluate_round(pool, states=states)

            acme = states.check("acct_acme")
            assert headline(acme) == ("ok", "acme", "74.00", "100", "74.00")
            assert [(b["budget"], b["state"]) for b in acme["budgets"]] == [("acme", "ok"), ("org", "ok")]
            assert acme["budgets"][1]["spend"] == "74.00" and acme["budgets"][1]["scope"] == {}

            chat = states.check("acct_acme", "chat")
            assert headline(chat) == ("exceeded", "acme-chat", "24.00", "20", "120.00")
            assert [(b["budget"], b["state"], b["percent_used"]) for b in chat["budgets"]] == [
                ("acme-chat", "exceeded", "120.00"), ("chat", "warning", "4.80"), ("acme", "ok", "74.00"),
                ("org", "ok", "7.40"),
            ]  # fmt: skip
            assert chat["budgets"][0]["period"]["kind"] == "day"

            # A customer without spend or a budget of its own: the organization's budget only.
            stranger = states.check("acct_nobody", "search")
            assert headline(stranger) == ("ok", "org", "74.00", "1000", "7.40")
            assert [b["budget"] for b in stranger["budgets"]] == ["org"]

    run(scenario())


def test_no_budget_is_state_none_and_a_missing_exchange_rate_is_unknown(db_url: str) -> None:
    now = datetime.now(UTC)

    async def scenario() -> None:
        async with service_pool(db_url) as pool:
            states = BudgetStates(interval_s=30)
            await evaluate_round(pool, states=states)
            none = states.check("acct_acme", "chat")
            assert none == {
                "customer": "acct_acme", "feature": "chat", "state": "none", "budget": None, "spend": None,
                "limit": None, "percent_used": None, "currency": None, "period": None, "as_of": none["as_of"],
                "stale": False, "evaluate_interval_s": 30, "budgets": [],
            }  # fmt: skip
            assert states.as_of is not None and none["as_of"] == states.as_of.isoformat()

            await put(pool, "acme-eur", {"period": "month", "scope": {"customer": "acct_acme"},
                                         "limit": {"amount": 100, "currency": "EUR"}})  # fmt: skip
            await spend(db_url, call(1, "10.00", customer="acct_acme", time=now))
            await evaluate_round(pool, states=states)
            unknown = states.check("acct_acme")
            assert headline(unknown) == ("unknown", "acme-eur", None, "100", None)
            assert unknown["currency"] == "EUR"

    run(scenario())


def test_before_the_first_round_a_check_is_retryable_and_an_old_state_is_marked_stale() -> None:
    states = BudgetStates(interval_s=60)
    with pytest.raises(RetryableError, match="not computed yet") as info:
        states.check("acct_acme")
    assert info.value.retry_after_s == 1
    states.load([], as_of=datetime(2026, 12, 7, 12, tzinfo=UTC))
    assert states.check("acct_acme")["stale"] is False
    # Two intervals without a successful round (the database is down): the answer says so.
    assert states._snapshot is not None
    states._snapshot = dataclasses.replace(states._snapshot, refreshed_s=time.monotonic() - 121)
    answer = states.check("acct_acme")
    assert (answer["state"], answer["stale"], answer["as_of"]) == ("none", True, "2026-12-07T12:00:00+00:00")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ([], "query parameter 'customer' is required"),
        ([("customer", " ")], "query parameter 'customer' is required"),
        ([("customer", "a"), ("feature", "")], "query parameter 'feature' is empty"),
        ([("customer", "a"), ("customer", "b")], "query parameter 'customer' is given 2 times; give it once"),
        ([("customer", "a"), ("model", "o1")], "unknown query parameter 'model'; use customer and feature"),
    ],
)
def test_a_bad_query_is_refused_naming_the_parameter(query: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(PermanentError) as info:
        parse_query(dict(query), query)
    assert str(info.value).startswith(message)


def test_a_good_query_gives_customer_and_feature() -> None:
    assert parse_query({"customer": "acct_1"}, [("customer", "acct_1")]) == ("acct_1", None)
    both = [("feature", "chat"), ("customer", "acct_1")]
    assert parse_query(dict(both), both) == ("acct_1", "chat")
