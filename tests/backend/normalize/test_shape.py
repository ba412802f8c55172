"""The key -> role table: trying only the keys a span sends gives the same answer as trying every alias."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_margin_backend.normalize import Normalizer
from otel_margin_backend.normalize.conventions import TOKEN_KEYS, USAGE_OBJECT_KEYS
from otel_margin_backend.normalize.result import SpanRejected
from otel_margin_backend.normalize.shape import MAX_SHAPES, ShapeTable
from otel_margin_backend.normalize.tokens import TokenCounts, resolve_tokens_detail
from otel_margin_backend.pipeline.events import UsageEvent
from tests.backend.normalize.builders import SpanSpec, build_request


def _table() -> ShapeTable:
    return ShapeTable(("customer.id", "user.id"), ("feature.name",), ("deployment.environment",), ("server.address",))


_COUNT = st.one_of(
    st.integers(min_value=-5, max_value=2_000_000_000), st.sampled_from(["12", "1.5", "x", ""]), st.none()
)
_USAGE = st.sampled_from(
    [
        '{"prompt_tokens": 40, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 30}}',
        '{"input_tokens": 7, "output_tokens": 3, "cache_read_input_tokens": 100}',
        "{'input_tokens': 5, 'output_tokens': 2}",
        "not json",
    ]
)


def _outcome(values: dict[str, object], *, shaped: bool) -> tuple[TokenCounts | None, int] | str:
    keys = _table().of(values).tokens if shaped else None
    try:
        if keys is None:
            return resolve_tokens_detail(values)  # type: ignore[arg-type]
        return resolve_tokens_detail(values, keys=keys)  # type: ignore[arg-type]
    except SpanRejected as rejection:
        return f"rejected: {rejection}"


@settings(max_examples=300, deadline=None)
@given(
    counts=st.dictionaries(st.sampled_from(TOKEN_KEYS), _COUNT, max_size=8),
    usage=st.dictionaries(st.sampled_from(USAGE_OBJECT_KEYS), _USAGE, max_size=2),
    order=st.randoms(use_true_random=False),
)
def test_token_counts_read_through_the_shape_equal_reading_every_alias(
    counts: dict[str, object], usage: dict[str, object], order: object
) -> None:
    items = list({**counts, **usage}.items())
    order.shuffle(items)  # type: ignore[attr-defined]  # a span sends its keys in any order
    values = dict(items)
    assert _outcome(values, shaped=True) == _outcome(values, shaped=False)


def test_precedence_holds_whatever_order_the_span_sends_its_keys_in() -> None:
    attributes = {
        "llm.request.model": "old-name",  # earliest OpenLLMetry: lower precedence, sent first
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.system": "openai",
        "user.id": "second-choice",
        "customer.id": "acct_1",
        "gen_ai.usage.prompt_tokens": 999,
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 20,
    }
    [event] = Normalizer().normalize(build_request(SpanSpec(attributes=attributes))).events
    assert isinstance(event, UsageEvent)
    assert (event.request_model, event.customer_id, event.input_tokens, event.output_tokens) == (
        "gpt-4o",
        "acct_1",
        100,
        20,
    )


def test_the_table_keeps_at_most_max_shapes() -> None:
    table = _table()
    for n in range(MAX_SHAPES + 10):
        shape = table.of({"gen_ai.request.model": None, f"made.up.{n}": None})
        assert shape.request_model == ("gen_ai.request.model",)  # planned, kept or not
    assert len(table._shapes) == MAX_SHAPES


@pytest.mark.parametrize("sent", [(), ("feature.name",), ("user.id", "customer.id")])
def test_ranked_roles_keep_the_configured_index(sent: tuple[str, ...]) -> None:
    shape = _table().of(dict.fromkeys(sent))
    expected = tuple(sorted((("customer.id", "user.id").index(k), k) for k in sent if k != "feature.name"))
    assert shape.customer == expected
    assert shape.feature == (((0, "feature.name"),) if "feature.name" in sent else ())
