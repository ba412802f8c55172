"""Money for people: one rounding rule (half to even), the currency's digits, the sign before the symbol."""

from __future__ import annotations

from decimal import Decimal

import pytest

from otel_margin_backend.pipeline.money import exact_number, exponent, money
from otel_margin_backend.revenue.currency import to_major


@pytest.mark.parametrize(
    ("amount", "text"),
    [("0.125", "$0.12"), ("0.135", "$0.14"), ("1234.565", "$1,234.56"), ("-43.955", "-$43.96"), ("2.675", "$2.68")],
)
def test_exact_half_cents_round_to_even(amount: str, text: str) -> None:
    assert money(Decimal(amount)) == text


def test_usd_has_the_symbol_other_currencies_their_code_and_digits() -> None:
    assert money(Decimal("12480")) == "$12,480.00"
    assert money(Decimal("-2.1")) == "-$2.10"
    assert money(Decimal("-0.004")) == "$0.00"  # rounds to zero: no minus sign
    assert money(Decimal("1234.565"), "eur") == "1,234.56 EUR"
    assert money(Decimal("1234.5"), "JPY") == "1,234 JPY"  # zero-decimal, half to even
    assert money(Decimal("5.1245"), "KWD") == "5.124 KWD"  # three-decimal
    assert money(Decimal("99"), "USD", code=True) == "99.00 USD"
    assert money(None) == "—"


def test_minor_units_read_as_revenue_shows_them() -> None:
    assert money(to_major(123456, "usd"), "usd", code=True) == "1,234.56 USD"
    assert money(to_major(-310000, "JPY"), "JPY", code=True) == "-310,000 JPY"
    assert money(to_major(5124, "KWD"), "KWD", code=True) == "5.124 KWD"


def test_small_amounts_may_keep_more_digits() -> None:
    assert money(Decimal("1234.565"), small_places=4) == "$1,234.56"
    assert money(Decimal("0.00314159"), small_places=4) == "$0.0031"
    assert money(Decimal("0.00005"), small_places=4) == "$0.0000"
    assert money(Decimal("-2.1"), small_places=4) == "-$2.10"


def test_exact_rounds_nothing_and_signed_shows_plus() -> None:
    assert money(Decimal("0.028"), exact=True) == "$0.028"
    assert money(Decimal("0.210000"), exact=True) == "$0.21"
    assert money(Decimal("460"), "USD", code=True, exact=True) == "460.00 USD"
    assert money(Decimal("1234.0012345"), "USD", code=True, exact=True) == "1,234.0012345 USD"
    assert money(Decimal("0.5"), signed=True) == "+$0.50"
    assert money(Decimal("-0.5"), signed=True) == "-$0.50"


def test_exact_number_is_plain_digits() -> None:
    assert [exact_number(Decimal(v)) for v in ("0.0074", "2.000", "200000", "0", "-0.00185")] == [
        "0.0074", "2", "200000", "0", "-0.00185",
    ]  # fmt: skip
    assert exact_number(Decimal("1.99255"), signed=True) == "+1.99255"
    assert exact_number(None) == "—"


def test_exponents_follow_stripe() -> None:
    assert [exponent(c) for c in ("USD", "jpy", "KWD", "ISK", "HUF")] == [2, 0, 3, 2, 2]
