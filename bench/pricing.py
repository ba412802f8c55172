"""How many usage events per second the in-process price book prices (target: 200,000/s).

A standalone script, not part of the test run:

    .venv/bin/python bench/pricing.py [--events 200000] [--repeats 7]

Events use a realistic mix: 16 model names across OpenAI, Anthropic, Google, Bedrock, Azure
(through a deployment map), DeepSeek (off-peak pricing), Groq, xAI and OpenRouter spellings, with
dated prices, long-context tiers, a service tier on some calls, cache and reasoning tokens, and one
unknown model. Names are resolved once and cached, as in the service. Each repeat prices every
event once; the median and best repeats are reported with the machine they ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import genai_prices

from otel_margin_backend.pipeline.events import UsageEvent, UsageStatus
from otel_margin_backend.pricing import PriceBook, PriceData

NAMES = [
    ("openai", "gpt-4o-2024-08-06"),
    ("openai", "gpt-4o-mini"),
    ("openai", "o3"),
    ("openai", "gpt-5"),
    ("anthropic", "claude-sonnet-4-5-20250929"),
    ("anthropic", "claude-3-5-haiku-20241022"),
    ("gcp.gemini", "gemini-2.5-pro"),
    ("gcp.vertex_ai", "gemini-2.0-flash-001"),
    ("aws.bedrock", "us.anthropic.claude-3-5-sonnet-20240620-v1:0"),
    ("azure.ai.openai", "prod-chat"),
    ("deepseek", "deepseek-chat"),
    ("groq", "llama-3.3-70b-versatile"),
    ("x_ai", "grok-3"),
    ("openrouter", "openrouter/anthropic/claude-3.5-sonnet"),
    ("litellm", "bedrock/anthropic.claude-3-haiku-20240307-v1:0"),
    ("openai", "some-unknown-model"),
]


def make_events(count: int) -> list[UsageEvent]:
    """``count`` events cycling through ``NAMES`` over three weeks of start times."""
    start = datetime(2026, 10, 20, tzinfo=UTC)
    events = []
    for i in range(count):
        provider, model = NAMES[i % len(NAMES)]
        input_tokens = 500 + (i * 7919) % 40_000 + (250_000 if i % 97 == 0 else 0)
        attributes = {"openai.response.service_tier": "flex"} if i % 11 == 0 else {}
        events.append(
            UsageEvent(
                time=start + timedelta(seconds=i * 9),
                event_id=i.to_bytes(24, "big"),
                provider=provider,
                request_model=model,
                response_model=model,
                input_tokens=input_tokens,
                cache_read_tokens=(input_tokens // 3) if i % 3 == 0 else 0,
                cache_write_tokens=(input_tokens // 10) if i % 5 == 0 else 0,
                output_tokens=50 + (i * 104_729) % 4_000,
                reasoning_tokens=(i % 4) * 100,
                attributes=attributes,
            )
        )
    return events


def machine() -> str:
    """The CPU, core count, Python and genai-prices versions the figure was measured with."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {sys.version.split()[0]}, genai-prices {genai_prices.__version__}"
    )


def main() -> None:
    """Price the events ``--repeats`` times and print events per second."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    book = PriceBook(PriceData.bundled(), azure_deployments={"prod-chat": "gpt-4o"})
    events = make_events(args.events)
    for event in events[: len(NAMES) * 4]:
        book.price(event)  # warm the name and rate-card caches, as a running service has them

    rates = []
    for _ in range(args.repeats):
        for event in events:
            event.status = UsageStatus.UNPRICED
        began = time.perf_counter()
        for event in events:
            book.price(event)
        rates.append(len(events) / (time.perf_counter() - began))

    priced = sum(event.status is UsageStatus.PRICED for event in events)
    print(f"machine: {machine()}")
    print(f"events: {len(events):,} per repeat, {priced:,} priced, {len(events) - priced:,} unpriced (unknown model)")
    print(
        f"events/s: median {statistics.median(rates):,.0f}, best {max(rates):,.0f}, worst {min(rates):,.0f} "
        f"over {len(rates)} repeats (target 200,000)"
    )


if __name__ == "__main__":
    main()
