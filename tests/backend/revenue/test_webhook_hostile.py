"""Hostile deliveries to ``POST /v1/stripe/webhook`` (issue 12): never a 5xx; a signed event revenue cannot book is
acknowledged (200, so Stripe stops redelivering) and recorded as unusable with its reason; the failure log is capped.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from otel_margin_backend.revenue.routes import _RateLimit
from tests.backend.revenue import stripe_fixtures as sf
from tests.backend.revenue.conftest import (
    RevenueServer,
    config_for,
    entries,
    events,
    failures,
    monthly,
    run_cli,
    serving,
    unusable,
)


def _invoice(id_: str, amount: int, **changes: Any) -> dict[str, Any]:
    customer = sf.customer(f"cus_{id_}", name="Xylo", email="ap@xylo.test", metadata={"customer_id": "acct_x"})
    obj = sf.invoice(id_, customer=customer, paid_at="2026-11-03", created="2026-11-01",
                     lines=[sf.line(f"il_{id_}", amount, invoice=id_, start="2026-11-01T00:00:00")])  # fmt: skip
    obj.update(changes)
    return obj


@pytest.fixture
def server(db_url: str) -> Any:
    with serving(db_url, config_for(None)) as running:
        yield running


def test_a_non_ascii_signature_is_a_400_naming_it(server: RevenueServer, db_url: str) -> None:
    body = sf.body_of(sf.event("invoice.paid", _invoice("in_a", 100), created="2026-11-03"))
    response = server.post(body, "t=1,v1=é".encode())
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "invalid Stripe-Signature: the header is not ASCII"
    assert failures(db_url) == [("bad_signature", 400, "invalid Stripe-Signature: the header is not ASCII")]


def test_a_signature_dated_an_hour_ahead_is_refused(server: RevenueServer, db_url: str) -> None:
    evt = sf.event("invoice.paid", _invoice("in_f", 100), created="2026-11-03")
    ahead = server.deliver(evt, timestamp=int(time.time()) + 3600)
    assert ahead.status_code == 400
    assert ahead.json()["error"]["message"] == (
        "invalid Stripe-Signature: its timestamp is more than 300 s ahead of the server's clock; check the server's "
        "clock"
    )
    assert entries(db_url) == [] and events(db_url) == []
    # Within the tolerance (clock skew between Stripe and the server) it is booked.
    assert server.deliver(evt, timestamp=int(time.time()) + 120).json()["status"] == "booked"


def test_a_body_that_is_not_utf8_is_refused(server: RevenueServer, db_url: str) -> None:
    response = server.post(b'{"id": "\xff"}', "t=1,v1=00")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "the body is not UTF-8, so it is not a Stripe delivery"


DEEP = "the signed body is not JSON: depth limit exceeded: line 1 column 1026 (char 1025)"
SIGNED_UNUSABLE = [
    ("list", b"[]", None, "the signed body is a JSON list, not an event object"),
    ("string", b'"invoice.paid"', None, "the signed body is a JSON str, not an event object"),
    ("deep", b"[" * 100_000 + b"]" * 100_000, None, DEEP),
    ("deep object", b'{"object": "event", "id": "evt_deep", "data": ' + b'{"a": ' * 70 + b"1" + b"}" * 71, "evt_deep",
     "the event is nested deeper than 64 levels"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body", "event_id", "reason"), SIGNED_UNUSABLE, ids=[c[0] for c in SIGNED_UNUSABLE])
def test_a_signed_body_that_is_no_event_is_acknowledged_and_recorded(
    server: RevenueServer, db_url: str, name: str, body: bytes, event_id: str | None, reason: str
) -> None:
    response = server.post(body, sf.signed(body))
    assert response.status_code == 200
    assert response.json() == {"id": event_id, "type": None, "status": "unusable", "detail": reason}
    assert unusable(db_url) == [(event_id, None, reason)]
    assert failures(db_url) == [] and events(db_url) == []


def _nul_customer(evt: dict[str, Any]) -> None:
    evt["data"]["object"]["customer"]["metadata"]["customer_id"] = "acct\x00x"


def _paid_in_2554(evt: dict[str, Any]) -> None:
    evt["data"]["object"]["status_transitions"]["paid_at"] = sf.ts("2554-01-01")


def _created_1970(evt: dict[str, Any]) -> None:
    evt["created"] = 0


def _period_beyond_datetime(evt: dict[str, Any]) -> None:
    evt["data"]["object"]["lines"]["data"][0]["period"]["end"] = 10**15


def _amount_a_string(evt: dict[str, Any]) -> None:
    evt["data"]["object"]["lines"]["data"][0]["amount"] = "100 USD"


def _amount_huge(evt: dict[str, Any]) -> None:
    evt["data"]["object"]["total"] = 2**60


def _amount_beyond_64_bits(evt: dict[str, Any]) -> None:
    evt["data"]["object"]["total"] = 10**30


def _lines_a_string(evt: dict[str, Any]) -> None:
    evt["data"]["object"]["lines"] = "il_1"


def _id_a_number(evt: dict[str, Any]) -> None:
    evt["id"] = 12


def _surrogate_name(evt: dict[str, Any]) -> None:
    evt["data"]["object"]["customer"]["name"] = "\ud800"


MUTATIONS = [
    (_nul_customer, "data.object.customer.metadata.customer_id contains a NUL character"),
    (_paid_in_2554, "status_transitions.paid_at: Input should be less than or equal to 4102444799"),
    (_created_1970, "created: Input should be greater than or equal to 946684800"),
    (_period_beyond_datetime, "period.end: Input should be less than or equal to 4102444799"),
    (_amount_a_string, "lines.data.0.amount: Input should be a valid integer, unable to parse string"),
    (_amount_huge, "data.object.total is a number beyond 2^53"),
    (_amount_beyond_64_bits, "total: Unable to parse input string as an integer, exceeded maximum size"),
    (_lines_a_string, "lines: Input should be a valid dictionary or instance of LineList"),
    (_id_a_number, "id: Input should be a valid string"),
    (_surrogate_name, "the signed body is not JSON"),
]


@pytest.mark.parametrize(("mutate", "reason"), MUTATIONS, ids=[m.__name__.strip("_") for m, _ in MUTATIONS])
def test_a_signed_event_revenue_cannot_book_is_acknowledged_recorded_and_books_nothing(
    server: RevenueServer, db_url: str, mutate: Any, reason: str
) -> None:
    evt = sf.event("invoice.paid", _invoice("in_m", 100), created="2026-11-03")
    mutate(evt)
    body = sf.body_of(evt)  # json.dumps writes the lone surrogate as the escape \ud800, which is valid ASCII
    response = server.post(body, sf.signed(body))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "unusable"
    assert reason in response.json()["detail"]
    [(event_id, event_type, recorded)] = unusable(db_url)
    assert recorded == response.json()["detail"]
    readable = "not JSON" not in reason  # else neither the id nor the type is known
    assert event_id == (evt["id"] if readable and isinstance(evt["id"], str) else None)
    assert event_type == ("invoice.paid" if readable else None)
    assert entries(db_url) == [] and events(db_url) == [] and failures(db_url) == []
    # The endpoint still books the next valid event, exactly.
    valid = sf.event("invoice.paid", _invoice("in_v", 1234), created="2026-11-03")
    assert server.deliver_ok(valid)["status"] == "booked"
    assert monthly(db_url) == {("acct_x", "2026-11", "USD"): ("12.34", "0.00", "12.34")}


def test_unusable_events_are_listed_by_a_command_in_80_columns(server: RevenueServer, db_url: str) -> None:
    evt = sf.event("invoice.paid", _invoice("in_m", 100), created="2026-11-03", id_="evt_1UnusableCli")
    _lines_a_string(evt)
    body = sf.body_of(evt)
    assert server.post(body, sf.signed(body)).json()["status"] == "unusable"

    table = run_cli("stripe", "unusable", db_url=db_url, env={"COLUMNS": "80"})
    assert table.exit_code == 0, table.output
    assert "evt_1UnusableCli" in table.output and "invoice.paid" in table.output
    assert "Input should be a valid dictionary" in " ".join(table.output.replace("│", " ").split())
    assert max(len(line) for line in table.output.splitlines()) <= 80
    as_json = run_cli("stripe", "unusable", "--format", "json", db_url=db_url)
    assert as_json.exit_code == 0
    assert '"event_id": "evt_1UnusableCli"' in as_json.output


def test_the_logs_are_capped_and_pruned_in_the_database(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("SELECT stripe_webhook_failure_record('bad_signature', 400, 'x', NULL, NULL)"
                     " FROM generate_series(1, 10005)")  # fmt: skip
        assert conn.execute("SELECT count(*), min(id) FROM stripe_webhook_failures").fetchone() == (10_000, 6)
        conn.execute("UPDATE stripe_webhook_failures SET received_at = now() - interval '91 days' WHERE id < 100")
        conn.execute("SELECT stripe_webhook_failure_record('bad_signature', 400, 'y', NULL, NULL)")
        assert conn.execute("SELECT count(*), min(id) FROM stripe_webhook_failures").fetchone() == (9_907, 100)
        for n in range(5):
            conn.execute("SELECT stripe_unusable_record(%s, 'invoice.paid', 'r', 3, 90)", (f"evt_{n}",))
        kept = conn.execute("SELECT event_id FROM stripe_unusable_events ORDER BY id").fetchall()
        assert kept == [("evt_2",), ("evt_3",), ("evt_4",)]


def test_failures_are_recorded_at_most_five_a_second() -> None:
    clock = [100.0]
    limit = _RateLimit(5, clock=lambda: clock[0])
    assert [limit.allow() for _ in range(7)] == [True] * 5 + [False] * 2
    clock[0] += 0.2  # one more token
    assert [limit.allow(), limit.allow()] == [True, False]
    assert limit.dropped == 3
