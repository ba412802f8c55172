"""Currencies: Stripe's minor units, the same in Python and SQL."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from otel_margin_backend.pipeline.money import THREE_DECIMAL, ZERO_DECIMAL, exponent
from otel_margin_backend.revenue.currency import normalize_code, to_major, to_minor


@pytest.mark.parametrize(
    ("amount", "code", "minor"),
    [("12.34", "USD", 1234), ("500", "JPY", 500), ("5.124", "KWD", 5124), ("1000", "KRW", 1000), ("40", "ISK", 4000),
     ("0.1", "EUR", 10), ("-3.50", "GBP", -350)],
)  # fmt: skip
def test_major_to_minor_is_exact(amount: str, code: str, minor: int) -> None:
    assert to_minor(Decimal(amount), code) == minor
    assert to_major(minor, code) == Decimal(amount)


@pytest.mark.parametrize(("amount", "code"), [("12.345", "USD"), ("10.5", "JPY"), ("1.0001", "BHD")])
def test_more_decimals_than_the_currency_has_are_refused(amount: str, code: str) -> None:
    with pytest.raises(ValueError, match=f"has more decimals than {code}"):
        to_minor(Decimal(amount), code)


def test_codes() -> None:
    assert normalize_code(" usd ") == "USD"
    with pytest.raises(ValueError, match="not an ISO 4217 currency code"):
        normalize_code("US$")


def test_sql_knows_the_same_exponents(db_url: str) -> None:
    codes = sorted(ZERO_DECIMAL | THREE_DECIMAL | {"USD", "EUR", "ISK", "HUF", "TWD"})
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT code, currency_exponent(code), minor_to_major(12345, code)::text FROM unnest(%s::text[]) AS code",
            (codes,),
        ).fetchall()
    assert {code: (e, major) for code, e, major in rows} == {
        code: (exponent(code), str(to_major(12345, code))) for code in codes
    }
