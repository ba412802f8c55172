"""Apps instrumented the way each library's users do it, exporting to a running otel-margin backend.

python -m tests.e2e.library_app SCENARIO OPENAI_BASE_URL PROVIDER_BASE_URL ENDPOINT TOKEN

Run as a subprocess in the scenario's venv (``scripts/bootstrap.sh genai|langchain|openlit|litellm``). Each call has
its own feature name; the customer is set with the library's own mechanism where it has one (so the backend's
default customer keys must find it), else with ``otel_margin.customer()``. These are the recipes of
docs/instrument.md.
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from collections.abc import Callable
from typing import Any

MESSAGES: Any = [{"role": "user", "content": "How are our margins?"}]
ANSWER = "Margins look healthy."


def _anthropic_calls(base_url: str, customer: str, *, request_span: bool = True) -> None:
    """A plain and a streamed call, each inside a request span as a web framework's instrumentation makes."""
    import contextlib

    import anthropic
    from opentelemetry import trace

    import otel_margin

    tracer = trace.get_tracer("e2e-app")
    client = anthropic.Anthropic(base_url=base_url, api_key="sk-ant-test", max_retries=0)
    for feature, stream in (("messages", False), ("messages-stream", True)):
        request = tracer.start_as_current_span("POST /ask") if request_span else contextlib.nullcontext()
        with otel_margin.customer(customer, feature=feature), request:
            if stream:
                chunks = client.messages.create(
                    model="claude-sonnet-4-5", max_tokens=400, messages=MESSAGES, stream=True
                )
                events = list(chunks)
                assert events[0].type == "message_start" and events[-1].type == "message_stop"
            else:
                reply = client.messages.create(model="claude-sonnet-4-5", max_tokens=400, messages=MESSAGES)
                assert reply.content[0].type == "text" and reply.content[0].text == ANSWER


def anthropic_self(openai_url: str, provider_url: str, endpoint: str, token: str) -> Callable[[], None]:
    """The ``anthropic`` client tracing itself; ``instrument()`` turns no Anthropic instrumentation on."""
    import otel_margin

    provider = otel_margin.instrument("e2e-anthropic", endpoint=endpoint, token=token)
    _anthropic_calls(provider_url, "acct_anthropic")
    return provider.shutdown


def anthropic_openllmetry(openai_url: str, provider_url: str, endpoint: str, token: str) -> Callable[[], None]:
    """OpenLLMetry's Anthropic instrumentation on top of the client's own tracing: two spans per call."""
    import otel_margin

    provider = otel_margin.instrument(
        "e2e-anthropic", endpoint=endpoint, token=token, instrumentations=["opentelemetry-instrumentation-anthropic"]
    )
    _anthropic_calls(provider_url, "acct_anthropic")
    return provider.shutdown


def anthropic_openllmetry_no_parent(
    openai_url: str, provider_url: str, endpoint: str, token: str
) -> Callable[[], None]:
    """The same without an enclosing span: OpenLLMetry's span and the client's own start two separate traces."""
    import otel_margin

    provider = otel_margin.instrument(
        "e2e-anthropic", endpoint=endpoint, token=token, instrumentations=["opentelemetry-instrumentation-anthropic"]
    )
    _anthropic_calls(provider_url, "acct_anthropic", request_span=False)
    return provider.shutdown


def openinference_openai(openai_url: str, provider_url: str, endpoint: str, token: str) -> Callable[[], None]:
    """OpenInference's OpenAI instrumentation; the customer through its ``using_attributes(user_id=...)``."""
    import openai
    from openinference.instrumentation import using_attributes
    from openinference.instrumentation.openai import OpenAIInstrumentor

    import otel_margin

    provider = otel_margin.instrument("e2e-openinference", endpoint=endpoint, token=token, instrumentations=[])
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    client = openai.OpenAI(base_url=openai_url, api_key="sk-test", max_retries=0)
    with using_attributes(user_id="acct_openinference"), otel_margin.feature("chat"):
        assert client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices[0].message.content
    with using_attributes(user_id="acct_openinference"), otel_margin.feature("chat-stream"):
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        assert list(stream)[-1].usage is not None
    return provider.shutdown


def google_genai(openai_url: str, provider_url: str, endpoint: str, token: str) -> Callable[[], None]:
    """``google-genai`` with contrib's ``opentelemetry-instrumentation-google-genai``."""
    from google import genai
    from google.genai import types

    import otel_margin

    provider = otel_margin.instrument(
        "e2e-gemini", endpoint=endpoint, token=token, instrumentations=["opentelemetry-instrumentation-google-genai"]
    )
    client = genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=provider_url))
    with otel_margin.customer("acct_gemini", feature="generate"):
        assert client.models.generate_content(model="gemini-2.5-flash", contents="How are our margins?").text == ANSWER
    with otel_margin.customer("acct_gemini", feature="generate-stream"):
        chunks = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="Hi"))
        assert "".join(chunk.text or "" for chunk in chunks) == ANSWER
    return provider.shutdown


def pydantic_ai(openai_url: str, provider_url: str, endpoint: str, token: str) -> Callable[[], None]:
    """pydantic-ai's own instrumentation, an agent with one tool on an OpenAI and on an Anthropic model."""
    from pydantic_ai import Agent
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.anthropic import AnthropicProvider
    from pydantic_ai.providers.openai import OpenAIProvider

    import otel_margin

    provider = otel_margin.instrument("e2e-pydantic-ai", endpoint=endpoint, token=token)
    Agent.instrument_all()
    models = {
        "agent-openai": OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(base_url=openai_url, api_key="sk")),
        "agent-anthropic": AnthropicModel(
            "claude-sonnet-4-5", provider=AnthropicProvider(base_url=provider_url, api_key="sk-ant-test")
        ),
    }
    for feature, model in models.items():
        agent = Agent(model)

        @agent.tool_plain
        def weather(city: str) -> str:
            """The weather in a city."""
            return f"sunny in {city}"

        async def run(agent: Agent[None, str] = agent) -> str:
            return (await agent.run("Weather in Paris?")).output

        with otel_margin.customer("acct_pydantic", feature=feature):
            assert asyncio.run(run()) == ANSWER
    return provider.shutdown


def langchain(openai_url: str, provider_url: str, endpoint: str, token: str) -> Callable[[], None]:
    """LangChain through the Traceloop SDK (OpenLLMetry), the customer as a Traceloop association property."""
    from langchain_openai import ChatOpenAI
    from traceloop.sdk import Traceloop

    Traceloop.init(
        app_name="e2e-langchain",
        api_endpoint=endpoint,
        headers={"Authorization": f"Bearer {token}"},
        disable_batch=True,
        telemetry_enabled=False,
    )
    model = ChatOpenAI(model="gpt-4o-mini", base_url=openai_url, api_key="sk-test", max_retries=0)
    Traceloop.set_association_properties({"customer_id": "acct_langchain", "feature": "chain"})
    assert model.invoke("How are our margins?").content == ANSWER
    Traceloop.set_association_properties({"customer_id": "acct_langchain", "feature": "chain-stream"})
    assert "".join(str(chunk.content) for chunk in model.stream("Hi", stream_usage=True)) == ANSWER

    def flush() -> None:
        from opentelemetry import trace

        trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]

    return flush


def openlit_openai(openai_url: str, provider_url: str, endpoint: str, token: str) -> Callable[[], None]:
    """OpenLIT on the ``openai`` client; the customer as OpenAI's ``user`` parameter."""
    import openai
    import openlit

    openlit.init(
        application_name="e2e-openlit",
        otlp_endpoint=endpoint,
        otlp_headers={"Authorization": f"Bearer {token}"},
        disable_metrics=True,  # batched (the default), so each call's root span travels with it: it names the feature
    )
    client = openai.OpenAI(base_url=openai_url, api_key="sk-test", max_retries=0)
    with openlit.start_trace("chat"):  # the feature: the backend names it after the root span
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, user="acct_openlit")
        assert reply.choices[0].message.content == ANSWER
    with openlit.start_trace("chat-stream"):
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, user="acct_openlit", stream=True,
            stream_options={"include_usage": True},
        )  # fmt: skip
        assert list(stream)

    def flush() -> None:
        from opentelemetry import trace

        trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]

    return flush


def litellm_otel(openai_url: str, provider_url: str, endpoint: str, token: str) -> Callable[[], None]:
    """LiteLLM's OTel callback on the global provider that ``instrument()`` sets; the customer as ``user``."""
    import litellm

    import otel_margin

    provider = otel_margin.instrument("e2e-litellm", endpoint=endpoint, token=token, instrumentations=[])
    litellm.callbacks = ["otel"]
    with otel_margin.feature("completion"):
        reply = litellm.completion(
            model="openai/gpt-4o-mini", api_base=openai_url, api_key="sk-test", messages=MESSAGES, user="acct_litellm"
        )
        assert reply.choices[0].message.content == ANSWER
    with otel_margin.feature("completion-stream"):
        stream = litellm.completion(
            model="openai/gpt-4o-mini", api_base=openai_url, api_key="sk-test", messages=MESSAGES,
            user="acct_litellm", stream=True, stream_options={"include_usage": True},
        )  # fmt: skip
        assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == ANSWER
    with otel_margin.feature("completion-anthropic"):
        reply = litellm.completion(
            model="anthropic/claude-sonnet-4-5", api_base=provider_url, api_key="sk-ant-test", messages=MESSAGES,
            user="acct_litellm", max_tokens=400,
        )  # fmt: skip
        assert reply.choices[0].message.content == ANSWER

    def flush() -> None:
        from litellm.litellm_core_utils.thread_pool_executor import executor

        executor.shutdown(wait=True)  # LiteLLM logs (and so makes its spans) on this pool, after the call returns
        provider.shutdown()

    return flush


SCENARIOS: dict[str, Callable[[str, str, str, str], Callable[[], None]]] = {
    "anthropic-self": anthropic_self,
    "anthropic-openllmetry": anthropic_openllmetry,
    "anthropic-openllmetry-no-parent": anthropic_openllmetry_no_parent,
    "openinference-openai": openinference_openai,
    "google-genai": google_genai,
    "pydantic-ai": pydantic_ai,
    "langchain": langchain,
    "openlit": openlit_openai,
    "litellm": litellm_otel,
}


def main(scenario: str, openai_url: str, provider_url: str, endpoint: str, token: str) -> None:
    # Third-party deprecations raised inside the libraries under test are theirs, not the app's.
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", PendingDeprecationWarning)
    finish = SCENARIOS[scenario](openai_url, provider_url, endpoint, token)
    finish()  # flushes: every span is exported before the process ends


if __name__ == "__main__":
    main(*sys.argv[1:6])
