"""Currencies: ISO 4217 codes and amounts in minor units as Stripe counts them.

Amounts are integers in the currency's minor unit, as in Stripe's API (docs.stripe.com/currencies): cents for
USD, yen for JPY (zero-decimal), thousandths for KWD (three-decimal). The digits of each currency
(``exponent``) live with the money formatter (``pipeline/money.py``), which shows amounts to people.
"""

from __future__ import annotations

import re
from decimal import Decimal

from otel_margin_backend.pipeline.money import exponent

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
