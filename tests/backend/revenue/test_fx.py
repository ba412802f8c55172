"""FX: ``otel-margin fx import`` and the views converting revenue to the reporting currency."""

from __future__ import annotations

from pathlib import Path

import psycopg

from otel_margin_backend.revenue import RevenueConfig, prepare
from tests.backend.revenue.conftest import run_cli

ENTRIES = """external_id,customer_id,amount,currency,date
eur-nov,acct_a,1200.00,EUR,2026-11-10
eur-dec,acct_a,100.00,EUR,2026-12-10
jpy-nov,acct_a,310000,JPY,2026-11-15
gbp-nov,acct_a,50.00,GBP,2026-11-20
usd-nov,acct_a,10.00,USD,2026-11-20
"""

RATES = """date,currency,rate
2026-10-01,EUR,1.0710
2026-11-01,EUR,1.0832
2026-12-01,EUR,1.0951
2026-11-01,jpy,0.0066
"""


def converted(url: str) -> list[tuple[str, str, str, str | None, str | None, bool]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT to_char(month AT TIME ZONE 'UTC', 'YYYY-MM'), currency, net, rate, net_reporting, converted"
            " FROM revenue_monthly_reporting ORDER BY 1, 2"
        ).fetchall()
    return [
        (m, c, str(n), None if r is None else str(r), None if x is None else str(x), ok) for m, c, n, r, x, ok in rows
    ]


def test_revenue_is_converted_by_the_rate_in_force_and_the_rest_flagged(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "entries.csv").write_text(ENTRIES)
    (tmp_path / "rates.csv").write_text(RATES)
    assert run_cli("revenue", "import", str(tmp_path / "entries.csv"), db_url=db_url).exit_code == 0
    result = run_cli("fx", "import", str(tmp_path / "rates.csv"), db_url=db_url)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "Imported 4 rates to USD (EUR, JPY)."

    assert converted(db_url) == [
        ("2026-11", "EUR", "1200.00", "1.0832", "1299.840000", True),
        ("2026-11", "GBP", "50.00", None, None, False),
        ("2026-11", "JPY", "310000", "0.0066", "2046.0000", True),
        ("2026-11", "USD", "10.00", "1", "10.00", True),
        ("2026-12", "EUR", "100.00", "1.0951", "109.510000", True),
    ]
    with psycopg.connect(db_url) as conn:
        totals = conn.execute(
            "SELECT to_char(month AT TIME ZONE 'UTC', 'YYYY-MM'), reporting_currency, net, unconverted_currencies"
            " FROM revenue_monthly_reporting_totals ORDER BY 1"
        ).fetchall()
    assert [(m, c, str(n), u) for m, c, n, u in totals] == [
        ("2026-11", "USD", "3355.840000", ["GBP"]),  # GBP has no rate: left out and named, never mixed in
        ("2026-12", "USD", "109.510000", []),
    ]


def test_a_later_rate_in_the_month_is_the_one_in_force(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "entries.csv").write_text(ENTRIES)
    (tmp_path / "rates.csv").write_text(RATES + "2026-11-30,EUR,1.1000\n")
    run_cli("revenue", "import", str(tmp_path / "entries.csv"), db_url=db_url)
    run_cli("fx", "import", str(tmp_path / "rates.csv"), db_url=db_url)
    assert converted(db_url)[0] == ("2026-11", "EUR", "1200.00", "1.1000", "1320.000000", True)


def test_the_reporting_currency_comes_from_the_configuration(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "entries.csv").write_text(ENTRIES)
    (tmp_path / "rates.csv").write_text("date,currency,rate\n2026-11-01,USD,0.92\n")
    run_cli("revenue", "import", str(tmp_path / "entries.csv"), db_url=db_url)
    result = run_cli("fx", "import", str(tmp_path / "rates.csv"), db_url=db_url,
                     env={"OTEL_MARGIN_REPORTING_CURRENCY": "eur"})  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "The reporting currency is now EUR (it was USD)." in result.stdout
    rows = {(m, c): (x, ok) for m, c, _, _, x, ok in converted(db_url)}
    assert rows[("2026-11", "EUR")] == ("1200.00", True)
    assert rows[("2026-11", "USD")] == ("9.2000", True)
    assert rows[("2026-11", "JPY")] == (None, False)

    with psycopg.connect(db_url, autocommit=True) as conn:
        assert prepare(conn, RevenueConfig(reporting_currency="USD")) == "EUR"
        assert prepare(conn, RevenueConfig()) == "USD"


def test_bad_rate_lines_are_named(db_url: str, tmp_path: Path) -> None:
    file = tmp_path / "rates.csv"
    file.write_text(
        "date,currency,rate\n"
        "2026-11-01,EUR,1.08\n"
        "2026-11-01,EUR,abc\n"
        "2026-11-31,GBP,1.2\n"
        "2026-11-01,USD,1\n"
        "2026-11-01,CHF,-1\n"
        "2026-11-01,EUR,1.09\n"
        "2026-11-01,SEK\n"
    )
    result = run_cli("fx", "import", str(file), db_url=db_url)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: line 3: rate: 'abc' is not a number",
        "error: line 4: date: '2026-11-31' is not a date (YYYY-MM-DD)",
        "error: line 5: currency: USD is the reporting currency (its rate is always 1)",
        "error: line 6: rate: '-1' is not a positive rate",
        "error: line 7: EUR on 2026-11-01 repeats line 2",
        "error: line 8: missing rate",
        f"6 bad line(s): nothing was imported from {file}",
    ]
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM fx_rates").fetchone() == (0,)


def test_a_bad_reporting_currency_names_the_variable(db_url: str, tmp_path: Path) -> None:
    file = tmp_path / "rates.csv"
    file.write_text("date,currency,rate\n")
    result = run_cli("fx", "import", str(file), db_url=db_url, env={"OTEL_MARGIN_REPORTING_CURRENCY": "dollars"})
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: OTEL_MARGIN_REPORTING_CURRENCY: Value error, 'dollars' is not an ISO 4217 currency code "
        "(three letters, e.g. USD)"
    )
