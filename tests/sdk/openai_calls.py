"""The OpenAI calls of the instrumentation tests, made in a fresh interpreter for each instrumentation.

A fresh process per instrumentation because instrumentors are process-wide and not all of them undo themselves:
OpenLLMetry 0.62.4's ``uninstrument()`` stops at the first method missing from openai 3.x and leaves the Responses
API wrapped, after which a second ``instrument()`` reports no Responses spans.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from typing import Any

import openai
from opentelemetry.sdk.trace import TracerProvider

import otel_margin

MESSAGES: Any = [{"role": "user", "content": "How are our margins?"}]
ANSWER = "Margins look healthy."
# What the tests compare; everything else an instrumentation adds (content, ids, server address) is left out.
CHECKED = {
    "customer.id",
    "feature.name",
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
}


def make_calls(base_url: str) -> None:
    """Chat (plain, streamed with usage, async), embeddings and Responses (plain, streamed), one feature each."""
    with openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as client:
        with otel_margin.customer("acct_42", feature="chat"):
            reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            assert reply.choices[0].message.content == ANSWER
        with otel_margin.customer("acct_42", feature="chat-stream"):
            stream = client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            chunks = list(stream)
            assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
            assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 1200
        with otel_margin.customer("acct_42", feature="embeddings"):
            vectors = client.embeddings.create(model="text-embedding-3-small", input="margin")
            assert vectors.data[0].embedding == [0.25, -0.5, 0.125]
        with otel_margin.customer("acct_42", feature="responses"):
            response = client.responses.create(model="o4-mini", input="How are our margins?")
            assert response.output_text == ANSWER
        with otel_margin.customer("acct_42", feature="responses-stream"):
            events = [event.type for event in client.responses.create(model="o4-mini", input="Hi", stream=True)]
            assert events[0] == "response.created" and events[-1] == "response.completed"

    @otel_margin.customer("acct_42", feature="chat-async")
    async def chat_async() -> str | None:
        async with openai.AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as client:
            reply = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            return reply.choices[0].message.content

    assert asyncio.run(chat_async()) == ANSWER


def main(distribution: str, base_url: str) -> None:
    """Instrument with ``distribution`` only, make the calls, print each call's span as JSON by feature name."""
    # OpenLLMetry imports its Responses wrappers on instrument(); they declare a pydantic model with a class-based
    # `Config`, which pydantic 2 deprecates. The warning is OpenLLMetry's; every other warning stays an error.
    warnings.filterwarnings("ignore", message="Support for class-based `config` is deprecated")
    exporter = otel_margin.InMemoryExporter()
    provider = otel_margin.instrument(
        tracer_provider=TracerProvider(), exporter=exporter, instrumentations=[distribution]
    )
    make_calls(base_url)
    provider.shutdown()

    by_feature: dict[str, Any] = {}
    for span in exporter.get_finished_spans():
        attributes = dict(span.attributes or {})
        feature = str(attributes["feature.name"])
        assert feature not in by_feature, f"two spans for the call {feature!r}"
        kept = {k: v for k, v in attributes.items() if k in CHECKED or k.startswith("gen_ai.usage.")}
        by_feature[feature] = {"span": span.name, "attributes": kept}
    print(json.dumps(by_feature))
