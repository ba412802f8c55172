"""Token reconciliation: one meaning for every convention, nothing double counted, bad values refused."""

from __future__ import annotations

import pytest

from otel_margin_backend.normalize.result import SpanRejected
from otel_margin_backend.normalize.tokens import MAX_TOKENS, TokenCounts, resolve_tokens, token_count
from otel_margin_backend.normalize.types import AttrValue


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0), (17, 17), (17.0, 17), ("17", 17), (" 17 ", 17), (MAX_TOKENS, MAX_TOKENS), (None, None)],
)
def test_token_count_accepts_whole_numbers(value: AttrValue, expected: int | None) -> None:
    assert token_count("gen_ai.usage.input_tokens", value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (-1, "token count gen_ai.usage.input_tokens is negative"),
        ("-5", "token count gen_ai.usage.input_tokens is negative"),
        (-2.0, "token count gen_ai.usage.input_tokens is negative"),
        (MAX_TOKENS + 1, "token count gen_ai.usage.input_tokens is above 1,000,000,000 (not one plausible call)"),
        (12.5, "token count gen_ai.usage.input_tokens is not a whole number"),
        (float("nan"), "token count gen_ai.usage.input_tokens is not a whole number"),
        (float("inf"), "token count gen_ai.usage.input_tokens is not a whole number"),
        ("12.5", "token count gen_ai.usage.input_tokens is not a whole number"),
        ("lots", "token count gen_ai.usage.input_tokens is not a whole number"),
        ("", "token count gen_ai.usage.input_tokens is not a whole number"),
        ("\uff11\uff12", "token count gen_ai.usage.input_tokens is not a whole number"),
        (True, "token count gen_ai.usage.input_tokens is not a whole number"),
        ([1, 2], "token count gen_ai.usage.input_tokens is not a whole number"),
        ({"n": 1}, "token count gen_ai.usage.input_tokens is not a whole number"),
        (b"12", "token count gen_ai.usage.input_tokens is not a whole number"),
    ],
)
def test_token_count_rejects_bad_values(value: AttrValue, reason: str) -> None:
    with pytest.raises(SpanRejected) as caught:
        token_count("gen_ai.usage.input_tokens", value)
    assert str(caught.value) == reason


def test_no_counts_at_all() -> None:
    assert resolve_tokens({"gen_ai.request.model": "gpt-4o"}) is None
    assert resolve_tokens({"gen_ai.usage.cache_read.input_tokens": 5}) is None


def test_cache_and_reasoning_are_subsets_not_added() -> None:
    counts = resolve_tokens(
        {
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 300,
            "gen_ai.usage.cache_read.input_tokens": 600,
            "gen_ai.usage.cache_creation.input_tokens": 100,
            "gen_ai.usage.reasoning.output_tokens": 250,
        }
    )
    assert counts == TokenCounts(input=1000, output=300, cache_read=600, cache_write=100, reasoning=250)


def test_uncached_input_is_what_remains() -> None:
    counts = resolve_tokens(
        {
            "gen_ai.usage.input_tokens": 1000,
            "gen_ai.usage.output_tokens": 10,
            "gen_ai.usage.cache_read.input_tokens": 1000,
        }
    )
    assert counts == TokenCounts(input=1000, output=10, cache_read=1000)


def test_explicit_exclusive_input_adds_cache_back() -> None:
    values: dict[str, AttrValue] = {
        "gen_ai.usage.input_tokens": 50,
        "gen_ai.usage.output_tokens": 10,
        "gen_ai.usage.cache_read.input_tokens": 30,
        "gen_ai.usage.cache_creation.input_tokens": 20,
    }
    assert resolve_tokens(values, input_excludes_cache=True) == TokenCounts(
        input=100, output=10, cache_read=30, cache_write=20
    )
    assert resolve_tokens(values) == TokenCounts(input=50, output=10, cache_read=30, cache_write=20)


def test_first_alias_in_precedence_wins() -> None:
    counts = resolve_tokens(
        {
            "gen_ai.usage.prompt_tokens": 999,
            "gen_ai.usage.input_tokens": 100,
            "llm.token_count.prompt": 5,
            "gen_ai.usage.completion_tokens": 7,
            "gen_ai.usage.cache_read_input_tokens": 40,
            "gen_ai.usage.cache_read.input_tokens": 30,
        }
    )
    assert counts == TokenCounts(input=100, output=7, cache_read=30)


def test_lower_precedence_alias_with_bad_value_is_not_read() -> None:
    counts = resolve_tokens({"gen_ai.usage.input_tokens": 10, "gen_ai.usage.prompt_tokens": -1})
    assert counts == TokenCounts(input=10, output=0)


def test_missing_output_derived_from_total() -> None:
    assert resolve_tokens({"gen_ai.usage.input_tokens": 70, "llm.usage.total_tokens": 100}) == TokenCounts(
        input=70, output=30
    )


def test_missing_input_derived_from_total() -> None:
    assert resolve_tokens({"gen_ai.usage.output_tokens": 30, "llm.token_count.total": 100}) == TokenCounts(
        input=70, output=30
    )


def test_missing_side_without_total_is_zero_but_not_below_its_subset() -> None:
    assert resolve_tokens({"gen_ai.usage.output_tokens": 30}) == TokenCounts(input=0, output=30)
    assert resolve_tokens(
        {"gen_ai.usage.output_tokens": 30, "gen_ai.usage.cache_read.input_tokens": 12}
    ) == TokenCounts(input=12, output=30, cache_read=12)
    assert resolve_tokens({"gen_ai.usage.input_tokens": 30, "gen_ai.usage.reasoning_tokens": 8}) == TokenCounts(
        input=30, output=8, reasoning=8
    )


def test_total_smaller_than_known_side_gives_zero_not_negative() -> None:
    assert resolve_tokens({"gen_ai.usage.input_tokens": 70, "gen_ai.usage.total_tokens": 50}) == TokenCounts(
        input=70, output=0
    )


def test_lone_total_is_input_only_for_embeddings() -> None:
    assert resolve_tokens({"llm.usage.total_tokens": 64}, embeddings=True) == TokenCounts(input=64, output=0)
    assert resolve_tokens({"llm.usage.total_tokens": 64}) is None


def test_ambiguous_total_keeps_the_default_reading() -> None:
    # 100 + 20 + 40 == 160 fits "input excludes cache" and "output excludes reasoning" alike: trust neither.
    counts = resolve_tokens(
        {
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 40,
            "gen_ai.usage.cache_read.input_tokens": 20,
            "gen_ai.usage.reasoning.output_tokens": 20,
            "gen_ai.usage.total_tokens": 160,
        }
    )
    assert counts == TokenCounts(input=100, output=40, cache_read=20, reasoning=20)


def test_total_matching_both_exclusive_readings() -> None:
    counts = resolve_tokens(
        {
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 40,
            "gen_ai.usage.cache_read.input_tokens": 20,
            "gen_ai.usage.reasoning.output_tokens": 30,
            "gen_ai.usage.total_tokens": 190,
        }
    )
    assert counts == TokenCounts(input=120, output=70, cache_read=20, reasoning=30)


def test_total_matching_nothing_is_ignored() -> None:
    counts = resolve_tokens(
        {
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 40,
            "gen_ai.usage.cache_read.input_tokens": 20,
            "gen_ai.usage.total_tokens": 999,
        }
    )
    assert counts == TokenCounts(input=100, output=40, cache_read=20)


def test_raw_anthropic_usage_without_span_counts() -> None:
    raw = '{"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0}'
    assert resolve_tokens({"gen_ai.usage.raw": raw}) == TokenCounts(input=110, output=5, cache_read=100)


def test_raw_anthropic_kvlist_form() -> None:
    raw: AttrValue = {"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 7}
    assert resolve_tokens({"gen_ai.usage.input_tokens": 10, "gen_ai.usage.raw": raw}) == TokenCounts(
        input=17, output=5, cache_write=7
    )


def test_raw_anthropic_does_not_touch_an_already_inclusive_input() -> None:
    raw = '{"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100}'
    counts = resolve_tokens(
        {"gen_ai.usage.input_tokens": 110, "gen_ai.usage.output_tokens": 5, "gen_ai.usage.raw": raw}
    )
    assert counts == TokenCounts(input=110, output=5, cache_read=100)


def test_span_attributes_win_over_raw() -> None:
    raw = '{"prompt_tokens": 1, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 1}}'
    counts = resolve_tokens(
        {
            "gen_ai.usage.input_tokens": 50,
            "gen_ai.usage.output_tokens": 5,
            "gen_ai.usage.cache_read.input_tokens": 20,
            "gen_ai.usage.raw": raw,
        }
    )
    assert counts == TokenCounts(input=50, output=5, cache_read=20)


@pytest.mark.parametrize(
    "raw", ["not json", "[1, 2]", '{"unrelated": 1}', '{"prompt_tokens": "many", "completion_tokens": -3}', 12]
)
def test_malformed_raw_usage_is_ignored(raw: AttrValue) -> None:
    assert resolve_tokens(
        {"gen_ai.usage.input_tokens": 9, "gen_ai.usage.output_tokens": 1, "gen_ai.usage.raw": raw}
    ) == (TokenCounts(input=9, output=1))


def test_bad_subset_count_rejects() -> None:
    with pytest.raises(SpanRejected, match=r"^token count gen_ai\.usage\.cache_read\.input_tokens is negative$"):
        resolve_tokens(
            {
                "gen_ai.usage.input_tokens": 9,
                "gen_ai.usage.output_tokens": 1,
                "gen_ai.usage.cache_read.input_tokens": -4,
            }
        )


LITELLM_USAGE = (
    "{'completion_tokens': 300, 'prompt_tokens': 1200, 'total_tokens': 1500, 'completion_tokens_details':"
    " {'accepted_prediction_tokens': 0, 'audio_tokens': 0, 'reasoning_tokens': 128, 'rejected_prediction_tokens': 0},"
    " 'prompt_tokens_details': {'audio_tokens': 0, 'cached_tokens': 1024, 'text_tokens': None}}"
)


def test_litellm_usage_object_repr_fills_cached_and_reasoning_counts() -> None:
    counts = resolve_tokens(
        {"gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300, "metadata.usage_object": LITELLM_USAGE}
    )
    assert counts == TokenCounts(input=1200, output=300, cache_read=1024, reasoning=128)


def test_litellm_usage_object_of_an_anthropic_call_keeps_the_inclusive_prompt_count() -> None:
    usage = "{'prompt_tokens': 1524, 'completion_tokens': 150, 'cache_creation_input_tokens': 200, " \
        "'cache_read_input_tokens': 1024, 'prompt_tokens_details': {'cached_tokens': 1024}}"  # fmt: skip
    counts = resolve_tokens({"metadata.usage_object": usage})
    assert counts == TokenCounts(input=1524, output=150, cache_read=1024, cache_write=200)


def test_gen_ai_usage_raw_wins_over_the_litellm_usage_object() -> None:
    raw = '{"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 4}}'
    counts = resolve_tokens({"gen_ai.usage.raw": raw, "metadata.usage_object": LITELLM_USAGE})
    assert counts == TokenCounts(input=10, output=2, cache_read=4)


@pytest.mark.parametrize(
    ("usage", "reason"),
    [
        ("{'a': " * 40 + "1" + "}" * 40, "metadata.usage_object is nested deeper than 32 levels"),
        ("{'prompt_tokens': '" + "x" * 70_000 + "'}", "metadata.usage_object is over 64 KiB"),
    ],
)
def test_hostile_litellm_usage_object_rejects_the_span(usage: str, reason: str) -> None:
    with pytest.raises(SpanRejected, match=f"^{reason}$"):
        resolve_tokens({"gen_ai.usage.input_tokens": 1, "metadata.usage_object": usage})


@pytest.mark.parametrize("usage", ["Usage(prompt_tokens=10)", "{'prompt_tokens': 1 +", "-" * 10_000 + "1"])
def test_litellm_usage_object_that_is_no_literal_is_ignored(usage: str) -> None:
    counts = resolve_tokens(
        {"gen_ai.usage.input_tokens": 9, "gen_ai.usage.output_tokens": 1, "metadata.usage_object": usage}
    )
    assert counts == TokenCounts(input=9, output=1)
