"""Prompt and completion text carried on a span, gathered for token estimation.

Used only for model calls that report no token counts, when estimation is enabled, so it favours coverage over
speed. Conventions overlap (an instrumentation may send ``gen_ai.input.messages`` *and* indexed
``gen_ai.prompt.N.content``, or the same text as attributes and as span events); to count nothing twice, each
side takes the text of the first source family present, in the order listed in ``README.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otel_margin_backend.normalize.attributes import decode_attributes, decode_value, load_json
from otel_margin_backend.normalize.types import AttrValue

__all__ = ["MessageText", "message_text"]

_SKIPPED_PART_TYPES = frozenset({"blob", "uri", "file", "image", "image_url", "input_image", "audio", "input_audio"})
"""Binary or linked parts: their text form (base64, URLs) says nothing about their token cost."""
_TEXT_KEYS = (
    "content",
    "text",
    "parts",
    "message",
    "contents",
    "message_content",
    "tool_calls",
    "function",
    "arguments",
    "response",
    "result",
)
"""Keys of a message object whose values are (or contain) model-visible text; ``role``, ``id``, ``type`` are not."""

# Attribute families, first present wins per side.
_INPUT_STRUCTURED = ("gen_ai.system_instructions", "gen_ai.input.messages")
_OUTPUT_STRUCTURED = ("gen_ai.output.messages",)
_INDEXED_PREFIXES = (
    ("gen_ai.prompt.", "gen_ai.completion."),  # OpenLLMetry <= 0.54
    ("llm.prompts.", "llm.completions."),  # earliest OpenLLMetry
    ("llm.input_messages.", "llm.output_messages."),  # OpenInference
)
_INDEXED_SUFFIXES = (".content", ".text", ".arguments")
_LEGACY_WHOLE = ("gen_ai.prompt", "gen_ai.completion")  # single attribute, text or JSON
_OPENINFERENCE_PROMPTS = "llm.prompts"  # OpenInference completions: a list of strings

_INPUT_EVENTS = {
    "gen_ai.content.prompt": ("gen_ai.prompt",),
    "gen_ai.system.message": ("content",),
    "gen_ai.user.message": ("content",),
    "gen_ai.assistant.message": ("content", "tool_calls"),
    "gen_ai.tool.message": ("content",),
}
_OUTPUT_EVENTS = {
    "gen_ai.content.completion": ("gen_ai.completion",),
    "gen_ai.choice": ("message", "content"),
}
_DETAILS_EVENT = "gen_ai.client.inference.operation.details"


@dataclass(frozen=True, slots=True)
class MessageText:
    """The prompt and completion text of one span."""

    input: str
    output: str


def _walk(value: AttrValue | object, out: list[str]) -> None:
    if isinstance(value, str):
        if value:
            out.append(value)
    elif isinstance(value, list):
        for item in value:
            _walk(item, out)
    elif isinstance(value, dict):
        if value.get("type") in _SKIPPED_PART_TYPES:
            return
        for key in _TEXT_KEYS:
            if key not in value:
                continue
            item = value[key]
            if key == "arguments" and isinstance(item, (dict, list)):
                out.append(json.dumps(item, ensure_ascii=False, sort_keys=True))
            else:
                _walk(item, out)


def _walk_maybe_json(value: AttrValue, out: list[str]) -> None:
    """Messages sent as a JSON string are parsed; any other string is taken as plain text."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            parsed: object = load_json(value)
        except ValueError:  # not JSON, or nested too deep to be messages (LimitExceeded): plain text
            parsed = value
        _walk(parsed, out)
    else:
        _walk(value, out)


def _walk_content(value: AttrValue, out: list[str]) -> None:
    """Free-text content: parsed only when it is a JSON list of message or part objects (multimodal content,
    serialized messages), so a prompt that merely looks like JSON is still counted whole."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            parsed: object = load_json(value)
        except ValueError:  # not JSON, or nested too deep to be messages (LimitExceeded): plain text
            parsed = None
        items = parsed if isinstance(parsed, list) else [parsed]
        if items and all(isinstance(item, dict) and ("type" in item or "role" in item) for item in items):
            _walk(items, out)
            return
    _walk(value, out)


def _first_family(families: Iterable[list[str]]) -> str:
    for texts in families:
        if texts:
            return "\n".join(texts)
    return ""


def message_text(span: Span) -> MessageText:
    """Gather the prompt (input) and completion (output) text of a span.

    Args:
        span: The protobuf span; its attributes and events are read.

    Returns:
        Input and output text, each joined with newlines; empty strings when the span carries none.
    """
    structured_in: list[str] = []
    structured_out: list[str] = []
    indexed_in: list[list[str]] = [[] for _ in _INDEXED_PREFIXES]
    indexed_out: list[list[str]] = [[] for _ in _INDEXED_PREFIXES]
    prompts_list: list[str] = []
    legacy_in: list[str] = []
    legacy_out: list[str] = []

    for kv in span.attributes:
        key = kv.key
        if key in _INPUT_STRUCTURED:
            _walk_maybe_json(decode_value(kv.value), structured_in)
        elif key in _OUTPUT_STRUCTURED:
            _walk_maybe_json(decode_value(kv.value), structured_out)
        elif key == _OPENINFERENCE_PROMPTS:
            _walk(decode_value(kv.value), prompts_list)
        elif key == _LEGACY_WHOLE[0]:
            _walk_content(decode_value(kv.value), legacy_in)
        elif key == _LEGACY_WHOLE[1]:
            _walk_content(decode_value(kv.value), legacy_out)
        elif key.endswith(_INDEXED_SUFFIXES):
            for index, (in_prefix, out_prefix) in enumerate(_INDEXED_PREFIXES):
                if key.startswith(in_prefix):
                    _walk_content(decode_value(kv.value), indexed_in[index])
                    break
                if key.startswith(out_prefix):
                    _walk_content(decode_value(kv.value), indexed_out[index])
                    break

    events_in: list[str] = []
    events_out: list[str] = []
    for event in span.events:
        name = event.name
        if name == _DETAILS_EVENT:
            attrs = decode_attributes(event.attributes)
            for key in _INPUT_STRUCTURED:
                _walk_maybe_json(attrs.get(key), events_in)
            for key in _OUTPUT_STRUCTURED:
                _walk_maybe_json(attrs.get(key), events_out)
            continue
        keys = _INPUT_EVENTS.get(name)
        target = events_in
        if keys is None:
            keys = _OUTPUT_EVENTS.get(name)
            target = events_out
        if keys is None:
            continue
        attrs = decode_attributes(event.attributes)
        for key in keys:
            if key in attrs:
                _walk_content(attrs[key], target)
                break

    return MessageText(
        _first_family((structured_in, *indexed_in, prompts_list, legacy_in, events_in)),
        _first_family((structured_out, *indexed_out, legacy_out, events_out)),
    )
