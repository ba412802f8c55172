"""A price sync: good data becomes the active version; bad data fails cleanly, is recorded, changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from otel_margin_backend.modelinfo.quality import QualityTable
from otel_margin_backend.pricedata.sync import SyncResult, one_line, sync_prices
from otel_margin_backend.pricing import PriceBook
from otel_margin_backend.pricing.errors import PriceSyncError
from otel_margin_backend.pricing.overrides import Overrides
from otel_margin_backend.storage.database import Conn
from tests.backend.pricing.oracle import call
from tests.backend.pricing.stored import (
    SMALL,
    SMALL_VERSION,
    TESTDATA,
    active_version,
    attempts,
    http_server,
    scalar,
    versions,
)
from tests.support.pgcluster import free_port

pytestmark = pytest.mark.store

SMALL_V2 = TESTDATA / "data_small_v2.json"
SMALL_V2_VERSION = "genai-prices data sha256:a9a8539c4807"


@pytest.fixture
def conn(db_url: str) -> Iterator[Conn]:
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


def sync(conn: Conn, source: str | Path, base: PriceBook | None = None) -> SyncResult:
    return sync_prices(
        conn, str(source), base=base or PriceBook.bundled(), quality=QualityTable.load(), trigger="cli", timeout_s=5
    )


def test_a_good_file_becomes_the_active_version_and_is_recorded(conn: Conn, db_url: str) -> None:
    result = sync(conn, SMALL)

    assert (result.price_version, result.provider_count, result.model_count) == (SMALL_VERSION, 1, 2)
    assert (result.new_version, result.activated) == (True, True)
    assert versions(db_url) == [(SMALL_VERSION, str(SMALL), True)]
    assert attempts(db_url) == [("cli", "ok", SMALL_VERSION, True, 2, None)]
    assert scalar(db_url, "SELECT data FROM price_versions WHERE active") == SMALL.read_bytes()
    event = call("acme", "acme-small", input_tokens=1_000_000)
    result.book.price(event)
    assert (event.cost_total, event.price_version) == (Decimal("0.25"), SMALL_VERSION)
    with psycopg.connect(db_url) as c:
        prices = c.execute(
            "SELECT model, kind, amount, valid_from, valid_to, price_version FROM model_prices"
            " WHERE model = 'acme-large' AND kind = 'input_mtok' ORDER BY valid_from NULLS FIRST"
        ).fetchall()
    assert prices == [
        ("acme-large", "input_mtok", Decimal("4"), None, datetime(2026, 9, 1, tzinfo=UTC), SMALL_VERSION),
        ("acme-large", "input_mtok", Decimal("3"), datetime(2026, 9, 1, tzinfo=UTC), None, SMALL_VERSION),
    ]
    assert scalar(db_url, "SELECT context_window FROM model_facts WHERE model = 'acme-large'") == 256_000


def test_the_same_data_again_is_ok_and_stores_nothing(conn: Conn, db_url: str) -> None:
    sync(conn, SMALL)
    again = sync(conn, SMALL)

    assert (again.new_version, again.activated) == (False, False)
    assert versions(db_url) == [(SMALL_VERSION, str(SMALL), True)]
    assert [a[:4] for a in attempts(db_url)] == [
        ("cli", "ok", SMALL_VERSION, True),
        ("cli", "ok", SMALL_VERSION, False),
    ]


def test_newer_data_replaces_the_active_version_and_older_data_can_come_back(conn: Conn, db_url: str) -> None:
    sync(conn, SMALL)
    newer = sync(conn, SMALL_V2)
    back = sync(conn, SMALL)

    assert (newer.new_version, newer.activated) == (True, True)
    assert (back.new_version, back.activated) == (False, True)
    assert versions(db_url) == [(SMALL_VERSION, str(SMALL), True), (SMALL_V2_VERSION, str(SMALL_V2), False)]
    assert scalar(db_url, "SELECT count(*) FROM model_facts WHERE model = 'acme-audio'") == 0


def corrupt(raw: bytes) -> bytes:
    return raw.replace(b'"input_mtok": 4', b'"input_mtok": "four"')


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda raw: raw[: len(raw) // 2], "price data is not JSON: "),
        (lambda raw: b"", "price data is not JSON: Expecting value: line 1 column 1 (char 0)"),
        (corrupt, "price data does not validate: "),
        (lambda raw: b'{"providers": []}', "price data must be a non-empty JSON list of providers"),
        (lambda raw: b"[1, 2]", "price data does not validate: "),
    ],
    ids=["truncated", "empty", "bad-price", "not-a-list", "not-providers"],
)
def test_bad_data_fails_cleanly_is_recorded_and_keeps_the_previous_version(
    conn: Conn, db_url: str, tmp_path: Path, make: object, reason: str
) -> None:
    sync(conn, SMALL)
    bad = tmp_path / "data.json"
    bad.write_bytes(make(SMALL.read_bytes()))  # type: ignore[operator]

    with pytest.raises(PriceSyncError) as caught:
        sync(conn, bad)

    message = str(caught.value)
    assert message.startswith(f"{bad}: {reason}")
    assert "\n" not in message
    assert active_version(db_url) == SMALL_VERSION
    assert versions(db_url) == [(SMALL_VERSION, str(SMALL), True)]
    assert attempts(db_url)[-1] == ("cli", "failed", None, False, None, message)
    assert scalar(db_url, "SELECT count(*) FROM price_sync_failures_24h") == 1
    assert scalar(db_url, "SELECT count(*) FROM model_prices WHERE price_version = %s", (SMALL_VERSION,)) == 8


def test_a_bad_price_names_the_first_problem_on_one_line(conn: Conn, tmp_path: Path) -> None:
    bad = tmp_path / "data.json"
    bad.write_bytes(corrupt(SMALL.read_bytes()))

    with pytest.raises(PriceSyncError, match=r"^.*validation errors? for .*; first: .*input_mtok.*: Input should be"):
        sync(conn, bad)


def test_a_missing_file_fails_cleanly(conn: Conn, db_url: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"

    with pytest.raises(PriceSyncError, match=r"nope\.json: cannot read price data: No such file or directory$"):
        sync(conn, missing)
    assert attempts(db_url)[0][1] == "failed"
    assert active_version(db_url) is None


def test_data_that_breaks_the_overrides_is_refused(conn: Conn, db_url: str) -> None:
    """A discount naming a provider the new data lacks: the book could not be built, so nothing changes."""
    sync(conn, SMALL_V2)
    base = PriceBook.bundled(overrides=Overrides.parse("discounts:\n  - provider: openai\n    percent: 10\n"))

    with pytest.raises(PriceSyncError, match="discount provider 'openai' is not in the price data"):
        sync(conn, SMALL, base=base)
    assert active_version(db_url) == SMALL_V2_VERSION
    assert attempts(db_url)[-1][:4] == ("cli", "failed", SMALL_VERSION, False)


def test_sync_over_http(conn: Conn, db_url: str) -> None:
    routes = {"/data.json": (200, SMALL_V2.read_bytes()), "/gone.json": (404, b"no")}
    with http_server(routes) as base_url:
        result = sync(conn, f"{base_url}/data.json")
        with pytest.raises(PriceSyncError, match=r"/gone\.json: HTTP 404 Not Found$"):
            sync(conn, f"{base_url}/gone.json")

    assert (result.price_version, result.new_version) == (SMALL_V2_VERSION, True)
    assert versions(db_url) == [(SMALL_V2_VERSION, f"{base_url}/data.json", True)]
    assert [a[1] for a in attempts(db_url)] == ["ok", "failed"]


def test_no_network_fails_cleanly(conn: Conn, db_url: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/data.json"

    with pytest.raises(PriceSyncError, match=r"data\.json: cannot fetch price data: "):
        sync(conn, url)
    assert attempts(db_url)[0][1] == "failed"


def test_one_line_keeps_single_lines_and_condenses_reports() -> None:
    assert one_line("plain") == "plain"
    report = "x: 2 validation errors for T\nprices.0\n  Input should be a number [type=x, input_value=1]\nmore"
    assert one_line(report) == "x: 2 validation errors for T; first: prices.0: Input should be a number"
