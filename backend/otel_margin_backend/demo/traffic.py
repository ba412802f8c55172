"""The demo's sample app: real ``openai`` calls, traced by the real SDK and GenAI instrumentation.

Each call runs under ``otel_margin.customer()`` (or only ``feature()`` for the calls that forgot their customer)
and ``simulated_at()``, so its span reaches the backend as a call of the simulated day.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

import openai

import otel_margin
from otel_margin_backend.demo.ids import CALL_HEADER, call_digest, named_call
from otel_margin_backend.demo.scenario import Workload
from otel_margin_backend.demo.timeshift import simulated_at

QUESTION = "Summarize the attached case notes and list follow-ups."
WORKERS = 8


def planned_calls(workloads: tuple[Workload, ...], start: datetime, end: datetime) -> list[tuple[Workload, datetime]]:
    """Every call of the simulation: each workload's daily calls spread evenly over each day in [start, end)."""
    calls = []
    days = math.ceil((end - start) / timedelta(days=1))
    for day in range(days):
        day_start = start + timedelta(days=day)
        for workload in workloads:
            step = timedelta(days=1) / workload.calls_per_day
            for i in range(workload.calls_per_day):
                when = day_start + step * (i + 0.5)
                if when < end:
                    calls.append((workload, when))
    return calls


def _context(workload: Workload) -> str:
    # The feature's fixed instructions: the same text every call, as real apps send (and providers cache).
    seed = f"You are the {workload.feature} assistant. Follow the house style. "
    return (seed * (workload.context_chars // len(seed) + 1))[: workload.context_chars]


def _attributed(workload: Workload) -> AbstractContextManager[None]:
    if workload.customer is None:
        return otel_margin.feature(workload.feature)
    return otel_margin.customer(workload.customer, feature=workload.feature)


def call_name(workload: Workload, when: datetime) -> str:
    """What identifies one call of the scenario: its workload and simulated time (the same on every run)."""
    return f"{workload.customer}|{workload.feature}|{workload.model}|{workload.api}|{when.isoformat()}"


def make_call(client: openai.OpenAI, workload: Workload, when: datetime) -> None:
    """Make one model call of ``workload`` as the sample app would, at simulated time ``when``."""
    name = call_name(workload, when)
    headers = {CALL_HEADER: f"{call_digest(name, 'response', 8):016x}"}
    with named_call(name), simulated_at(when), _attributed(workload):
        if workload.api == "embeddings":
            client.embeddings.create(model=workload.model, input=_context(workload), extra_headers=headers)
        elif workload.api == "responses":
            client.responses.create(
                model=workload.model, instructions=_context(workload), input=QUESTION,
                max_output_tokens=workload.max_tokens, extra_headers=headers,
            )  # fmt: skip
        else:
            client.chat.completions.create(
                model=workload.model,
                messages=[{"role": "system", "content": _context(workload)}, {"role": "user", "content": QUESTION}],
                max_completion_tokens=workload.max_tokens, extra_headers=headers,
            )  # fmt: skip


def run(base_url: str, calls: list[tuple[Workload, datetime]], *, on_done: Callable[[], None] | None = None) -> None:
    """Make ``calls`` against the OpenAI-compatible server at ``base_url``, several at a time."""
    with openai.OpenAI(base_url=base_url, api_key="sk-demo", max_retries=0) as client, ThreadPoolExecutor(
        WORKERS, thread_name_prefix="demo-call"
    ) as pool:  # fmt: skip
        futures = [pool.submit(make_call, client, workload, when) for workload, when in calls]
        for future in futures:
            future.result()
            if on_done is not None:
                on_done()
