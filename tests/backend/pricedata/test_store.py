"""The price book in the database: versions, the book in force, and the prices, facts and scores published."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from otel_margin_backend.modelinfo.quality import QualityTable
from otel_margin_backend.pricedata import store as price_store
from otel_margin_backend.pricing import PriceBook, PriceData, PricingConfig
from otel_margin_backend.pricing.errors import PriceDataError, PriceSyncError
from otel_margin_backend.pricing.overrides import Overrides
from otel_margin_backend.storage.database import Conn
from tests.backend.pricing.stored import BUNDLED_VERSION, SMALL, SMALL_VERSION, scalar, versions

pytestmark = pytest.mark.store

OVERRIDES = """\
version: 1
discounts:
  - provider: openai
    model: o3
    percent: 25
    effective_from: 2026-01-01
models:
  - model: house-llm
    input_mtok: 0.5
    output_mtok: 1.5
"""
USER_QUALITY = """\
version: mine-1
benchmarks:
  house_eval: {name: House eval, scale: percent, url: 'https://example.invalid/house'}
models:
  - vendor: openai
    model: o3-2025-04-16
    scores:
      - {benchmark: house_eval, value: 91.25, source: 'https://example.invalid/r1', as_of: 2026-11-01}
      - {benchmark: gpqa_diamond, value: 83.4, source: 'https://example.invalid/r2', as_of: 2026-11-01}
"""


@pytest.fixture
def conn(db_url: str) -> Iterator[Conn]:
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


def test_the_bundled_data_serves_until_a_version_is_stored(conn: Conn) -> None:
    assert price_store.active_version(conn) is None
    assert price_store.book_in_force(conn, PricingConfig()).version == BUNDLED_VERSION


def test_the_active_stored_version_is_the_book_in_force(conn: Conn) -> None:
    data = PriceData.from_json_file(SMALL)
    with conn.transaction():
        assert price_store.store_version(conn, data, SMALL.read_bytes(), str(SMALL)) is True
        assert price_store.make_active(conn, data.version) is True

    book = price_store.book_in_force(conn, PricingConfig(overrides_file=None))
    active = price_store.active_version(conn)

    assert book.version == SMALL_VERSION
    assert active is not None and (active.model_count, active.provider_count, active.active) == (2, 1, True)
    assert price_store.book_in_force(conn, PricingConfig(data_file=SMALL)).version == SMALL_VERSION
    pinned = PricingConfig(data_file=Path(__file__).parents[1] / "pricing" / "testdata" / "data_small_v2.json")
    assert price_store.book_in_force(conn, pinned).version != SMALL_VERSION  # a pinned file wins


def test_register_publishes_prices_with_the_overrides_effect(conn: Conn, db_url: str) -> None:
    book = PriceBook.bundled(overrides=Overrides.parse(OVERRIDES, source="overrides.yaml"))

    changed = price_store.register(conn, book, raw=None, source="bundled", quality=QualityTable.load())

    assert changed is True
    assert versions(db_url) == [(BUNDLED_VERSION, "bundled", True)]
    with psycopg.connect(db_url) as c:
        o3 = c.execute(
            "SELECT amount, list_amount, discount_percent, valid_from, valid_to, override_version FROM model_prices"
            " WHERE provider = 'openai' AND model = 'o3' AND kind = 'input_mtok' AND condition = ''"
            " ORDER BY valid_from NULLS FIRST"
        ).fetchall()
        custom = c.execute(
            "SELECT source, provider, model, kind, amount FROM model_prices WHERE source = 'custom' ORDER BY kind"
        ).fetchall()
        current = c.execute(
            "SELECT amount FROM model_prices_current WHERE model = 'o3' AND kind = 'output_mtok' AND condition = ''"
        ).fetchall()
        stored_overrides = c.execute("SELECT override_version, source, content FROM price_override_versions").fetchall()
    jan = datetime(2026, 1, 1, tzinfo=UTC)
    assert o3 == [
        (Decimal("10"), Decimal("10"), None, None, datetime(2025, 6, 10, tzinfo=UTC), book.override_version),
        (Decimal("2"), Decimal("2"), None, datetime(2025, 6, 10, tzinfo=UTC), jan, book.override_version),
        (Decimal("1.50"), Decimal("2"), Decimal("25.00"), jan, None, book.override_version),
    ]
    assert custom == [("custom", "", "house-llm", "input_mtok", Decimal("0.5")),
                      ("custom", "", "house-llm", "output_mtok", Decimal("1.5"))]  # fmt: skip
    assert current == [(Decimal("6.00"),)]
    assert stored_overrides[0][:2] == (book.override_version, "overrides.yaml")
    assert stored_overrides[0][2]["discounts"][0]["percent"] == "25"


def test_facts_and_quality_are_published_with_their_sources(conn: Conn, db_url: str, tmp_path: Path) -> None:
    user = tmp_path / "quality.yaml"
    user.write_text(USER_QUALITY)

    price_store.register(conn, PriceBook.bundled(), raw=None, source="bundled", quality=QualityTable.load(user))

    with psycopg.connect(db_url) as c:
        facts = c.execute(
            "SELECT context_window, input_modalities, output_modalities, deprecated FROM model_facts"
            " WHERE provider = 'openai' AND model = 'o3'"
        ).fetchone()
        o3 = c.execute(
            "SELECT benchmark, value, origin, provider, model_id, table_version FROM model_quality"
            " WHERE model = 'o3-2025-04-16' ORDER BY benchmark"
        ).fetchall()
    assert facts == (200_000, ["text"], ["text"], False)
    assert o3 == [  # the user's figure replaces the bundled 83.3
        ("gpqa_diamond", Decimal("83.4"), "user", "openai", "o3", "2026-11-23, mine-1"),
        ("house_eval", Decimal("91.25"), "user", "openai", "o3", "2026-11-23, mine-1"),
    ]
    assert scalar(db_url, "SELECT value FROM model_quality WHERE model = 'o4-mini-2025-04-16'") == Decimal("81.4")
    assert scalar(db_url, "SELECT origin FROM model_quality WHERE model = 'o4-mini-2025-04-16'") == "bundled"
    assert scalar(db_url, "SELECT aliases FROM model_quality WHERE model = 'o4-mini-2025-04-16'") == ["o4-mini"]


def test_registering_again_replaces_the_published_rows(conn: Conn, db_url: str) -> None:
    quality = QualityTable.load()
    price_store.register(conn, PriceBook.bundled(), raw=None, source="bundled", quality=quality)
    first = int(str(scalar(db_url, "SELECT count(*) FROM model_prices")))
    data = PriceData.from_json_file(SMALL)

    changed = price_store.register(conn, PriceBook(data), raw=SMALL.read_bytes(), source=str(SMALL), quality=quality)

    assert changed is True
    assert first > 7_000
    assert scalar(db_url, "SELECT count(*) FROM model_prices") == 8
    assert scalar(db_url, "SELECT count(*) FROM model_facts") == 2
    assert versions(db_url) == [(BUNDLED_VERSION, "bundled", False), (SMALL_VERSION, str(SMALL), True)]


def test_a_version_without_its_data_or_with_other_data_is_refused(conn: Conn) -> None:
    data = PriceData.from_json_file(SMALL)
    with pytest.raises(PriceSyncError, match="cannot be recorded without its data"), conn.transaction():
        price_store.store_version(conn, data, None, "somewhere")
    with conn.transaction():
        price_store.store_version(conn, data, SMALL.read_bytes(), str(SMALL))
    other = PriceData(data.providers, data.version)  # same name, different bytes
    with pytest.raises(PriceSyncError, match="already recorded with different data"), conn.transaction():
        price_store.store_version(conn, other, SMALL.read_bytes() + b" ", "elsewhere")


def test_bundled_data_of_another_genai_prices_release_is_not_loaded(conn: Conn) -> None:
    conn.execute(
        "INSERT INTO price_versions (price_version, source, provider_count, model_count, active)"
        " VALUES ('genai-prices 0.0.1', 'bundled', 1, 1, true)"
    )
    active = price_store.active_version(conn)

    assert active is not None and price_store.load_data(conn, active) is None
    assert price_store.book_in_force(conn, PricingConfig()).version == BUNDLED_VERSION


def test_stored_data_that_no_longer_validates_is_an_error(conn: Conn) -> None:
    conn.execute(
        "INSERT INTO price_versions (price_version, source, provider_count, model_count, data_sha256, data, active)"
        " VALUES ('genai-prices data sha256:000000000000', 'x', 1, 1, repeat('0', 64), '[1]', true)"
    )

    with pytest.raises(PriceDataError, match="stored price version 'genai-prices data sha256:000000000000'"):
        price_store.book_in_force(conn, PricingConfig())


def test_sync_status_view_reports_the_active_version(conn: Conn) -> None:
    price_store.register(conn, PriceBook.bundled(), raw=None, source="bundled", quality=QualityTable.load())
    price_store.record_attempt(conn, source="x", trigger="cli", price_version=None, new_version=False,
                               model_count=None, duration_ms=3, error="x: boom")  # fmt: skip

    row = conn.execute(
        "SELECT active_version, active_source, failures_24h, last_success_at IS NULL FROM price_sync_status"
    ).fetchone()

    assert row == (BUNDLED_VERSION, "bundled", 1, True)
    assert [a.error for a in price_store.recent_attempts(conn)] == ["x: boom"]
    assert [v.price_version for v in price_store.stored_versions(conn)] == [BUNDLED_VERSION]
