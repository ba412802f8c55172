"""Name resolution and the name caches are bounded whatever names spans carry (issue 12)."""

from __future__ import annotations

from datetime import UTC, datetime

from otel_margin_backend.pipeline.events import UsageEvent, UsageStatus
from otel_margin_backend.pricing import PriceBook, PriceSource
from otel_margin_backend.pricing.cache import BoundedCache, key_bytes
from otel_margin_backend.pricing.names import MAX_NAME_CHARS, MAX_PREFIX_HOPS, loose_variants, spellings

BOOK = PriceBook.bundled()


def test_at_most_three_gateway_prefixes_are_removed() -> None:
    assert [s.model for s in spellings("openai/" * 30 + "gpt-4o")] == [
        "openai/" * 30 + "gpt-4o",
        "openai/" * 29 + "gpt-4o",
        "openai/" * 28 + "gpt-4o",
        "openai/" * 27 + "gpt-4o",
    ]
    assert MAX_PREFIX_HOPS == 3
    assert [s.model for s in spellings("litellm/openrouter/anthropic/claude-3.5-sonnet")][-1] == "claude-3.5-sonnet"


def test_a_name_past_the_limit_gets_no_derived_reading() -> None:
    worst = "openai/" * 4000  # 28 KiB: every tail used to be kept and tried (6 s on the event loop)
    assert [s.model for s in spellings(worst)] == [worst]
    assert loose_variants("gpt-4o-2024-08-06" + "x" * MAX_NAME_CHARS) == []


def test_an_over_long_name_resolves_to_unresolved_without_being_looked_up_or_cached() -> None:
    book = PriceBook.bundled()
    resolution = book.resolve("openai", "openai/" * 4000)
    assert resolution.source is PriceSource.UNRESOLVED
    assert resolution.steps == ("the name is over 256 characters: not looked up",)
    assert len(book._resolver._cache) == 0


def _event(n: int, server: str) -> UsageEvent:
    return UsageEvent(time=datetime(2026, 12, 1, tzinfo=UTC), event_id=n.to_bytes(24, "big"), provider="openai",
                      request_model="gpt-4o", response_model="gpt-4o", input_tokens=1000, output_tokens=200,
                      attributes={"server.address": server})  # fmt: skip


def test_distinct_huge_server_addresses_never_reach_a_cache() -> None:
    book = PriceBook.bundled()
    for n in range(200):
        event = _event(n, f"{n:04d}" + "h" * 1_048_576)
        book.price(event)
        assert (event.status, event.cost_total) == (UsageStatus.PRICED, BOOK.cost("openai", "gpt-4o",
                at=event.time, input_tokens=1000, output_tokens=200).total)  # fmt: skip
    assert len(book._schedules) == 0
    assert book._resolver._cache.bytes < 4096 and book._resolver._api_cache.bytes == 0


def test_the_caches_are_bounded_by_bytes_as_well_as_entries() -> None:
    cache: BoundedCache[tuple[str, str], int] = BoundedCache(1000, max_bytes=10_000, entry_bytes=100)
    for n in range(500):
        cache.put((f"{n:03d}", "x" * 200), n)
    assert len(cache) == 10_000 // (100 + 203)  # 33 entries of 303 estimated bytes
    assert cache.bytes <= 10_000
    assert cache.get(("499", "x" * 200)) == 499 and cache.get(("000", "x" * 200)) is None  # oldest evicted first
    cache.put(("big", "y" * 20_000), 1)  # heavier than the whole cache: not kept, nothing evicted for it
    assert cache.get(("big", "y" * 20_000)) is None and len(cache) == 33
    by_entries: BoundedCache[str, int] = BoundedCache(3)
    for n in range(10):
        by_entries.put(str(n), n)
    assert [by_entries.get(str(n)) for n in range(10)] == [None] * 7 + [7, 8, 9]
    assert key_bytes(("ab", None, "c")) == 11
