"""Prices as effective ranges: the same answer the price book gives a call, for every model and kind."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from otel_margin_backend.pricedata.timeline import PriceRange, book_ranges, model_ranges
from otel_margin_backend.pricing import PriceBook
from otel_margin_backend.pricing.overrides import Overrides
from otel_margin_backend.pricing.types import PriceSource

D = Decimal


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def rows(ranges: list[PriceRange], kind: str) -> list[tuple[str, str | None, str | None, Decimal]]:
    return [(r.condition, iso(r.valid_from), iso(r.valid_to), r.amount) for r in ranges if r.kind == kind]


def iso(at: datetime | None) -> str | None:
    return at.date().isoformat() if at is not None else None


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook.bundled()


def test_o3_price_change_closes_the_old_range_and_opens_the_new(book: PriceBook) -> None:
    ranges = model_ranges(book, "openai", "o3")

    assert rows(ranges, "input_mtok")[:2] == [("", None, "2025-06-10", D("10")), ("", "2025-06-10", None, D("2"))]
    assert rows(ranges, "output_mtok")[:2] == [("", None, "2025-06-10", D("40")), ("", "2025-06-10", None, D("8"))]
    assert rows(ranges, "cache_read_mtok")[0] == ("", None, None, D("0.5"))  # unchanged: one open range
    assert ("service_tier=flex", "2026-10-12", None, D("1")) in rows(ranges, "input_mtok")
    assert ("processing=batch", "2026-10-14", None, D("4")) in rows(ranges, "output_mtok")
    assert {(r.provider, r.model, r.source) for r in ranges} == {("openai", "o3", PriceSource.DATA)}


def test_long_context_tiers_and_time_of_day_prices_are_conditions(book: PriceBook) -> None:
    gemini = rows(model_ranges(book, "gcp.gemini", "gemini-2.5-pro"), "input_mtok")
    deepseek = rows(model_ranges(book, "deepseek", "deepseek-chat"), "output_mtok")

    assert ("", None, None, D("1.25")) in gemini
    assert ("input_tokens>200000", None, None, D("2.5")) in gemini
    assert ("processing=batch & input_tokens>200000", "2026-10-14", None, D("1.25")) in gemini
    assert deepseek == [("", None, None, D("0.55")), ("UTC 00:30-16:30", None, None, D("1.1"))]


@pytest.mark.parametrize("at", ["2024-06-01T20:00", "2025-06-10T20:00", "2026-11-03T20:00"])
def test_every_standard_range_is_what_the_book_charges(book: PriceBook, at: str) -> None:
    """For every model of the data: the input and output price in force equal the book's cost of a call."""
    when = day(at)
    with_windows = {(r.provider, r.model) for r in book_ranges(book) if r.condition.startswith("UTC ")}
    checked = 0
    for r in book_ranges(book):
        if r.kind not in ("input_mtok", "output_mtok") or r.condition or (r.provider, r.model) in with_windows:
            continue  # time-of-day models: checked below
        if not ((r.valid_from is None or r.valid_from <= when) and (r.valid_to is None or when < r.valid_to)):
            continue
        if book.resolve(r.provider, r.model).model_id != r.model:
            continue  # an id the data's own match rules send to another model
        if r.kind == "input_mtok":
            costs = book.cost(r.provider, r.model, at=when, input_tokens=1_000)
        else:
            costs = book.cost(r.provider, r.model, at=when, output_tokens=1_000)
        assert costs is not None, r
        paid = costs.input if r.kind == "input_mtok" else costs.output
        assert paid == r.amount * 1_000 / 1_000_000, (r, paid)
        checked += 1
    assert checked > 3_000


def test_time_of_day_ranges_are_what_the_book_charges_in_those_hours(book: PriceBook) -> None:
    ranges = model_ranges(book, "deepseek", "deepseek-v4-flash")
    window = [r for r in ranges if r.kind == "input_mtok" and r.condition == "UTC 01:00-04:00"]

    assert [(r.valid_from, r.valid_to, r.amount) for r in window] == [(None, None, D("0.3"))]
    for at, expected in (("2026-11-03T02:00", "0.3"), ("2026-11-03T05:00", "0.15"), ("2026-08-20T12:00", "0.22")):
        costs = book.cost("deepseek", "deepseek-v4-flash", at=day(at), input_tokens=1_000_000)
        assert costs is not None and costs.input == D(expected), at
        in_force = [
            r.amount
            for r in ranges
            if r.kind == "input_mtok"
            and (r.valid_from is None or r.valid_from <= day(at))
            and (r.valid_to is None or day(at) < r.valid_to)
            and (r.condition == "" if day(at).hour >= 4 else r.condition == "UTC 01:00-04:00")
        ]
        assert in_force == [D(expected)], at


def test_variant_ranges_are_what_the_book_charges_for_that_context(book: PriceBook) -> None:
    flex = [r for r in model_ranges(book, "openai", "o3") if r.condition == "service_tier=flex"]
    at = day("2026-11-03T10:00")

    assert {r.kind for r in flex} == {"input_mtok", "cache_read_mtok", "output_mtok"}
    for r in flex:
        if r.kind == "output_mtok":
            costs = book.cost("openai", "o3", at=at, context={"service_tier": "flex"}, output_tokens=1_000_000)
            assert costs is not None and costs.output == r.amount
        else:
            cached = 1_000_000 if r.kind == "cache_read_mtok" else 0
            costs = book.cost(
                "openai", "o3", at=at, context={"service_tier": "flex"}, input_tokens=1_000_000,
                cache_read_tokens=cached,
            )  # fmt: skip
            assert costs is not None and costs.input == r.amount, r


OVERRIDES = """\
version: 1
discounts:
  - provider: openai
    model: gpt-4o
    percent: 20
    effective_from: 2026-01-01
    effective_to: 2026-06-30
  - provider: openai
    percent: 10
    effective_from: 2026-03-01
models:
  - provider: vllm
    model: Llama-3.3-70B-Internal
    input_mtok: 0.20
    output_mtok: 0.60
    effective_to: 2026-06-30
  - provider: vllm
    model: llama-3.3-70b-internal
    input_mtok: 0.15
    output_mtok: 0.45
    effective_from: 2026-07-01
"""


def test_discounts_split_ranges_and_the_model_discount_wins() -> None:
    book = PriceBook.bundled(overrides=Overrides.parse(OVERRIDES))
    gpt4o = [r for r in model_ranges(book, "openai", "gpt-4o") if r.kind == "input_mtok" and not r.condition]

    assert [(iso(r.valid_from), iso(r.valid_to), r.amount, r.list_amount, r.discount_percent) for r in gpt4o] == [
        (None, "2026-01-01", D("2.5"), D("2.5"), None),
        ("2026-01-01", "2026-07-01", D("2.000"), D("2.5"), D("20.00")),
        ("2026-07-01", None, D("2.250"), D("2.5"), D("10.00")),
    ]  # fmt: skip
    for at, expected in (("2025-12-31T23:59", "2.5"), ("2026-05-01T10:00", "2.000"), ("2026-07-01T00:00", "2.250")):
        costs = book.cost("openai", "gpt-4o", at=day(at), input_tokens=1_000_000)
        assert costs is not None and costs.input == D(expected), at


def test_custom_models_are_rows_of_their_own() -> None:
    book = PriceBook.bundled(overrides=Overrides.parse(OVERRIDES))
    ranges = model_ranges(book, "vllm", "llama-3.3-70b-internal")

    assert [(r.source, r.provider, r.model, r.kind, r.amount, r.valid_from, r.valid_to) for r in ranges] == [
        (PriceSource.CUSTOM, "vllm", "llama-3.3-70b-internal", "input_mtok", D("0.20"), None, day("2026-07-01")),
        (PriceSource.CUSTOM, "vllm", "llama-3.3-70b-internal", "input_mtok", D("0.15"), day("2026-07-01"), None),
        (PriceSource.CUSTOM, "vllm", "llama-3.3-70b-internal", "output_mtok", D("0.60"), None, day("2026-07-01")),
        (PriceSource.CUSTOM, "vllm", "llama-3.3-70b-internal", "output_mtok", D("0.45"), day("2026-07-01"), None),
    ]
    assert sum(r.source is PriceSource.CUSTOM for r in book_ranges(book)) == 4


def test_an_unknown_model_has_no_ranges(book: PriceBook) -> None:
    assert model_ranges(book, "openai", "no-such-model") == []
