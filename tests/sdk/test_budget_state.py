"""``otel_margin.budget_state`` against the real backend on real TimescaleDB: the answer, its cache (TTL on a
clock the test moves), and that no failure reaches the app: a stopped backend, a server that never answers, a
refused token and bad arguments all give ``unknown``, with one warning per interval and one request per TTL."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

import otel_margin
from otel_margin import _budget
from otel_margin._budget import BudgetChecker
from otel_margin_backend.budgets.evaluation import evaluate_round
from tests.support.backend import AUTH, BackendThread, running_backend
from tests.support.events import event, run, write
from tests.support.stores import Server

CHECK_TOKEN = "app-budget-check-token-0123"
INGEST_TOKEN = "app-ingest-token-0123456789"


class Served(NamedTuple):
    backend: BackendThread
    url: str
    database_url: str

    def spend(self, n: int, customer: str, cost: str) -> None:
        run(write(self.database_url, [event(n, customer=customer, cost=cost, time=datetime.now(UTC))]))

    def evaluate(self) -> None:
        """One round of the backend's evaluation loop, on its own event loop (what the 60 s schedule runs)."""
        running = self.backend.running
        self.backend.call(evaluate_round(running.pool, states=running.budget_states))


@pytest.fixture(scope="module")
def served(timescale_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    url, janitor = timescale_server.new_database()
    tokens = f"app:budgets:check:{CHECK_TOKEN},collector:ingest:{INGEST_TOKEN}"
    try:
        with running_backend(url, tmp_path_factory.mktemp("budget-state"), tokens=tokens) as backend:
            for customer in ("acct_acme", "acct_cache"):  # one customer per test: they may run in any order
                budget = {"scope": {"customer": customer}, "period": "month", "limit": {"amount": 100}}
                put = httpx.put(f"{backend.http_url}/v1/budgets/{customer}", json=budget, headers=AUTH, timeout=30)
                assert put.status_code == 201
            yield Served(backend, backend.http_url, url)
    finally:
        janitor.drop()


@pytest.fixture(autouse=True)
def fresh_default_checker() -> Iterator[None]:
    _budget._reset()
    yield
    _budget._reset()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_state_reads_its_settings_from_the_environment_and_answers_with_the_backend_figures(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_MARGIN_BUDGET_CHECK_URL", served.url)
    monkeypatch.setenv("OTEL_MARGIN_BUDGET_CHECK_TOKEN", CHECK_TOKEN)
    monkeypatch.setenv("OTEL_MARGIN_BUDGET_CHECK_TTL_S", "300")
    served.spend(1, "acct_acme", "80.00")
    served.evaluate()

    state = otel_margin.budget_state("acct_acme")
    assert (state.state, state.budget, state.spend, state.limit, state.percent_used, state.currency) == (
        "warning", "acct_acme", Decimal("80.00"), Decimal(100), Decimal("80.00"), "USD"
    )  # fmt: skip
    assert state.error is None and not state.exceeded and not state.stale
    assert state.period_start == datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    assert state.as_of is not None and state.as_of <= datetime.now(UTC)
    checker = _budget._checker()
    assert (checker.ttl_s, checker.timeout_s, checker.requests_sent) == (300.0, 0.5, 1)

    # Another feature is another question; the same one again comes from the cache.
    assert otel_margin.budget_state("acct_acme", feature="chat").state == "warning"
    assert otel_margin.budget_state("acct_acme").state == "warning"
    assert otel_margin.budget_state("acct_nobody").state == "none"
    assert checker.requests_sent == 3


def test_the_cache_keeps_an_answer_for_its_ttl_then_asks_again(served: Served) -> None:
    clock = Clock()
    checker = BudgetChecker(served.url, token=CHECK_TOKEN, ttl_s=15, clock=clock)
    served.spend(2, "acct_cache", "85.00")
    served.evaluate()
    before = checker.state("acct_cache")
    assert (before.state, before.spend) == ("warning", Decimal("85.00"))

    served.spend(3, "acct_cache", "20.00")  # 105.00: exceeded once the backend evaluates
    served.evaluate()
    clock.now += 14.9
    assert checker.state("acct_cache") == before and checker.requests_sent == 1
    clock.now += 0.2
    after = checker.state("acct_cache")
    assert (after.state, after.spend, after.percent_used, after.exceeded) == (
        "exceeded", Decimal("105.00"), Decimal("105.00"), True
    )  # fmt: skip
    assert checker.requests_sent == 2


def test_a_backend_that_is_not_there_gives_unknown_one_warning_and_one_request_per_ttl(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clock = Clock()
    checker = BudgetChecker(f"http://127.0.0.1:{port}", token=CHECK_TOKEN, ttl_s=15, clock=clock)
    with caplog.at_level(logging.DEBUG, logger="otel_margin"):
        states = [checker.state(c) for c in ("acct_a", "acct_b", "acct_a", "acct_c")]
        clock.now += 30  # past the pause and the log interval's half: asks again, still logs nothing new
        states.append(checker.state("acct_a"))
        clock.now += 31
        states.append(checker.state("acct_d"))
    assert [s.state for s in states] == ["unknown"] * 6
    assert states[0].error == f"cannot reach otel-margin at http://127.0.0.1:{port}/v1/budgets/check: ConnectionError"
    assert checker.requests_sent == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "cannot reach otel-margin" in warnings[0].getMessage()


def test_a_server_that_never_answers_times_out_into_unknown() -> None:
    with socket.socket() as listener:  # accepts connections into its backlog and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        checker = BudgetChecker(f"http://127.0.0.1:{listener.getsockname()[1]}", token=CHECK_TOKEN, timeout_s=0.2)
        state = checker.state("acct_acme")
    assert state.state == "unknown" and state.error is not None and "ReadTimeout" in state.error


@pytest.mark.parametrize(
    ("token", "error"),
    [
        (None, "answered 401: missing Authorization header"),
        ("not-a-known-token-0123456789", "answered 401: invalid token"),
        (INGEST_TOKEN, "answered 403: token 'collector' has scope ingest, and this needs budgets:check, read or admin"),
    ],
)
def test_a_refused_token_gives_unknown_naming_the_answer(served: Served, token: str | None, error: str) -> None:
    state = BudgetChecker(served.url, token=token).state("acct_acme")
    assert state.state == "unknown" and state.error is not None and error in state.error


@pytest.mark.parametrize(
    ("customer", "feature", "error"),
    [
        (None, None, "customer must be a non-empty string, got NoneType"),
        ("", None, "customer must be a non-empty string, got str"),
        (42, None, "customer must be a non-empty string, got int"),
        ("acct_acme", "", "feature must be None or a non-empty string, got str"),
        ("acct\x00acme", None, "customer holds a NUL character or is over 1,024 characters"),
        ("a" * 2000, None, "customer holds a NUL character or is over 1,024 characters"),
    ],
)
def test_bad_arguments_give_unknown_without_a_request(
    served: Served, monkeypatch: pytest.MonkeyPatch, customer: object, feature: object, error: str
) -> None:
    monkeypatch.setenv("OTEL_MARGIN_BUDGET_CHECK_URL", served.url)
    monkeypatch.setenv("OTEL_MARGIN_BUDGET_CHECK_TOKEN", CHECK_TOKEN)
    state = otel_margin.budget_state(customer, feature=feature)  # type: ignore[arg-type]
    assert (state.state, state.error) == ("unknown", error)
    assert _budget._checker().requests_sent == 0


def test_a_broken_environment_is_logged_and_the_defaults_apply(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    monkeypatch.setenv("OTEL_MARGIN_BUDGET_CHECK_URL", "margin.internal")
    monkeypatch.setenv("OTEL_MARGIN_ENDPOINT", "http://margin.internal:4318")
    monkeypatch.setenv("OTEL_MARGIN_BUDGET_CHECK_TTL_S", "soon")
    monkeypatch.setenv("OTEL_MARGIN_BUDGET_CHECK_TIMEOUT_S", "-1")
    with caplog.at_level(logging.WARNING, logger="otel_margin"):
        checker = BudgetChecker.from_environment()
    assert (checker.url, checker.ttl_s, checker.timeout_s) == ("http://margin.internal:4318/v1/budgets/check", 15, 0.5)
    assert [r.getMessage() for r in caplog.records] == [
        "OTEL_MARGIN_BUDGET_CHECK_URL='margin.internal' is not an http:// or https:// URL; ignoring it",
        "OTEL_MARGIN_BUDGET_CHECK_TTL_S='soon' is not a number of seconds >= 0; using 15.0",
        "OTEL_MARGIN_BUDGET_CHECK_TIMEOUT_S='-1' is not a number of seconds >= 0; using 0.5",
    ]
