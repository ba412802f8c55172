"""Recognition by period: exact minor units, remainder to the last month, shares always add up."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otel_margin_backend.revenue.recognition import month_of, prorate, recognize, spread
from tests.backend.revenue.stripe_fixtures import ts


def months(amount: int, start: str, end: str) -> list[tuple[str, int]]:
    return [(f"{s.month:%Y-%m}", s.amount_minor) for s in spread(amount, ts(start), ts(end))]


def test_a_whole_month_is_that_month() -> None:
    assert months(10000, "2026-11-01", "2026-12-01") == [("2026-11", 10000)]


def test_a_period_over_four_months_is_split_by_seconds_with_the_remainder_last() -> None:
    # 92 days: 16 in November, 31 in December and January, 14 in February.
    assert months(10000, "2026-11-15", "2027-02-15") == [
        ("2026-11", 1739),  # 10000 * 16/92 = 1739.13
        ("2026-12", 3369),  # 10000 * 31/92 = 3369.56, truncated
        ("2027-01", 3369),
        ("2027-02", 1523),  # the remainder
    ]


def test_a_credit_mirrors_the_debit() -> None:
    assert months(-10000, "2026-11-15", "2027-02-15") == [
        ("2026-11", -1739),
        ("2026-12", -3369),
        ("2027-01", -3369),
        ("2027-02", -1523),
    ]


def test_slices_carry_their_part_of_the_period() -> None:
    first, second = spread(100, ts("2026-11-30T12:00:00"), ts("2026-12-01T12:00:00"))
    assert (first.start, first.end) == (first.start, second.start)
    assert (first.amount_minor, second.amount_minor) == (50, 50)
    assert second.end is not None and second.end.isoformat() == "2026-12-01T12:00:00+00:00"


@pytest.mark.parametrize("period", [None, (ts("2026-11-05"), ts("2026-11-05"))])
def test_one_off_amounts_count_when_they_happen(period: tuple[int, int] | None) -> None:
    (only,) = recognize(5000, period, ts("2026-12-31T23:59:59"))
    assert (only.month, only.amount_minor, only.start) == (date(2026, 12, 1), 5000, None)


def test_months_are_utc() -> None:
    assert month_of(ts("2026-11-30T23:59:59")) == date(2026, 11, 1)
    assert month_of(ts("2026-12-01T00:00:00")) == date(2026, 12, 1)


def test_prorate_splits_by_a_ratio_with_the_remainder_second() -> None:
    assert prorate(4200, 14000, 16800) == (3500, 700)
    assert prorate(1001, 1, 3) == (333, 668)
    assert prorate(-1001, 1, 3) == (-333, -668)
    assert prorate(500, 0, 0) == (500, 0)  # nothing to split by: all of it in the first share
    assert prorate(600, -1000, -1200) == (500, 100)  # a credit invoice splits like a debit one


@given(
    amount=st.integers(min_value=-(10**12), max_value=10**12),
    start=st.integers(min_value=ts("2000-01-01"), max_value=ts("2100-01-01")),
    length_s=st.integers(min_value=1, max_value=5 * 366 * 86400),
)
def test_the_slices_always_add_up_to_the_amount(amount: int, start: int, length_s: int) -> None:
    slices = spread(amount, start, start + length_s)
    assert sum(s.amount_minor for s in slices) == amount
    assert [s.month for s in slices] == sorted({s.month for s in slices})
    assert all(abs(s.amount_minor) <= abs(amount) for s in slices)
    assert all(s.amount_minor * amount >= 0 for s in slices)


@given(
    amount=st.integers(min_value=-(10**12), max_value=10**12),
    whole=st.integers(min_value=1, max_value=10**9),
    data=st.data(),
)
def test_prorate_always_adds_up(amount: int, whole: int, data: st.DataObject) -> None:
    part = data.draw(st.integers(min_value=0, max_value=whole))
    first, second = prorate(amount, part, whole)
    assert first + second == amount


def test_an_empty_period_is_refused() -> None:
    with pytest.raises(ValueError, match="is not after its start"):
        spread(1, ts("2026-11-02"), ts("2026-11-01"))
