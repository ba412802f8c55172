"""Re-pricing stored usage after an override change: exact costs, rollups equal to raw rows, dry run writes nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from otel_margin_backend.pipeline.events import UsageEvent, UsageStatus
from otel_margin_backend.pricedata.reprice import RepriceApplied, Repricer, RepriceSummary
from otel_margin_backend.pricing import PriceBook
from otel_margin_backend.pricing.overrides import Overrides
from otel_margin_backend.storage.database import Conn
from tests.backend.pricing.stored import BUNDLED, usage
from tests.backend.storage.test_writer import mismatched
from tests.support.events import run, write

pytestmark = pytest.mark.store

D = Decimal
START, END = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 5, tzinfo=UTC)
NEW_OVERRIDES = """\
version: 1
discounts:
  - provider: openai
    percent: 20
    effective_from: 2026-01-01
models:
  - model: my-private-model
    input_mtok: 0.5
    output_mtok: 1.5
"""


def seed(url: str) -> list[UsageEvent]:
    missing = usage(5, "acct_2", "o3", "2026-11-03T11:40", status=UsageStatus.MISSING_USAGE)
    events = [
        usage(1, "acct_1", "gpt-4o", "2026-11-03T10:15", input_tokens=1_000, output=200),
        usage(2, "acct_1", "gpt-4o", "2026-11-03T10:45", input_tokens=2_000, cache_read=1_000, output=100),
        usage(3, "acct_2", "o3", "2026-11-03T11:30", input_tokens=10_000, output=1_000),
        usage(4, "acct_3", "my-private-model", "2026-11-04T09:00", input_tokens=1_000_000, output=1_000_000),
        missing,
        usage(6, "acct_1", "gpt-4o", "2026-10-31T23:59", input_tokens=1_000, output=200),  # outside the range
    ]
    assert [e.cost_total for e in events] == [D("0.0045"), D("0.00475"), D("0.028"), None, None, D("0.0045")]
    run(write(url, events))
    return events


def costs(url: str) -> list[tuple[int, str, Decimal | None, str | None, str | None]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT get_byte(event_id, 23), status, cost_total, price_version, override_version FROM usage_events"
            " ORDER BY 1"
        ).fetchall()
    return [tuple(r) for r in rows]


def hourly(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT bucket, customer_id, model, calls, cost, unpriced_calls, missing_usage_calls FROM usage_hourly"
            " ORDER BY 1, 2, 3"
        ).fetchall()


def everything(url: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        raw = conn.execute("SELECT * FROM usage_events ORDER BY event_id").fetchall()
        rolled = conn.execute("SELECT * FROM usage_hourly ORDER BY 1, 2, 3, 4, 5").fetchall()
    return raw, rolled


def daily(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT day, customer_id, model, calls, cost, unpriced_calls FROM usage_daily ORDER BY 1, 2, 3"
        ).fetchall()


@pytest.fixture
def manual(db_url: str) -> Iterator[Conn]:
    with psycopg.connect(db_url, autocommit=False) as conn:
        yield conn


def reprice(conn: Conn, book: PriceBook, *, dry_run: bool = False) -> tuple[RepriceSummary, RepriceApplied | None]:
    repricer = Repricer(conn, book, START, END, dry_run=dry_run, batch_rows=2)
    summary = repricer.scan()
    if dry_run:
        repricer.discard()
        return summary, None
    return summary, repricer.apply()


NEW_BOOK = PriceBook.bundled(overrides=Overrides.parse(NEW_OVERRIDES))
NEW_VERSION = NEW_BOOK.override_version


def test_reprice_after_an_override_change_agrees_to_the_cent(db_url: str, manual: Conn) -> None:
    seed(db_url)
    assert mismatched(db_url) == []

    summary, result = reprice(manual, NEW_BOOK)

    by_customer = {c.customer_id: c for c in summary.customers}
    assert (by_customer["acct_1"].before, by_customer["acct_1"].after, by_customer["acct_1"].difference) == (
        D("0.00925"), D("0.00740"), D("-0.00185"))  # fmt: skip
    assert (by_customer["acct_2"].before, by_customer["acct_2"].after) == (D("0.028"), D("0.0224"))
    assert (by_customer["acct_3"].before, by_customer["acct_3"].after) == (D("0"), D("2.0"))
    assert (by_customer["acct_3"].unpriced_before, by_customer["acct_3"].unpriced_after) == (1, 0)
    assert [c.customer_id for c in summary.customers] == ["acct_3", "acct_2", "acct_1"]  # largest change first
    assert (summary.total.calls, summary.total.changed_calls, summary.total.difference) == (4, 4, D("1.99255"))
    assert (summary.rows_scanned, summary.rows_to_update) == (4, 4)
    assert result == RepriceApplied(updated=4, skipped=0, hour_groups=3)

    bundled = BUNDLED.version
    assert costs(db_url) == [
        (1, "priced", D("0.00360"), bundled, NEW_VERSION),
        (2, "priced", D("0.003800"), bundled, NEW_VERSION),
        (3, "priced", D("0.0224"), bundled, NEW_VERSION),
        (4, "priced", D("2.0"), bundled, NEW_VERSION),
        (5, "missing_usage", None, None, None),
        (6, "priced", D("0.0045"), bundled, None),  # outside the range: untouched
    ]
    assert mismatched(db_url) == []
    assert hourly(db_url) == [
        (datetime(2026, 10, 31, 23, tzinfo=UTC), "acct_1", "gpt-4o", 1, D("0.0045"), 0, 0),
        (datetime(2026, 11, 3, 10, tzinfo=UTC), "acct_1", "gpt-4o", 2, D("0.00740"), 0, 0),
        (datetime(2026, 11, 3, 11, tzinfo=UTC), "acct_2", "o3", 2, D("0.0224"), 0, 1),
        (datetime(2026, 11, 4, 9, tzinfo=UTC), "acct_3", "my-private-model", 1, D("2.0"), 0, 0),
    ]
    assert daily(db_url) == [
        (datetime(2026, 10, 31, tzinfo=UTC), "acct_1", "gpt-4o", 1, D("0.0045"), 0),
        (datetime(2026, 11, 3, tzinfo=UTC), "acct_1", "gpt-4o", 2, D("0.00740"), 0),
        (datetime(2026, 11, 3, tzinfo=UTC), "acct_2", "o3", 2, D("0.0224"), 0),
        (datetime(2026, 11, 4, tzinfo=UTC), "acct_3", "my-private-model", 1, D("2.0"), 0),
    ]


def test_a_dry_run_changes_nothing(db_url: str, manual: Conn) -> None:
    seed(db_url)
    before = everything(db_url)

    summary, result = reprice(manual, NEW_BOOK, dry_run=True)

    assert result is None
    assert (summary.rows_to_update, summary.total.difference) == (4, D("1.99255"))
    assert everything(db_url) == before
    assert manual.execute("SELECT to_regclass('pg_temp.usage_reprice')").fetchone() == (None,)


def test_repricing_with_the_book_that_priced_the_rows_changes_nothing(db_url: str, manual: Conn) -> None:
    seed(db_url)
    before = everything(db_url)

    summary, result = reprice(manual, BUNDLED)

    assert (summary.rows_scanned, summary.rows_to_update, summary.total.difference) == (4, 0, D("0"))
    assert result == RepriceApplied(0, 0, 0)
    assert everything(db_url) == before


def test_a_priced_call_of_the_same_book_keeps_its_service_tier(db_url: str, manual: Conn) -> None:
    """A call the book in force priced at flex rates stays as it is."""
    flex = usage(7, "acct_4", "o3", "2026-11-03T12:00", input_tokens=1_000_000, output=1_000_000,
                 attributes={"openai.response.service_tier": "flex"})  # fmt: skip
    assert flex.cost_total == D("5")  # flex: $1 + $4 (standard: $2 + $8)
    run(write(db_url, [flex]))

    summary, _ = reprice(manual, BUNDLED)

    assert summary.rows_to_update == 0
    assert costs(db_url)[0][2] == D("5")


def test_a_flex_call_is_repriced_at_flex_rates_under_a_new_book(db_url: str, manual: Conn) -> None:
    """The stored service tier (usage_events.attributes) chooses the flex price again under the new book."""
    flex = usage(7, "acct_4", "o3", "2026-11-03T12:00", input_tokens=1_000_000, output=1_000_000,
                 attributes={"openai.response.service_tier": "flex", "server.address": "api.openai.com"})  # fmt: skip
    run(write(db_url, [flex]))
    with psycopg.connect(db_url) as conn:
        stored = conn.execute("SELECT attributes FROM usage_events").fetchone()
    assert stored == ({"openai.response.service_tier": "flex"},)  # only the price-context keys are kept
    discounted = PriceBook.bundled(overrides=Overrides.parse("version: 1\ndiscounts:\n  - provider: openai\n"
                                                             "    percent: 50\n", source="test"))  # fmt: skip

    reprice(manual, discounted)

    assert costs(db_url)[0][2] == D("2.5")  # flex $5, half off; the standard price would give $5


def test_groups_thinned_by_retention_keep_the_removed_share(db_url: str, manual: Conn) -> None:
    seed(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:  # what plain-PostgreSQL retention does to an hour
        conn.execute("DELETE FROM usage_events WHERE get_byte(event_id, 23) = 2")

    summary, result = reprice(manual, NEW_BOOK)

    assert result is not None and result.updated == 3
    # raw: row 1 alone, repriced (0.00360); the rollup keeps row 2's 0.00475 and moves by 0.00360 - 0.0045
    assert hourly(db_url)[1] == (datetime(2026, 11, 3, 10, tzinfo=UTC), "acct_1", "gpt-4o", 2, D("0.00835"), 0, 0)
    assert daily(db_url)[1] == (datetime(2026, 11, 3, tzinfo=UTC), "acct_1", "gpt-4o", 2, D("0.00835"), 0)
    assert summary.total.calls == 3


def test_rows_changed_after_the_scan_are_skipped(db_url: str, manual: Conn) -> None:
    seed(db_url)
    repricer = Repricer(manual, NEW_BOOK, START, END)
    repricer.scan()
    with psycopg.connect(db_url, autocommit=True) as other:  # another re-price got there first
        other.execute("UPDATE usage_events SET override_version = 'elsewhere' WHERE get_byte(event_id, 23) = 3")

    result = repricer.apply()

    assert result == RepriceApplied(updated=3, skipped=1, hour_groups=2)
    assert costs(db_url)[2] == (3, "priced", D("0.028"), BUNDLED.version, "elsewhere")
    assert mismatched(db_url) == []


def test_ingestion_waits_for_the_reprice_and_rollups_stay_exact(db_url: str, manual: Conn) -> None:
    seed(db_url)
    repricer = Repricer(manual, NEW_BOOK, START, END)
    repricer.scan()
    manual.execute("SELECT * FROM usage_reprice_apply()")  # applied, not committed: usage_hourly is locked
    late = usage(8, "acct_1", "gpt-4o", "2026-11-03T10:50", input_tokens=1_000, output=200)  # same hour group
    writer = threading.Thread(target=lambda: run(write(db_url, [late])))
    writer.start()
    time.sleep(0.5)
    assert writer.is_alive()  # the batch waits at its rollup upsert

    manual.commit()
    writer.join(timeout=30)

    assert not writer.is_alive()
    assert mismatched(db_url) == []
    assert hourly(db_url)[1] == (datetime(2026, 11, 3, 10, tzinfo=UTC), "acct_1", "gpt-4o", 3, D("0.01190"), 0, 0)
    assert daily(db_url)[1] == (datetime(2026, 11, 3, tzinfo=UTC), "acct_1", "gpt-4o", 3, D("0.01190"), 0)


def test_the_repricer_refuses_misuse(db_url: str, manual: Conn) -> None:
    with pytest.raises(ValueError, match="autocommit off"), psycopg.connect(db_url, autocommit=True) as auto:
        Repricer(auto, BUNDLED, START, END)
    with pytest.raises(ValueError, match="must end after it starts"):
        Repricer(manual, BUNDLED, END, START)
    dry = Repricer(manual, BUNDLED, START, END, dry_run=True)
    dry.scan()
    with pytest.raises(RuntimeError, match="not a dry run"):
        dry.apply()
