"""The daily job inside serve: loads the stored version at start, syncs, swaps the running book, never crashes."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from otel_margin_backend.modelinfo.quality import QualityTable
from otel_margin_backend.pricedata.sync import sync_prices
from otel_margin_backend.pricedata.sync_job import PriceSyncJob
from otel_margin_backend.pricing import CurrentPriceBook, PriceBook, PriceData, PricingConfig
from tests.backend.pricing.oracle import call
from tests.backend.pricing.stored import (
    BUNDLED_VERSION,
    SMALL,
    SMALL_VERSION,
    TESTDATA,
    active_version,
    attempts,
    scalar,
    versions,
)
from tests.support.pgcluster import free_port

pytestmark = pytest.mark.store

SMALL_V2 = TESTDATA / "data_small_v2.json"
SMALL_V2_VERSION = "genai-prices data sha256:a9a8539c4807"


def job(url: str, live: CurrentPriceBook, **config: object) -> PriceSyncJob:
    values: dict[str, object] = {"sync_source": str(SMALL), "sync_interval_s": 0}
    values.update(config)
    return PriceSyncJob(live, url, PricingConfig.model_validate(values), connect_timeout_s=2)


def acme_small_cost(live: CurrentPriceBook) -> Decimal | None:
    event = call("acme", "acme-small", input_tokens=1_000_000)
    live.price(event)
    return event.cost_total


def cli_sync(url: str, source: Path) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        sync_prices(conn, str(source), base=PriceBook.bundled(), quality=QualityTable.load(), trigger="cli")


def test_the_job_syncs_and_swaps_the_running_book(db_url: str) -> None:
    live = CurrentPriceBook(PriceBook.bundled())
    sync_job = job(db_url, live)

    result = asyncio.run(sync_job.run_once())

    assert result is not None and result.price_version == SMALL_VERSION
    assert live.book.version == SMALL_VERSION
    assert acme_small_cost(live) == Decimal("0.25")
    assert active_version(db_url) == SMALL_VERSION
    assert attempts(db_url) == [("schedule", "ok", SMALL_VERSION, True, 2, None)]


def test_a_failed_sync_is_recorded_and_the_running_book_stays(db_url: str, tmp_path: Path) -> None:
    live = CurrentPriceBook(PriceBook.bundled())
    asyncio.run(job(db_url, live).run_once())
    truncated = tmp_path / "data.json"
    truncated.write_bytes(SMALL_V2.read_bytes()[:200])
    before = live.book

    result = asyncio.run(job(db_url, live, sync_source=str(truncated)).run_once())

    assert result is None
    assert live.book is before
    assert active_version(db_url) == SMALL_VERSION
    outcome, error = attempts(db_url)[-1][1], attempts(db_url)[-1][5]
    assert outcome == "failed" and error is not None and error.startswith(f"{truncated}: price data is not JSON")


def test_start_puts_the_stored_version_in_force(db_url: str) -> None:
    cli_sync(db_url, SMALL_V2)
    live = CurrentPriceBook(PriceBook.bundled())
    sync_job = job(db_url, live)

    asyncio.run(sync_job.start())

    assert live.book.version == SMALL_V2_VERSION
    assert acme_small_cost(live) == Decimal("0.2")
    assert not sync_job.syncing  # sync_interval_s = 0
    asyncio.run(sync_job.shutdown())


def test_start_without_stored_versions_records_the_bundled_data(db_url: str) -> None:
    live = CurrentPriceBook(PriceBook.bundled())

    asyncio.run(job(db_url, live).start())

    assert live.book.version == BUNDLED_VERSION
    assert versions(db_url) == [(BUNDLED_VERSION, "bundled", True)]
    assert scalar(db_url, "SELECT data FROM price_versions") is None
    assert scalar(db_url, "SELECT count(*) FROM model_prices WHERE price_version = %s", (BUNDLED_VERSION,)) == (
        scalar(db_url, "SELECT count(*) FROM model_prices")
    )
    assert scalar(db_url, "SELECT count(DISTINCT (provider, model)) FROM model_facts") == sum(
        len(p.models) for p in live.book.providers
    )
    assert scalar(db_url, "SELECT count(*) FROM model_quality WHERE origin = 'bundled'") == sum(
        len(m.scores) for m in QualityTable.load().models
    )


def test_a_pinned_data_file_is_recorded_and_not_synced(db_url: str) -> None:
    live = CurrentPriceBook(PriceBook(PriceData.from_json_file(SMALL)))
    sync_job = job(db_url, live, data_file=str(SMALL), sync_interval_s=3600)

    asyncio.run(sync_job.start())

    assert not sync_job.syncing
    assert versions(db_url) == [(SMALL_VERSION, str(SMALL), True)]
    assert scalar(db_url, "SELECT data FROM price_versions WHERE active") == SMALL.read_bytes()


def test_a_version_activated_elsewhere_is_followed(db_url: str) -> None:
    live = CurrentPriceBook(PriceBook.bundled())
    sync_job = job(db_url, live)
    asyncio.run(sync_job.start())
    assert asyncio.run(sync_job.follow_active()) is False

    cli_sync(db_url, SMALL_V2)  # another process: otel-margin prices sync

    assert asyncio.run(sync_job.follow_active()) is True
    assert live.book.version == SMALL_V2_VERSION


def test_the_periodic_task_syncs_and_survives_failures(db_url: str, tmp_path: Path) -> None:
    flaky = tmp_path / "data.json"
    flaky.write_bytes(b"[")
    live = CurrentPriceBook(PriceBook.bundled())
    sync_job = job(db_url, live, sync_source=str(flaky), sync_interval_s=0.05, sync_first_delay_s=0,
                   reload_interval_s=0.05)  # fmt: skip

    async def scenario() -> None:
        await sync_job.start()
        await _until(lambda: len(attempts(db_url)) >= 2)
        assert sync_job.syncing  # failures did not end the task
        assert live.book.version == BUNDLED_VERSION
        flaky.write_bytes(SMALL.read_bytes())
        await _until(lambda: live.book.version == SMALL_VERSION)
        await sync_job.shutdown()
        await sync_job.shutdown()  # twice is fine

    asyncio.run(scenario())
    outcomes = [a[1] for a in attempts(db_url)]
    assert outcomes[:2] == ["failed", "failed"] and "ok" in outcomes
    assert all(a[0] == "schedule" for a in attempts(db_url))


def test_a_worker_beside_the_primary_follows_and_never_syncs(db_url: str) -> None:
    live = CurrentPriceBook(PriceBook.bundled())
    config = PricingConfig.model_validate({"sync_source": str(SMALL), "sync_interval_s": 0.05,
                                           "sync_first_delay_s": 0, "reload_interval_s": 0.05})  # fmt: skip
    follower = PriceSyncJob(live, db_url, config, connect_timeout_s=2, sync=False)

    async def scenario() -> None:
        await follower.start()
        assert follower.syncing
        await asyncio.sleep(0.3)  # six sync intervals: a primary would have synced SMALL by now
        assert live.book.version == BUNDLED_VERSION
        cli_sync(db_url, SMALL_V2)  # the primary's sync (or prices sync) activates a version
        await _until(lambda: live.book.version == SMALL_V2_VERSION)
        await follower.shutdown()

    asyncio.run(scenario())
    assert [a[0] for a in attempts(db_url)] == ["cli"]  # the follower fetched nothing itself


async def _until(condition: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_an_unreachable_database_never_stops_the_service() -> None:
    live = CurrentPriceBook(PriceBook.bundled())
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    sync_job = job(url, live, sync_interval_s=3600)

    async def scenario() -> None:
        await sync_job.start()
        assert await sync_job.run_once() is None
        assert await sync_job.follow_active() is False
        await sync_job.shutdown()

    asyncio.run(scenario())
    assert live.book.version == BUNDLED_VERSION


def test_shutdown_before_start_is_safe() -> None:
    asyncio.run(job("postgresql://unused", CurrentPriceBook(PriceBook.bundled())).shutdown())


def test_a_sync_that_could_not_reach_the_database_is_recorded_once_it_is_back(db_url: str) -> None:
    live = CurrentPriceBook(PriceBook.bundled())
    sync_job = job(f"postgresql://postgres@127.0.0.1:{free_port()}/none", live)
    before = time.time()

    assert asyncio.run(sync_job.run_once()) is None
    assert len(sync_job.unrecorded) == 1 and attempts(db_url) == []
    failed_at = sync_job.unrecorded[0].attempted_at

    sync_job._url = db_url  # the database is back
    assert asyncio.run(sync_job.run_once()) is not None

    assert not sync_job.unrecorded
    recorded = attempts(db_url)
    assert [(r[0], r[1]) for r in recorded] == [("schedule", "failed"), ("schedule", "ok")]
    error = recorded[0][5]
    assert error is not None and error.startswith("database unavailable: cannot connect to PostgreSQL at 127.0.0.1:")
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT min(attempted_at), attempts, succeeded, failed, success_pct FROM price_sync_attempts,"
            " price_sync_success_7d GROUP BY 2, 3, 4, 5"
        ).fetchone()
    assert row is not None
    assert row[0] == failed_at and row[0].timestamp() >= before - 1  # recorded with the time it failed
    assert row[1:] == (2, 1, 1, Decimal("50.000"))
