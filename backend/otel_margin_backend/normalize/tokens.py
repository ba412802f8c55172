"""Token counts from any convention, brought to one meaning so nothing is counted twice or lost.

``UsageEvent`` follows OTel: input includes cache reads and writes, output includes reasoning. Not every
instrumentation does. Anthropic's API reports input *excluding* cache tokens, and some instrumentations copy
it as is (OpenLIT; Logfire, whose cache counts live only in ``gen_ai.usage.raw``); Gemini reports output
excluding thinking tokens. Such spans are recognised by an explicit rule (the caller passes
``input_excludes_cache``), by arithmetic that only the exclusive reading satisfies (cache larger than input, or a
reported total equal to the exclusive sum), or by the provider's own usage object in ``gen_ai.usage.raw``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from otel_margin_backend.normalize.attributes import load_json
from otel_margin_backend.normalize.conventions import (
    CACHE_READ_KEYS,
    CACHE_WRITE_KEYS,
    INPUT_TOKEN_KEYS,
    OUTPUT_TOKEN_KEYS,
    REASONING_KEYS,
    TOTAL_TOKEN_KEYS,
    USAGE_OBJECT_KEYS,
)
from otel_margin_backend.normalize.result import SpanRejected
from otel_margin_backend.normalize.types import AttrValue
from otel_margin_backend.pipeline import limits

__all__ = [
    "ALL_TOKEN_KEYS",
    "MAX_TOKENS",
    "TokenCounts",
    "TokenKeys",
    "resolve_tokens",
    "resolve_tokens_detail",
    "token_count",
]

MAX_TOKENS = limits.MAX_TOKENS
"""Largest count accepted for one call. Context windows top out around 10^7 tokens; anything above 10^9 is a
unit error or corruption, and would swamp a customer's bill, so the span is rejected instead. Checked here on each
attribute, and again (``pipeline/limits.py``) on the counts after cache and reasoning tokens are added."""


class TokenCounts(NamedTuple):
    """Counts of one call, in ``UsageEvent`` semantics (a tuple: built once per span, it must be cheap)."""

    input: int
    """All input tokens, cache reads and writes included."""
    output: int
    """All output tokens, reasoning included."""
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0


class TokenKeys(NamedTuple):
    """The attributes read per count, each in precedence order (a span's own subset: ``shape.py``)."""

    input: tuple[str, ...]
    output: tuple[str, ...]
    cache_read: tuple[str, ...]
    cache_write: tuple[str, ...]
    reasoning: tuple[str, ...]
    total: tuple[str, ...]
    usage_object: tuple[str, ...]


ALL_TOKEN_KEYS = TokenKeys(
    INPUT_TOKEN_KEYS,
    OUTPUT_TOKEN_KEYS,
    CACHE_READ_KEYS,
    CACHE_WRITE_KEYS,
    REASONING_KEYS,
    TOTAL_TOKEN_KEYS,
    USAGE_OBJECT_KEYS,
)
"""Every alias of every count: what a span of unknown shape is read with."""


def token_count(key: str, value: AttrValue) -> int | None:
    """Validate one token-count attribute.

    Args:
        key: Attribute name, used in the rejection reason.
        value: Decoded attribute value.

    Returns:
        The count, or None when the attribute has no value. Integral doubles (``12.0``) and decimal strings
        (``"12"``) are accepted, since some SDKs send counts that way.

    Raises:
        SpanRejected: for a boolean, fraction, non-numeric, negative or implausibly large (> 10^9) value.
    """
    if type(value) is int and 0 <= value <= MAX_TOKENS:  # the common case, checked first
        return value
    if value is None:
        return None
    if isinstance(value, bool):
        raise SpanRejected(f"token count {key} is not a whole number")
    if isinstance(value, int):
        count = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise SpanRejected(f"token count {key} is not a whole number")
        count = int(value)
    elif isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in ("-", "+") else text
        if not (digits.isascii() and digits.isdigit()):
            raise SpanRejected(f"token count {key} is not a whole number")
        count = int(text)
    else:
        raise SpanRejected(f"token count {key} is not a whole number")
    if count < 0:
        raise SpanRejected(f"token count {key} is negative")
    if count > MAX_TOKENS:
        raise SpanRejected(f"token count {key} is above {MAX_TOKENS:,} (not one plausible call)")
    return count


def _first(values: Mapping[str, AttrValue], keys: tuple[str, ...]) -> int | None:
    """Validated count of the highest-precedence key present; lower-precedence aliases are not read."""
    for key in keys:
        if key in values:  # most aliases are absent: ``in`` is cheaper than ``get``
            value = values[key]
            if value is not None:
                return token_count(key, value)
    return None


@dataclass(slots=True)
class _RawUsage:
    """Counts read from a provider usage object (``gen_ai.usage.raw``)."""

    input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    reasoning: int | None = None
    anthropic: bool = False
    """Anthropic's shape: its ``input_tokens`` excludes cache reads and writes."""


def _raw_int(obj: object, *path: str) -> int | None:
    for name in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    if isinstance(obj, bool) or not isinstance(obj, int) or not 0 <= obj <= MAX_TOKENS:
        return None
    return obj


_PYTHON_REPR = re.compile(r"'|\bNone\b|\bTrue\b|\bFalse\b")
_AS_JSON = {"'": '"', "None": "null", "True": "true", "False": "false"}


def _python_repr_as_json(text: str) -> str:
    """A usage object written as a Python ``repr`` of dicts and numbers (LiteLLM's ``metadata.usage_object``), as JSON.

    Rewritten rather than evaluated (``ast.literal_eval`` can exhaust the C stack on hostile nesting): quotes and the
    three constants become JSON's; anything else that is no JSON then stays unreadable, and is ignored.
    """
    return _PYTHON_REPR.sub(lambda match: _AS_JSON[match.group()], text)


def _raw_usage(key: str, value: AttrValue) -> _RawUsage | None:
    """Read Anthropic, OpenAI Chat Completions (LiteLLM's too) or OpenAI Responses usage; anything else gives None.

    The raw object is supplementary, so a malformed one is ignored rather than rejected; one over the size or
    nesting limits is hostile, and rejects the span.

    Raises:
        SpanRejected: the text is over ``MAX_RAW_USAGE_BYTES`` or nested deeper than ``MAX_DEPTH``.
    """
    obj: object = value
    if isinstance(value, str):
        if len(value) > limits.MAX_RAW_USAGE_BYTES // 4 and len(value.encode()) > limits.MAX_RAW_USAGE_BYTES:
            raise SpanRejected(f"{key} is over {limits.MAX_RAW_USAGE_BYTES // 1024} KiB")
        try:
            try:
                obj = load_json(value)
            except ValueError:
                obj = load_json(_python_repr_as_json(value))
        except limits.LimitExceeded:
            raise SpanRejected(f"{key} is nested deeper than {limits.MAX_DEPTH} levels") from None
        except ValueError:
            return None
    if not isinstance(obj, dict):
        return None
    if "prompt_tokens" in obj:
        # OpenAI Chat Completions; LiteLLM's normalized usage has this shape for every provider (its prompt_tokens
        # includes cache tokens) and adds Anthropic's cache_creation_input_tokens for cache writes.
        return _RawUsage(
            input=_raw_int(obj, "prompt_tokens"),
            output=_raw_int(obj, "completion_tokens"),
            cache_read=_raw_int(obj, "prompt_tokens_details", "cached_tokens"),
            cache_write=_raw_int(obj, "cache_creation_input_tokens"),
            reasoning=_raw_int(obj, "completion_tokens_details", "reasoning_tokens"),
        )
    if "cache_read_input_tokens" in obj or "cache_creation_input_tokens" in obj:
        return _RawUsage(
            input=_raw_int(obj, "input_tokens"),
            output=_raw_int(obj, "output_tokens"),
            cache_read=_raw_int(obj, "cache_read_input_tokens"),
            cache_write=_raw_int(obj, "cache_creation_input_tokens"),
            anthropic=True,
        )
    if "input_tokens" in obj:
        return _RawUsage(
            input=_raw_int(obj, "input_tokens"),
            output=_raw_int(obj, "output_tokens"),
            cache_read=_raw_int(obj, "input_tokens_details", "cached_tokens"),
            reasoning=_raw_int(obj, "output_tokens_details", "reasoning_tokens"),
        )
    return None


def _exclusive_readings(
    input_: int, output: int, cache: int, reasoning: int, total: int | None, *, input_excl: bool, output_excl: bool
) -> tuple[bool, bool]:
    """Pick the reading of input/output (inclusive or exclusive) that the reported total confirms.

    The reading already chosen stands if the total agrees with it or matches no alternative (totals are often
    computed loosely); an alternative is adopted only when it is the only reading that adds up.
    """
    if total is None or total == input_ + (cache if input_excl else 0) + output + (reasoning if output_excl else 0):
        return input_excl, output_excl
    in_options = (input_excl,) if input_excl or not cache else (False, True)
    out_options = (output_excl,) if output_excl or not reasoning else (False, True)

    def adds_up(in_excl: bool, out_excl: bool) -> bool:
        return total == input_ + (cache if in_excl else 0) + output + (reasoning if out_excl else 0)

    matches = [(i, o) for i in in_options for o in out_options if adds_up(i, o)]
    return matches[0] if len(matches) == 1 else (input_excl, output_excl)


def resolve_tokens(
    values: Mapping[str, AttrValue], *, input_excludes_cache: bool = False, embeddings: bool = False
) -> TokenCounts | None:
    """Read and reconcile the token counts of one span.

    Args:
        values: The span's decoded attributes.
        input_excludes_cache: The instrumentation is known to report input without cache tokens.
        embeddings: The call is an embedding.

    Returns:
        The counts of ``resolve_tokens_detail``, without the detail count.

    Raises:
        SpanRejected: when a count is not a whole number in ``[0, 10^9]``.
    """
    return resolve_tokens_detail(values, input_excludes_cache=input_excludes_cache, embeddings=embeddings)[0]


def resolve_tokens_detail(
    values: Mapping[str, AttrValue],
    *,
    input_excludes_cache: bool = False,
    embeddings: bool = False,
    keys: TokenKeys = ALL_TOKEN_KEYS,
) -> tuple[TokenCounts | None, int]:
    """Read and reconcile the token counts of one span, and say how detailed they are.

    Args:
        values: The span's decoded attributes (only token keys and the usage objects ``gen_ai.usage.raw`` and
            ``metadata.usage_object`` are read).
        input_excludes_cache: The instrumentation is known to report input without cache tokens.
        embeddings: The call is an embedding; a lone total count is then all input.
        keys: The attributes to try per count; a subset of ``ALL_TOKEN_KEYS`` holding every key of ``values`` in it
            gives the same result, faster.

    Returns:
        The counts, or None when the span reports neither input nor output tokens. A side that is missing while the
        other is present is derived from the total if one is sent, else taken as 0 (never below its cache or
        reasoning part). Beside them, how many of cache read, cache write and reasoning the span reported (0-3, a
        reported 0 counts): two spans of one call are ranked by it.

    Raises:
        SpanRejected: when a count is not a whole number in ``[0, 10^9]``.
    """
    input_ = _first(values, keys.input)
    output = _first(values, keys.output)
    cache_read = _first(values, keys.cache_read)
    cache_write = _first(values, keys.cache_write)
    reasoning = _first(values, keys.reasoning)
    total = _first(values, keys.total)

    raw = None
    for key in keys.usage_object:
        raw_value = values.get(key)
        if raw_value is not None:
            raw = _raw_usage(key, raw_value)
            break
    if raw is not None:
        # Anthropic's own input_tokens excludes cache tokens: a span that copied it needs them added back.
        if raw.anthropic and (raw.cache_read or raw.cache_write) and (input_ is None or input_ == raw.input):
            input_excludes_cache = True
        input_ = raw.input if input_ is None else input_
        output = raw.output if output is None else output
        cache_read = raw.cache_read if cache_read is None else cache_read
        cache_write = raw.cache_write if cache_write is None else cache_write
        reasoning = raw.reasoning if reasoning is None else reasoning

    detail = (cache_read is not None) + (cache_write is not None) + (reasoning is not None)
    if input_ is None and output is None:
        if embeddings and total is not None:
            return TokenCounts(input=total, output=0), detail
        return None, detail

    cache_read = cache_read or 0
    cache_write = cache_write or 0
    reasoning = reasoning or 0
    cache = cache_read + cache_write

    if input_ is not None and output is not None:
        input_excl, output_excl = _exclusive_readings(
            input_,
            output,
            cache,
            reasoning,
            total,
            input_excl=input_excludes_cache or input_ < cache,
            output_excl=output < reasoning,
        )
    else:
        input_excl = input_excludes_cache or (input_ is not None and input_ < cache)
        output_excl = output is not None and output < reasoning

    if input_ is not None and input_excl:
        input_ += cache
    if output is not None and output_excl:
        output += reasoning
    if input_ is None:
        known_output = output or 0
        input_ = max(total - known_output if total is not None else 0, cache)
    if output is None:
        output = max(total - input_ if total is not None else 0, reasoning)
    counts = TokenCounts(
        input=input_, output=output, cache_read=cache_read, cache_write=cache_write, reasoning=reasoning
    )
    return counts, detail
