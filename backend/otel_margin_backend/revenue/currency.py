"""Currencies: ISO 4217 codes and minor units as Stripe counts them.

Amounts are integers in the currency's minor unit, as in Stripe's API (docs.stripe.com/currencies): cents for
USD, yen for JPY (zero-decimal), thousandths for KWD (three-decimal). ISK, HUF and TWD stay two-decimal in
Stripe's API even where ISO says otherwise. ``currency_exponent()`` in migration 0020 holds the same lists.
"""

from __future__ import annotations

import re
from decimal import Decimal

ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
"""Stripe's zero-decimal currencies: an amount of 500 JPY is ¥500."""
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
"""Stripe's three-decimal currencies: an amount of 5124 KWD is 5.124 KWD."""

_CODE = re.compile(r"^[A-Za-z]{3}$")


def normalize_code(code: str) -> str:
    """An ISO 4217 code in upper case (Stripe sends ``usd``).

    Raises:
        ValueError: not three letters.
    """
    text = code.strip()
    if not _CODE.match(text):
        raise ValueError(f"{code!r} is not an ISO 4217 currency code (three letters, e.g. USD)")
    return text.upper()


def exponent(code: str) -> int:
    """Digits after the decimal point in the currency's major unit (0, 2 or 3)."""
    upper = code.upper()
    if upper in ZERO_DECIMAL:
        return 0
    if upper in THREE_DECIMAL:
        return 3
    return 2


def to_minor(amount: Decimal, code: str) -> int:
    """An amount in major units (``12.34``) as minor units (``1234``), exactly.

    Raises:
        ValueError: the amount has more decimals than the currency has (``12.345 USD``, ``10.5 JPY``).
    """
    digits = exponent(code)
    if not amount.is_finite():
        raise ValueError(f"{amount} is not an amount")
    scaled = amount.scaleb(digits)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more decimals than {code.upper()} has ({digits})")
    return int(scaled)


def to_major(minor: int, code: str) -> Decimal:
    """Minor units as an exact Decimal in major units (``1234`` USD → ``12.34``)."""
    return Decimal(minor).scaleb(-exponent(code))


def format_money(minor: int, code: str) -> str:
    """``12.34 USD``, ``1,234 JPY``: for people (CLI tables, messages)."""
    digits = exponent(code)
    return f"{to_major(minor, code):,.{digits}f} {code.upper()}"
