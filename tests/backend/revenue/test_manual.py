"""Manual revenue: ``POST /v1/revenue`` and ``otel-margin revenue import``, idempotent by external_id, exact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.backend.revenue.conftest import AUTH, RevenueServer, entries, monthly, run_cli


def post(server: RevenueServer, payload: object, **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", AUTH)
    return httpx.post(f"{server.url}/v1/revenue", json=payload, headers=headers, timeout=30, **kwargs)


CONTRACT = {
    "external_id": "contract-42-2026-11",
    "customer_id": "acct_123",
    "amount": "1200.00",
    "currency": "eur",
    "period_start": "2026-11-01",
    "period_end": "2026-11-30",
}


def test_entries_are_recognized_like_stripe_lines(revenue: RevenueServer, db_url: str) -> None:
    response = post(revenue, [
        CONTRACT,
        {"external_id": "ent-7", "customer_id": "acct_7", "amount": "100.01", "currency": "USD",
         "period_start": "2026-11-16", "period_end": "2026-12-15"},
        {"external_id": "yen-1", "customer_id": "acct_7", "amount_minor": 5000, "currency": "JPY",
         "date": "2026-12-24"},
        {"external_id": "goodwill-1", "customer_id": "acct_7", "amount": "5.00", "currency": "USD",
         "date": "2026-12-02", "kind": "refund"},
    ])  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 4, "rejected": []}
    assert monthly(db_url) == {
        ("acct_123", "2026-11", "EUR"): ("1200.00", "0.00", "1200.00"),
        # 100.01 over 30 days, 15 in each month: November gets 50.00 (truncated), December the rest.
        ("acct_7", "2026-11", "USD"): ("50.00", "0.00", "50.00"),
        ("acct_7", "2026-12", "USD"): ("50.01", "-5.00", "45.01"),
        ("acct_7", "2026-12", "JPY"): ("5000", "0", "5000"),
    }


def test_a_json_number_is_read_exactly(revenue: RevenueServer, db_url: str) -> None:
    body = (b'{"external_id": "n-1", "customer_id": "acct_1", "amount": 0.1, "currency": "USD", '
            b'"date": "2026-11-02"}')  # fmt: skip
    response = httpx.post(f"{revenue.url}/v1/revenue", content=body, timeout=30,
                          headers={**AUTH, "content-type": "application/json"})  # fmt: skip
    assert response.status_code == 200, response.text
    assert entries(db_url) == [("n-1", "", "revenue", "2026-11", 10, "USD")]


def test_the_same_external_id_replaces_its_entry(revenue: RevenueServer, db_url: str) -> None:
    for _ in range(3):
        assert post(revenue, CONTRACT).status_code == 200
    assert monthly(db_url) == {("acct_123", "2026-11", "EUR"): ("1200.00", "0.00", "1200.00")}
    assert post(revenue, {**CONTRACT, "amount": "1250.00"}).status_code == 200
    assert monthly(db_url) == {("acct_123", "2026-11", "EUR"): ("1250.00", "0.00", "1250.00")}


def test_bad_entries_are_named_and_the_good_ones_stored(revenue: RevenueServer, db_url: str) -> None:
    bad: list[dict[str, Any]] = [
        {**CONTRACT, "external_id": "cents", "amount": "12.345", "currency": "USD"},
        {**CONTRACT, "external_id": "yen", "amount": "10.5", "currency": "JPY"},
        {**CONTRACT, "external_id": "both", "amount_minor": 100},
        {**CONTRACT, "external_id": "no-date", "period_start": None, "period_end": None},
        {**CONTRACT, "external_id": "neg-refund", "amount": "-3.00", "kind": "refund"},
        {**CONTRACT, "external_id": "typo", "ammount": "1"},
        {**CONTRACT, "external_id": "eur0", "currency": "EURO"},
        {**CONTRACT, "external_id": "backwards", "period_end": "2026-10-01"},
    ]
    response = post(revenue, [CONTRACT, *bad])
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1
    errors = {r["external_id"]: r["error"] for r in body["rejected"]}
    assert errors == {
        "cents": "12.345 has more decimals than USD has (2)",
        "yen": "10.5 has more decimals than JPY has (0)",
        "both": "give exactly one of amount (major units) and amount_minor",
        "no-date": "give either date or period_start and period_end",
        "neg-refund": "give a refund as a positive amount (it is booked as a reduction)",
        "typo": "ammount: Extra inputs are not permitted",
        "eur0": "currency: 'EURO' is not an ISO 4217 currency code (three letters, e.g. USD)",
        "backwards": "period_end is before period_start",
    }
    assert [r["index"] for r in body["rejected"]] == list(range(1, 9))
    assert monthly(db_url) == {("acct_123", "2026-11", "EUR"): ("1200.00", "0.00", "1200.00")}

    none_valid = post(revenue, bad[:2])
    assert none_valid.status_code == 400
    assert none_valid.json() == {
        "error": {
            "code": "INVALID_ARGUMENT",
            "message": "all 2 entries are invalid (see details): fix and send again",
            "details": [
                {"index": 0, "external_id": "cents", "error": "12.345 has more decimals than USD has (2)"},
                {"index": 1, "external_id": "yen", "error": "10.5 has more decimals than JPY has (0)"},
            ],
        }
    }


def test_revenue_needs_the_ingest_token_and_json(revenue: RevenueServer) -> None:
    assert post(revenue, CONTRACT, headers={}).status_code == 401
    assert post(revenue, CONTRACT, headers={"authorization": "Bearer wrong"}).status_code == 401
    form = httpx.post(f"{revenue.url}/v1/revenue", data={"a": "b"}, headers=AUTH, timeout=30)
    assert form.status_code == 415
    assert form.json() == {
        "error": {
            "code": "INVALID_ARGUMENT",
            "message": "send revenue as application/json, not application/x-www-form-urlencoded",
        }
    }
    empty = post(revenue, [])
    assert empty.status_code == 400
    assert empty.json() == {
        "error": {"code": "INVALID_ARGUMENT", "message": "send one revenue entry or a non-empty list of them"}
    }


GOOD_CSV = """external_id,customer_id,amount,amount_minor,currency,kind,date,period_start,period_end
inv-2026-11-acme,acct_a,1200.00,,USD,revenue,,2026-11-01,2026-11-30
inv-2026-11-tanaka,acct_b,,310000,JPY,revenue,2026-11-15,,
credit-9,acct_a,25.50,,usd,credit_note,2026-12-03,,
"""


def test_import_a_csv_and_again(db_url: str, tmp_path: Path) -> None:
    file = tmp_path / "revenue.csv"
    file.write_text(GOOD_CSV)
    result = run_cli("revenue", "import", str(file), db_url=db_url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (
        "Imported 3 entries from revenue.csv (3 new or changed, 0 unchanged): 310,000 JPY, 1,174.50 USD."
    )
    assert monthly(db_url) == {
        ("acct_a", "2026-11", "USD"): ("1200.00", "0.00", "1200.00"),
        ("acct_a", "2026-12", "USD"): ("0.00", "-25.50", "-25.50"),
        ("acct_b", "2026-11", "JPY"): ("310000", "0", "310000"),
    }
    again = run_cli("revenue", "import", str(file), db_url=db_url)
    assert "(0 new or changed, 3 unchanged)" in again.stdout
    assert len(entries(db_url)) == 3


def test_a_csv_with_bad_lines_names_each_and_imports_nothing(db_url: str, tmp_path: Path) -> None:
    file = tmp_path / "bad.csv"
    file.write_text(
        "external_id,customer_id,amount,currency,date\n"
        "ok-1,acct_a,10.00,USD,2026-11-01\n"
        "bad-1,acct_a,ten,USD,2026-11-01\n"
        "\n"
        "bad-2,acct_a,10.00,USD,2026-13-01\n"
        "ok-1,acct_a,11.00,USD,2026-11-02\n"
        "bad-3,,10.00,USD,2026-11-01,extra\n"
    )
    result = run_cli("revenue", "import", str(file), db_url=db_url)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: line 3: amount: 'ten' is not a number",
        "error: line 5: date: Input should be a valid date or datetime, month value is outside expected range of 1-12",
        "error: line 6: external_id 'ok-1' repeats line 2",
        "error: line 7: more cells than the header has columns",
        f"4 bad line(s): nothing was imported from {file}",
    ]
    assert entries(db_url) == []


def test_a_csv_with_an_unknown_column_is_one_line(db_url: str, tmp_path: Path) -> None:
    file = tmp_path / "odd.csv"
    file.write_text("external_id,customer,amount,currency,date\nx,acct_a,1.00,USD,2026-11-01\n")
    result = run_cli("revenue", "import", str(file), db_url=db_url)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: {file}:1: unknown column(s) customer; expected amount, amount_minor, currency, customer_id, date, "
        "external_id, kind, period_end, period_start"
    )
