"""A month of OpenAI traffic with three known causes of a gap between the bill and the spans.

November 2026, two models, per call 1,000 input and 500 output tokens:

* ``gpt-4o-2024-08-06`` at $0.0075 a call (the price book agrees): 100 calls a day from service ``checkout``
  (project ``proj_shop``), 10 of them without a customer; on Nov 1-10 the uninstrumented ``batch-worker``
  (project ``proj_batch``) makes 20 more that no span shows; on Nov 21-30, 18 of checkout's calls are unpriced
  (180 of the month's 6,000 spans: 3 %).
* ``gpt-4o-mini-2024-07-18`` billed at $0.00045 a call, priced 10 % lower by the price book ($0.000405): 100 calls a
  day from checkout, all with a customer.

So the month's gap, $2.985, is $1.50 unseen (batch-worker's 200 calls), $1.35 unpriced (180 calls) and $0.135 of price
difference (gpt-4o-mini); coverage is $21.60 of $25.35 billed (85.21 %).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg

from otel_margin_backend.bills import store
from otel_margin_backend.bills.lines import BillLine, by_day
from otel_margin_backend.bills.mapping import apply_mapping_file
from otel_margin_backend.pipeline.events import UsageEvent
from tests.support.events import event, run, write

FIRST = date(2026, 11, 1)
LAST = date(2026, 11, 30)
DAYS = [FIRST + timedelta(days=n) for n in range(30)]
GPT4O = "gpt-4o-2024-08-06"
MINI = "gpt-4o-mini-2024-07-18"
PER_CALL = {GPT4O: (Decimal("0.0025"), Decimal("0.005")), MINI: (Decimal("0.00015"), Decimal("0.0003"))}
"""What the provider bills a call: input, output."""
OUR_MINI = Decimal("0.000405")
MAPPING = "openai:\n  projects:\n    proj_shop: checkout\n    proj_batch: batch-worker\n"


def batch_calls(day: date) -> int:
    return 20 if day.day <= 10 else 0


def unpriced_calls(day: date) -> int:
    return 18 if day.day >= 21 else 0


def spans() -> list[UsageEvent]:
    events: list[UsageEvent] = []
    n = 0
    for day in DAYS:
        at = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
        for i in range(100):
            n += 1
            priced = i >= unpriced_calls(day)
            customer = "(unattributed)" if i >= 90 else f"acct_{i % 7}"
            e = event(n, time=at + timedelta(seconds=i), customer=customer, model=GPT4O, input_tokens=1000,
                      output_tokens=500, cost="0.0075" if priced else None)  # fmt: skip
            events.append(dataclasses.replace(e, service="checkout", environment="production"))
        for i in range(100):
            n += 1
            e = event(n, time=at + timedelta(minutes=5, seconds=i), customer=f"acct_{i % 7}", model=MINI,
                      input_tokens=1000, output_tokens=500, cost=str(OUR_MINI))  # fmt: skip
            events.append(dataclasses.replace(e, service="checkout", environment="production"))
    return events


def bill() -> list[BillLine]:
    lines: list[BillLine] = []
    for day in DAYS:
        calls = [(GPT4O, "proj_shop", "key_shop", 100), (GPT4O, "proj_batch", "key_batch", batch_calls(day)),
                 (MINI, "proj_shop", "key_shop", 100)]  # fmt: skip
        for model, project, key, k in calls:
            if not k:
                continue
            per_in, per_out = PER_CALL[model]
            lines.append(BillLine("openai.costs", day, model=model, project=project, line_item=f"{model}, input",
                                  amount=per_in * k))  # fmt: skip
            lines.append(BillLine("openai.costs", day, model=model, project=project, line_item=f"{model}, output",
                                  amount=per_out * k))  # fmt: skip
            lines.append(BillLine("openai.usage", day, model=model, project=project, api_key=key, requests=k,
                                  input_tokens=1000 * k, output_tokens=500 * k))  # fmt: skip
    return lines


def seed(url: str, tmp_path: Path) -> None:
    """Store the month's spans, its bill and the mapping."""
    events = spans()
    for start in range(0, len(events), 2000):
        run(write(url, events[start : start + 2000]))
    mapping = tmp_path / "bills-mapping.yaml"
    mapping.write_text(MAPPING)
    with psycopg.connect(url, autocommit=True) as conn:
        import_id = store.begin(conn, "openai", "test", FIRST, LAST, "cli")
        store.store(conn, import_id, "openai", by_day(bill(), ["openai.costs", "openai.usage"], FIRST, LAST))
        apply_mapping_file(conn, mapping)
