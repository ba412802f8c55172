"""Money for people: the one formatter the CLI, the demo and every text for a reader use, and its rounding rule.

Amounts stay exact everywhere else (Decimal in Python, NUMERIC in SQL, decimal strings in REST and JSON
answers); only what a person reads is rounded, and only here. The rule is ``ROUNDING``, half to even
("banker's rounding"):

- a column of rounded figures adds up without drift: half-up rounds every exact half cent up, so a table
  of them (token counts times per-Mtok prices often end in a half cent, ``0.125``) reads higher than its
  exact total, while half-even rounds as many halves down as up;
- it is the default of Python's decimal context and of IEEE 754, so ``f"{value:.2f}"`` on a Decimal (the
  percentages beside the amounts) and the simulator's ranking (``ranking.py``) round the same way.

Digits follow the currency's minor unit as Stripe counts it (docs.stripe.com/currencies): cents for USD, none
for JPY (zero-decimal), thousandths for KWD (three-decimal); ISK, HUF and TWD stay two-decimal in Stripe's API
even where ISO says otherwise. ``currency_exponent()`` in migration 0020 holds the same lists. The forms:

- ``money(Decimal("-1234.565"))`` → ``-$1,234.56``; other currencies carry their code: ``1,234.56 EUR``;
  ``code=True`` puts the code on USD too (``1,234.56 USD``), for lists that mix currencies;
- ``exact=True`` rounds nothing: at least the currency's digits, more when the amount has them (``$0.0031``);
- ``exact_number`` is plain exact digits (``0.0074``, ``2``, ``-0.00185``) for prices and rates (per-Mtok
  prices, discount percentages) and for the sub-cent audits of ``prices reprice`` and ``prices reconcile``,
  whose point is the digits a rounded figure would hide.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

ROUNDING = ROUND_HALF_EVEN
"""How ``money`` rounds to the currency's minor unit: half to even (see the module docstring for why)."""
NONE_TEXT = "—"
"""What an absent amount reads as."""
UNPRICED = "unpriced"
"""What a cost made only of unpriced calls reads as (JSON and REST give null, CSV an empty cell; never 0)."""

ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
"""Stripe's zero-decimal currencies: an amount of 500 JPY is ¥500."""
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
"""Stripe's three-decimal currencies: an amount of 5124 KWD is 5.124 KWD."""


def exponent(code: str) -> int:
    """Digits after the decimal point in the currency's major unit (0, 2 or 3).

    Args:
        code: An ISO 4217 code, any case.

    Returns:
        The number of digits.
    """
    upper = code.upper()
    if upper in ZERO_DECIMAL:
        return 0
    if upper in THREE_DECIMAL:
        return 3
    return 2


def money(
    amount: Decimal | None,
    currency: str = "USD",
    *,
    code: bool = False,
    exact: bool = False,
    signed: bool = False,
    small_places: int | None = None,
) -> str:
    """An amount for people: rounded to the currency's minor unit (``ROUNDING``), thousands separated.

    Args:
        amount: The exact amount in major units, or None.
        currency: Its ISO 4217 code. USD reads ``$1.23``, any other ``1.23 EUR``.
        code: Write the code after USD amounts too (``1.23 USD``), as in lists of several currencies.
        exact: Round nothing: the currency's digits at least, every digit the amount has beyond them.
        signed: Show ``+`` on positive amounts (differences).
        small_places: Digits for amounts under one major unit (the simulator shows ``$0.0031``, not ``$0.00``).

    Returns:
        ``$1,234.57``, ``-$43.95``, ``-310,000 JPY``, ``+$0.50`` or ``—`` for None.
    """
    if amount is None:
        return NONE_TEXT
    places = exponent(currency)
    if small_places is not None and abs(amount) < 1:
        places = small_places
    shown = amount.normalize() if exact and _decimals(amount) > places else amount.quantize(_unit(places), ROUNDING)
    sign = "-" if shown < 0 else "+" if signed and shown > 0 else ""
    upper = currency.upper()
    prefix, suffix = ("$", "") if upper == "USD" and not code else ("", f" {upper}")
    return f"{sign}{prefix}{abs(shown):,f}{suffix}"


def cost_text(
    cost: Decimal | None, unpriced_calls: int, currency: str = "USD", *, small_places: int | None = None
) -> str:
    """A cost for people: ``unpriced`` when no call could be priced, ``$12.00 +3 unpriced`` when some could not.

    Args:
        cost: The priced calls' cost, or None when none of them was priced.
        unpriced_calls: Calls that could not be priced (left out of ``cost``).
        currency: The cost's ISO 4217 code.
        small_places: As for ``money``.

    Returns:
        The text.
    """
    if cost is None:
        return UNPRICED
    shown = money(cost, currency, small_places=small_places)
    return f"{shown} +{unpriced_calls:,} {UNPRICED}" if unpriced_calls else shown


def exact_number(amount: Decimal | None, *, signed: bool = False) -> str:
    """A price, rate or audited amount as plain exact digits: nothing rounded, no exponent, no trailing zeros.

    Args:
        amount: The value, or None.
        signed: Show ``+`` on positive values.

    Returns:
        The text (``—`` for None).
    """
    if amount is None:
        return NONE_TEXT
    text = format(amount.normalize(), "f") if amount else "0"
    return f"+{text}" if signed and amount > 0 else text


def _decimals(amount: Decimal) -> int:
    exp = amount.normalize().as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def _unit(places: int) -> Decimal:
    return Decimal(1).scaleb(-places)
