"""Message text for estimates: every convention's prompt and completion carriers, each counted once."""

from __future__ import annotations

import json

from otel_margin_backend.normalize.content import MessageText, message_text
from tests.backend.normalize.builders import SpanSpec, build_span


def text_of(attributes: dict[str, object], events: tuple[tuple[str, dict[str, object]], ...] = ()) -> MessageText:
    return message_text(build_span(SpanSpec(attributes=attributes, events=events)))


def test_spec_messages_json_with_system_instructions() -> None:
    messages = [
        {"role": "user", "parts": [{"type": "text", "content": "Summarize this"}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "fetch", "arguments": {"url": "x"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "page text"}]},
        {"role": "user", "parts": [{"type": "blob", "modality": "image", "content": "aGVsbG8="}]},
    ]
    output = [{"role": "assistant", "parts": [{"type": "text", "content": "Done."}], "finish_reason": "stop"}]
    text = text_of(
        {
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be brief."}]),
            "gen_ai.input.messages": json.dumps(messages),
            "gen_ai.output.messages": json.dumps(output),
        }
    )
    assert text == MessageText(input='Be brief.\nSummarize this\n{"url": "x"}\npage text', output="Done.")


def test_spec_messages_as_structured_attribute() -> None:
    text = text_of({"gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]})
    assert text == MessageText(input="hi", output="")


def test_openllmetry_indexed_prompts_and_completions() -> None:
    text = text_of(
        {
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "You are terse.",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": json.dumps(
                [{"type": "text", "text": "Hi"}, {"type": "image_url", "image_url": "u"}]
            ),
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "Hello.",
            "gen_ai.completion.0.tool_calls.0.arguments": '{"q": 1}',
            "gen_ai.completion.0.finish_reason": "stop",
        }
    )
    assert text == MessageText(input="You are terse.\nHi", output='Hello.\n{"q": 1}')


def test_prompt_that_merely_looks_like_json_is_counted_whole() -> None:
    text = text_of({"gen_ai.prompt.0.content": '{"order": 17, "status": "late"}'})
    assert text == MessageText(input='{"order": 17, "status": "late"}', output="")


def test_earliest_openllmetry_prompts() -> None:
    text = text_of({"llm.prompts.0.content": "Tell a joke", "llm.completions.0.content": "No."})
    assert text == MessageText(input="Tell a joke", output="No.")


def test_openinference_flattened_messages() -> None:
    text = text_of(
        {
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "What time is it?",
            "llm.input_messages.1.message.contents.0.message_content.type": "text",
            "llm.input_messages.1.message.contents.0.message_content.text": "In Paris.",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "Noon.",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"tz": "CET"}',
        }
    )
    assert text == MessageText(input="What time is it?\nIn Paris.", output='Noon.\n{"tz": "CET"}')


def test_openinference_prompts_list() -> None:
    assert text_of({"llm.prompts": ["first", "second"]}) == MessageText(input="first\nsecond", output="")


def test_legacy_single_attributes() -> None:
    text = text_of({"gen_ai.prompt": "user: hi", "gen_ai.completion": '[{"role": "assistant", "content": "yo"}]'})
    assert text == MessageText(input="user: hi", output="yo")


def test_legacy_span_events() -> None:
    text = text_of(
        {},
        events=(
            ("gen_ai.content.prompt", {"gen_ai.prompt": '[{"role": "user", "content": "ping"}]'}),
            ("gen_ai.content.completion", {"gen_ai.completion": '[{"role": "assistant", "content": "pong"}]'}),
        ),
    )
    assert text == MessageText(input="ping", output="pong")


def test_per_message_events() -> None:
    text = text_of(
        {},
        events=(
            ("gen_ai.system.message", {"content": "rules"}),
            ("gen_ai.user.message", {"content": "question"}),
            ("gen_ai.choice", {"message": {"role": "assistant", "content": "answer"}, "index": 0}),
            ("exception", {"exception.message": "ignored"}),
        ),
    )
    assert text == MessageText(input="rules\nquestion", output="answer")


def test_inference_details_event() -> None:
    text = text_of(
        {},
        events=(
            (
                "gen_ai.client.inference.operation.details",
                {
                    "gen_ai.input.messages": json.dumps(
                        [{"role": "user", "parts": [{"type": "text", "content": "a"}]}]
                    ),
                    "gen_ai.output.messages": json.dumps(
                        [{"role": "assistant", "parts": [{"type": "text", "content": "b"}]}]
                    ),
                },
            ),
        ),
    )
    assert text == MessageText(input="a", output="b")


def test_first_family_wins_so_duplicates_are_not_counted_twice() -> None:
    text = text_of(
        {
            "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "once"}]}]),
            "gen_ai.prompt.0.content": "once",
        },
        events=(("gen_ai.user.message", {"content": "once"}),),
    )
    assert text == MessageText(input="once", output="")


def test_nothing_to_read() -> None:
    assert text_of({"gen_ai.request.model": "gpt-4o"}) == MessageText(input="", output="")
