"""Hostile parameters and bodies on every REST and webhook route of the served app are 4xx naming the problem.

The classes of issue 12, on each route's query, path and body: NUL characters, bytes that are not UTF-8, huge
years, huge numbers, wrong types, deep JSON, bodies that are a list or a string. Each must be answered with a 4xx
in the one JSON error body whose message names what was wrong (never a 5xx); a correctly signed Stripe event the
backend cannot use is the one 2xx (acknowledged, recorded). Every path the app serves, except OTLP's
``/v1/traces`` (``tests/backend/receivers``), must be swept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from starlette.routing import Route

from tests.backend.revenue import stripe_fixtures as sf
from tests.support.backend import AUTH, BackendThread, running_backend
from tests.support.stores import Server

JSON = {**AUTH, "content-type": "application/json"}
DEEP = b"[" * 5000 + b"]" * 5000


def _signed_list() -> dict[str, Any]:
    # Signed when sent: a signature made at import would be outside Stripe's 300 s tolerance in a long run.
    return {"content": b"[]", "headers": {"stripe-signature": sf.signed(b"[]")}}


class Hostile(NamedTuple):
    route: str
    method: str
    url: str
    kwargs: dict[str, Any] | Callable[[], dict[str, Any]]
    status: int
    says: str
    """A part of the error message (or, for a 2xx, of the answer) that names the problem."""


def _put(body: bytes) -> dict[str, Any]:
    return {"content": body, "headers": JSON}


BUDGET = b'{"scope": {"customer": "acct_1"}, "period": "month", "limit": {"amount": "%s", "currency": "USD"}}'
REVENUE = b'{"external_id": "e1", "customer_id": "acct_1", "currency": "USD", "amount": %s, "date": "%s"}'
SWEEP = [
    # open endpoints: parameters no route could use
    Hostile("/healthz", "GET", "/healthz?x=%00", {}, 400, "query parameter 'x' contains a NUL character"),
    Hostile("/readyz", "GET", "/readyz?x=%FF", {}, 400, "query parameter 'x' is not valid UTF-8"),
    Hostile("/v1/stats", "GET", "/v1/stats?" + "x=" + "a" * 2000, {}, 400, "is over 1,024 characters"),
    Hostile("/metrics", "GET", "/metrics?x=%00", {}, 400, "query parameter 'x' contains a NUL character"),
    # the P&L
    Hostile("/v1/pnl", "GET", "/v1/pnl?month=0000-01", {}, 400, "the year must be from 1970 to 9998"),
    Hostile("/v1/pnl", "GET", "/v1/pnl?month=9999-12", {}, 400, "the year must be from 1970 to 9998"),
    Hostile("/v1/pnl", "GET", "/v1/pnl?from=2026-11-01&to=9999-12-31", {}, 400, "the year must be from 1970"),
    Hostile("/v1/pnl", "GET", "/v1/pnl?month=2026-11%00", {}, 400, "query parameter 'month' contains a NUL"),
    Hostile("/v1/pnl", "GET", "/v1/pnl?by=%FF", {}, 400, "query parameter 'by' is not valid UTF-8"),
    Hostile("/v1/pnl", "GET", "/v1/pnl?month=99999999999999999999-01", {}, 400, "is not a month"),
    # the margin-target prices
    Hostile("/v1/pnl/target-margin", "GET", "/v1/pnl/target-margin?target=100", {}, 400,
            "give a margin in percent above -100 and below 100"),
    Hostile("/v1/pnl/target-margin", "GET", "/v1/pnl/target-margin?target=1e999999999", {}, 400,
            "give a margin in percent above -100 and below 100"),
    Hostile("/v1/pnl/target-margin", "GET", "/v1/pnl/target-margin?target=60&month=2999-12", {}, 400,
            "is not over yet"),
    Hostile("/v1/pnl/target-margin", "GET", "/v1/pnl/target-margin?target=60%00", {}, 400,
            "query parameter 'target' contains a NUL"),
    # the customer actions
    Hostile("/v1/customers/actions", "GET", "/v1/customers/actions?month=0000-01", {}, 400, "the year must be from"),
    Hostile("/v1/customers/actions", "GET", "/v1/customers/actions?month=2026-11%00", {}, 400,
            "query parameter 'month' contains a NUL"),
    Hostile("/v1/customers/actions", "GET", "/v1/customers/actions?month=%FF", {}, 400,
            "query parameter 'month' is not valid UTF-8"),
    # the simulator
    Hostile("/v1/simulate", "GET", "/v1/simulate?to=9999-12-31", {}, 400, "to: 9999-12-31: the year must be from"),
    Hostile("/v1/simulate", "GET", "/v1/simulate?from=0001-01-01", {}, 400, "from: 0001-01-01: the year must be"),
    Hostile("/v1/simulate", "GET", "/v1/simulate?to=9999-12-31T23:00:00-14:00", {}, 400, "the year must be from"),
    Hostile("/v1/simulate", "GET", "/v1/simulate?customer=a%00b", {}, 400, "'customer' contains a NUL character"),
    Hostile("/v1/simulate", "GET", "/v1/simulate?feature=%C3", {}, 400, "'feature' is not valid UTF-8"),
    Hostile("/v1/simulate", "GET", "/v1/simulate?candidates=" + "m," * 600, {}, 400, "is over 1,024 characters"),
    # the bill reconciliation
    Hostile("/v1/bills/reconcile", "GET", "/v1/bills/reconcile?from=0000-01-01", {}, 400, "is not a date"),
    Hostile("/v1/bills/reconcile", "GET", "/v1/bills/reconcile?to=9999-12-31", {}, 400,
            "to: 9999-12-31: the year must be from 2000 to 2099"),
    Hostile("/v1/bills/reconcile", "GET", "/v1/bills/reconcile?from=2026-11-30&to=2026-11-01", {}, 400,
            "to 2026-11-01 is before from 2026-11-30"),
    Hostile("/v1/bills/reconcile", "GET", "/v1/bills/reconcile?by=customer", {}, 400, "use one of model, day"),
    Hostile("/v1/bills/reconcile", "GET", "/v1/bills/reconcile?by=%00", {}, 400, "'by' contains a NUL"),
    Hostile("/v1/bills/reconcile", "GET", "/v1/bills/reconcile?from=%FF", {}, 400, "'from' is not valid UTF-8"),
    # budgets
    Hostile("/v1/budgets/check", "GET", "/v1/budgets/check", {}, 400, "query parameter 'customer' is required"),
    Hostile("/v1/budgets/check", "GET", "/v1/budgets/check?customer=a%00b", {}, 400,
            "query parameter 'customer' contains a NUL character"),
    Hostile("/v1/budgets/check", "GET", "/v1/budgets/check?customer=a&feature=%FF", {}, 400,
            "query parameter 'feature' is not valid UTF-8"),
    Hostile("/v1/budgets/check", "GET", "/v1/budgets/check?customer=" + "c" * 2000, {}, 400,
            "query parameter 'customer' is over 1,024 characters"),
    Hostile("/v1/budgets/check", "GET", "/v1/budgets/check?customer=a&customer=b", {}, 400,
            "query parameter 'customer' is given 2 times"),
    Hostile("/v1/budgets/check", "GET", "/v1/budgets/check?customer=a&feature=", {}, 400,
            "query parameter 'feature' is empty"),
    Hostile("/v1/budgets/check", "GET", "/v1/budgets/check?customer=a&limit=1e999999", {}, 400,
            "unknown query parameter 'limit'"),
    Hostile("/v1/budgets", "GET", "/v1/budgets?name=%00", {}, 400, "query parameter 'name' contains a NUL"),
    Hostile("/v1/budgets/{name}", "DELETE", "/v1/budgets/%00", {}, 400, "path parameter 'name' contains a NUL"),
    Hostile("/v1/budgets/{name}", "GET", "/v1/budgets/%FF%FE", {}, 400, "path parameter 'name' is not valid UTF-8"),
    Hostile("/v1/budgets/{name}", "GET", "/v1/budgets/" + "b" * 2000, {}, 400, "is over 1,024 characters"),
    Hostile("/v1/budgets/{name}", "DELETE", "/v1/budgets/a%20b", {}, 404, "no budget named"),
    Hostile("/v1/budgets/{name}", "PUT", "/v1/budgets/%00", _put(BUDGET % b"10"), 400, "contains a NUL"),
    Hostile("/v1/budgets/{name}", "PUT", "/v1/budgets/x", _put(BUDGET % b"1e200000"), 400, "amount"),
    Hostile("/v1/budgets/{name}", "PUT", "/v1/budgets/x", _put(BUDGET % b"99999999999999999999999999"), 400,
            "amount"),
    Hostile("/v1/budgets/{name}", "PUT", "/v1/budgets/x", _put(b'{"scope": {"customer": "a\\u0000b"}, '
            b'"period": "month", "limit": {"amount": "5", "currency": "USD"}}'), 400, "NUL"),
    Hostile("/v1/budgets/{name}", "PUT", "/v1/budgets/x", _put(b'{"scope": [], "period": 7, "limit": "x"}'), 400,
            "scope"),
    Hostile("/v1/budgets/{name}", "PUT", "/v1/budgets/x", _put(b"[]"), 400, "JSON object"),
    Hostile("/v1/budgets/{name}", "PUT", "/v1/budgets/x", _put(b'"month"'), 400, "JSON object"),
    Hostile("/v1/budgets/{name}", "PUT", "/v1/budgets/x", _put(DEEP), 400, "JSON"),
    Hostile("/v1/budgets/{name}", "PUT", "/v1/budgets/x", _put(b'{"period": "\xff"}'), 400, "JSON"),
    # REST usage
    Hostile("/v1/usage", "POST", "/v1/usage", _put(b'"usage"'), 400, "send one usage object"),
    Hostile("/v1/usage", "POST", "/v1/usage", _put(DEEP), 400, "not valid JSON"),
    Hostile("/v1/usage", "POST", "/v1/usage", _put(b'{"customer_id": "\xff"}'), 400, "not valid JSON"),
    Hostile("/v1/usage", "POST", "/v1/usage?x=%00", _put(b"{}"), 400, "contains a NUL character"),
    # manual revenue
    Hostile("/v1/revenue", "POST", "/v1/revenue", _put(b'"revenue"'), 400, "send one revenue entry"),
    Hostile("/v1/revenue", "POST", "/v1/revenue", _put(DEEP), 400, "not valid JSON"),
    Hostile("/v1/revenue", "POST", "/v1/revenue", _put(b'{"external_id": "\xff"}'), 400, "not valid JSON"),
    Hostile("/v1/revenue", "POST", "/v1/revenue", _put(REVENUE % (b'"1e200000"', b"2026-11-03")), 400, "amount"),
    Hostile("/v1/revenue", "POST", "/v1/revenue", _put(REVENUE % (b"[]", b"2026-11-03")), 400, "amount"),
    Hostile("/v1/revenue", "POST", "/v1/revenue", _put(REVENUE % (b'"10"', b"9999-12-31")), 400,
            "the date 9999-12-31 is not between 2000-01-01 and 2099-12-31"),
    Hostile("/v1/revenue", "POST", "/v1/revenue", _put(REVENUE % (b'"10"', b"0000-01-01")), 400, "date"),
    Hostile("/v1/revenue", "POST", "/v1/revenue",
            _put(REVENUE.replace(b'"e1"', b'"e\\u0000"') % (b'"10"', b"2026-11-03")), 400, "NUL"),
    # the Stripe webhook
    Hostile("/v1/stripe/webhook", "POST", "/v1/stripe/webhook",
            {"content": b"{}", "headers": {"stripe-signature": "t=1,v1=\xe9".encode("latin-1")}}, 400,
            "the header is not ASCII"),
    Hostile("/v1/stripe/webhook", "POST", "/v1/stripe/webhook", {"content": b"\xff"}, 400, "not UTF-8"),
    Hostile("/v1/stripe/webhook", "POST", "/v1/stripe/webhook", _signed_list, 200, "unusable"),
]  # fmt: skip


@pytest.fixture
def backend(timescale_server: Server, tmp_path: Path) -> Iterator[BackendThread]:
    url, janitor = timescale_server.new_database()
    try:
        with running_backend(url, tmp_path, stripe_webhook_secret=sf.WEBHOOK_SECRET) as running:
            yield running
    finally:
        janitor.drop()


def test_every_route_answers_hostile_input_with_a_4xx_naming_the_problem(backend: BackendThread) -> None:
    wrong: list[str] = []
    with httpx.Client(base_url=backend.http_url, headers=AUTH, timeout=30) as client:
        for case in SWEEP:
            kwargs = case.kwargs() if callable(case.kwargs) else case.kwargs
            response = client.request(case.method, case.url, **kwargs)
            where = f"{case.method} {case.url[:60]}: {response.status_code} {response.text[:200]}"
            # The message names the problem (for a batch, its details do); a failure is the one error body.
            one_body = case.status < 400 or set(response.json()) == {"error"}
            if response.status_code != case.status or case.says not in response.text or not one_body:
                wrong.append(where)
    assert wrong == [], "\n".join(wrong)

    app = backend.running.http.config.app
    # The OTLP routes answer in OTLP's own Status body: their hostile input is tested with the receivers
    # (test_hostile, test_properties, test_otlp_discard).
    served = {r.path for r in app.routes if isinstance(r, Route)} - {"/v1/traces", "/v1/metrics", "/v1/logs"}
    assert served == {case.route for case in SWEEP}
