"""Token estimates: exact arithmetic, the chars/4 fallback, and tiktoken used only when it needs no network."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import pytest

from otel_margin_backend.normalize.estimate import (
    CharsPerTokenCounter,
    default_token_counter,
    estimate_tokens,
    load_o200k_offline,
)

O200K_CACHE_NAME = hashlib.sha1(b"https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken").hexdigest()
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


@pytest.mark.parametrize(("text", "tokens"), [("", 0), ("a", 1), ("abcd", 1), ("abcde", 2), ("é" * 8, 2)])
def test_chars_per_token(text: str, tokens: int) -> None:
    assert CharsPerTokenCounter().count(text) == tokens


@pytest.mark.parametrize(
    ("chars", "factor", "expected"),
    [
        (40, Decimal("1.1"), 11),  # 10 tokens * 1.1 = 11 exactly: no rounding up past an exact product
        (44, Decimal("1.1"), 13),  # 11 * 1.1 = 12.1 -> 13
        (4, Decimal("1.1"), 2),  # 1 * 1.1 -> 2
        (400, Decimal("1"), 100),
        (4, Decimal("0.5"), 1),
        (0, Decimal("3"), 0),
    ],
)
def test_estimate_rounds_up_exactly(chars: int, factor: Decimal, expected: int) -> None:
    assert estimate_tokens("x" * chars, CharsPerTokenCounter(), factor) == expected


def test_an_empty_cache_is_seeded_with_the_bundled_encoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    counter = load_o200k_offline()
    assert counter is not None and counter.name == "o200k_base"
    assert hashlib.sha256((tmp_path / O200K_CACHE_NAME).read_bytes()).hexdigest() == O200K_SHA256


def test_a_corrupt_cached_encoding_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A file with the right name but the wrong hash would make tiktoken re-download it: put the verified copy there.
    (tmp_path / O200K_CACHE_NAME).write_bytes(b"not an encoding\n")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    counter = load_o200k_offline()
    assert counter is not None and counter.count("hello there, how are you") == 6


def test_disabled_tiktoken_cache_means_no_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    assert load_o200k_offline() is None


def test_the_default_counter_is_o200k_offline() -> None:
    assert default_token_counter().name == "o200k_base"


def test_o200k_counts_exactly() -> None:
    counter = load_o200k_offline()
    assert counter is not None and counter.name == "o200k_base"
    assert counter.count("hello there, how are you") == 6
    assert counter.count("Hello, world! <|endoftext|>") == 11
