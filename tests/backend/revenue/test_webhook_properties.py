"""Property-based hostile input for ``POST /v1/stripe/webhook`` (issue 12), against the real routes and database.

Each example delivers a mutated copy of a valid event built from Stripe's published example objects
(``testdata/``, any of the three API versions): a value anywhere in the tree replaced by a hostile one (NUL, lone
surrogates, huge and negative numbers, wrong types, deep nesting, times out of range), a key removed, the whole body
replaced (``[]``, a string, a number), or its bytes edited; the mutant is **signed correctly** (so it reaches the
parsing and booking code), except for a few header mutations (non-ASCII, an hour ahead, stale, wrong secret). At the
same moment a fresh valid ``invoice.paid`` is delivered, sometimes twice. Properties:

- no answer is a 5xx;
- every valid event is booked exactly once, with its exact amount in its customer's month;
- every answer ``unusable`` is one row of ``stripe_unusable_events``, and nothing else is recorded there.

CI runs the ``hostile-ci`` profile (50 examples, each on TimescaleDB and on PostgreSQL). A failing example is
printed by hypothesis and replays from its seed (``--hypothesis-seed``). The long run::

    OTEL_MARGIN_HYPOTHESIS_PROFILE=hostile-long .venv/bin/pytest -p no:cacheprovider \\
        tests/backend/revenue/test_webhook_properties.py --hypothesis-show-statistics
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.backend.revenue import stripe_fixtures as sf
from tests.backend.revenue.conftest import RevenueServer, config_for, serving
from tests.backend.revenue.stripe_stub import StripeStub

settings.register_profile(
    "hostile-ci",
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("hostile-long", settings.get_profile("hostile-ci"), max_examples=1_000)
PROFILE = settings.get_profile(os.environ.get("OTEL_MARGIN_HYPOTHESIS_PROFILE", "hostile-ci"))

_n = itertools.count(1)

hostile_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["", "\x00", "a\x00b", "\ud800", "é" * 300, "x" * 70_000, "9999-12-31T23:00:00-14:00", "NaN",
                     "1e200000", "in_v1", "cus_", "usd\x00", "ZZZ", "-1"]),
)  # fmt: skip
hostile_int = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 2**31, 2**53, 2**53 + 1, 2**63, -(2**63) - 1, 10**30, 253_402_300_800, -62_135_596_801,
                     sf.ts("2554-01-01"), sf.ts("1970-01-01")]),
)  # fmt: skip
hostile_leaf = st.one_of(
    st.none(), st.booleans(), hostile_int, hostile_text, st.floats(allow_nan=False), st.just([]), st.just({}),
    st.integers(1, 200).map(lambda depth: json.loads("[" * depth + "]" * depth)),
)  # fmt: skip
hostile_body = st.sampled_from([b"[]", b'"invoice.paid"', b"12", b"null", b"{}", b"", b"[" * 5000 + b"]" * 5000,
                                b'{"object": "event"}', b'{"object": "event", "id": "evt_x", "data": []}'])  # fmt: skip
header_mutation = st.sampled_from(["non-ascii", "an hour ahead", "stale", "wrong secret"])


def _valid(n: str, amount: int, version: str) -> dict[str, Any]:
    customer = sf.customer(f"cus_v{n}", name="Valid", email="ap@valid.test", metadata={"customer_id": f"acct_v{n}"},
                           version=version)  # fmt: skip
    invoice = sf.invoice(f"in_v{n}", customer=customer, paid_at="2026-11-03", created="2026-11-01", version=version,
                         lines=[sf.line(f"il_v{n}", amount, invoice=f"in_v{n}", start="2026-11-02T00:00:00",
                                        version=version)])  # fmt: skip
    return sf.event("invoice.paid", invoice, created="2026-11-03", id_=f"evt_v{n}", version=version)


def _base(kind: str, n: str, version: str) -> dict[str, Any]:
    customer = sf.customer(f"cus_m{n}", name="Mutant", email="ap@mutant.test", metadata={"customer_id": "acct_m"},
                           version=version)  # fmt: skip
    match kind:
        case "invoice.paid":
            lines = [sf.line(f"il_m{n}", 5000, invoice=f"in_m{n}", start="2026-11-01", end="2026-12-01",
                             taxes=[sf.tax(1000, taxable=5000, version=version)], version=version)]  # fmt: skip
            obj = sf.invoice(f"in_m{n}", customer=customer, paid_at="2026-11-03", lines=lines, version=version)
        case "refund.created":
            obj = sf.refund(f"re_m{n}", charge=f"ch_m{n}", amount=700, created="2026-11-09", version=version)
        case _:
            obj = customer
    return sf.event(kind, obj, created="2026-11-10", id_=f"evt_m{n}", version=version)


def _paths(tree: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _paths(value, (*path, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _paths(value, (*path, i))


def _mutate(data: st.DataObject, evt: dict[str, Any]) -> bytes:
    """One structural edit of the event, encoded; sometimes the whole body or its bytes instead."""
    how = data.draw(st.sampled_from(["replace", "replace", "replace", "delete", "body", "bytes"]), label="how")
    event(f"mutation: {how}")
    if how == "body":
        body: bytes = data.draw(hostile_body, label="body")
        return body
    paths = [p for p in _paths(evt) if p]
    path = data.draw(st.sampled_from(paths), label="path")
    parent = evt
    for step in path[:-1]:
        parent = parent[step]
    if how == "delete":
        del parent[path[-1]]
    elif how == "replace":
        parent[path[-1]] = data.draw(hostile_leaf, label="value")
    body = sf.body_of(evt)
    if how == "bytes":
        at = data.draw(st.integers(0, len(body)), label="at")
        cut = data.draw(st.integers(0, 8), label="cut")
        body = body[:at] + data.draw(st.binary(max_size=4), label="insert") + body[at + cut :]
    return body


def _header(body: bytes, mutation: str | None) -> str | bytes:
    now = int(time.time())
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return f"t={now},v1=00"  # not UTF-8: refused before the signature is read
    sign = sf.signed
    match mutation:
        case "non-ascii":
            return sign(body, timestamp=now).replace("v1=", "v1=é").encode()
        case "an hour ahead":
            return sign(body, timestamp=now + 3600)
        case "stale":
            return sign(body, timestamp=now - 3600)
        case "wrong secret":
            return sign(body, secret="whsec_someone_else")
    assert text is not None
    return sign(body, timestamp=now)


@pytest.fixture
def server(db_url: str, stripe_stub: StripeStub) -> Iterator[RevenueServer]:
    with serving(db_url, config_for(stripe_stub)) as running:
        yield running


def _unusable_rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM stripe_unusable_events").fetchone()
    assert row is not None
    return int(row[0])


def _entries_of(url: str, invoice_id: str) -> list[tuple[str, str, str, int, str, str | None]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT source_line, kind, to_char(month, 'YYYY-MM'), amount_minor, currency, e.customer_id"
            " FROM revenue_entries_attributed e WHERE source_id = %s ORDER BY 1, 2, 3",
            (invoice_id,),
        ).fetchall()
    return [(str(a), str(b), str(c), int(d), str(e), f) for a, b, c, d, e, f in rows]


def test_mutated_signed_events_never_5xx_and_valid_ones_book_exactly_once(server: RevenueServer, db_url: str) -> None:
    unusable = 0
    answers_seen: collections.Counter[str] = collections.Counter()
    pool = ThreadPoolExecutor(2)

    @PROFILE
    @given(
        data=st.data(),
        kind=st.sampled_from(["invoice.paid", "refund.created", "customer.updated"]),
        version=st.sampled_from(sf.VERSIONS),
        amount=st.integers(1, 10**9),
        header=st.one_of(st.none(), st.none(), st.none(), header_mutation),
        redeliver=st.booleans(),
    )
    def run(data: st.DataObject, kind: str, version: str, amount: int, header: str | None, redeliver: bool) -> None:
        nonlocal unusable
        n = f"{next(_n):08d}"  # a fixed width: the body's length (and so what hypothesis draws) must not depend on it
        mutant = _mutate(data, _base(kind, n, version))
        valid = _valid(n, amount, version)
        answers = list(pool.map(lambda send: send(), [lambda: server.post(mutant, _header(mutant, header)),
                                                      lambda: server.deliver(valid)]))  # fmt: skip
        if redeliver:
            answers.append(server.deliver(valid))
        hostile, booked, *again = answers
        assert hostile.status_code in (200, 400, 413), hostile.text[:300]
        if hostile.status_code == 400:
            assert hostile.json()["error"]["code"] == "INVALID_ARGUMENT" and hostile.json()["error"]["message"]
        if hostile.status_code == 200:
            status = hostile.json()["status"]
            event(f"answer: {status}")
            answers_seen[status] += 1
            unusable += status == "unusable"
            if status == "unusable":
                assert hostile.json()["detail"]
        else:
            event(f"answer: {hostile.status_code}")
            answers_seen[str(hostile.status_code)] += 1
        assert (booked.status_code, booked.json()["status"]) == (200, "booked"), booked.text[:300]
        assert [(r.status_code, r.json()["status"]) for r in again] == [(200, "duplicate")] * len(again)
        assert _entries_of(db_url, f"in_v{n}") == [(f"il_v{n}", "revenue", "2026-11", amount, "USD", f"acct_v{n}")]
        assert _unusable_rows(db_url) == unusable

    try:
        run()
    finally:
        pool.shutdown()
        print(f"mutants answered: {dict(sorted(answers_seen.items()))}")  # shown with -s (the long run's figures)
