"""``otel-margin replay samples.jsonl``: check a sample of your usage before rollout.

Each line is one usage event in the REST shape (``POST /v1/usage``). The events go through a backend — a
throwaway one on a private embedded database by default, so nothing is stored for real — and the cost it
computed for each is printed beside what the simulator computes for the same call on the same model, at the
event's time. The two are different code paths over the same price book: they should agree to the last digit.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
from pydantic import ValidationError

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.pipeline.textfile import read_text
from otel_margin_backend.pricing import build_book
from otel_margin_backend.receivers.rest_usage import UsageIn
from otel_margin_backend.service.backend import BackgroundBackend, prepare
from otel_margin_backend.service.tokens import resolve_token
from otel_margin_backend.settings import Settings
from otel_margin_backend.simulator.repricing import ShapePricer, interval_of, tier_starts
from otel_margin_backend.simulator.shapes import TierSlice
from otel_margin_backend.storage.database import Store


@dataclass(frozen=True, slots=True)
class ReplayRow:
    """One replayed event: what the pipeline stored beside what the simulator computes for it."""

    request_id: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    status: str
    cost: Decimal | None
    """What the backend computed and stored."""
    simulated: Decimal | None
    """What the simulator computes for the same call and model."""

    @property
    def agrees(self) -> bool:
        """True when the pipeline's cost and the simulator's cost are the same (both unpriced counts as agreeing)."""
        return self.cost == self.simulated


def read_samples(path: Path) -> list[dict[str, object]]:
    """The events of a JSONL file, validated; a bad line is named with its number."""
    lines = read_text(path, what="JSONL sample file").splitlines()
    events = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
            UsageIn.model_validate(data)
        except orjson.JSONDecodeError as exc:
            raise PermanentError(f"{path}:{number}: not JSON: {exc}") from None
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            raise PermanentError(f"{path}:{number}: {where}: {problem['msg']}") from None
        events.append(data)
    if not events:
        raise PermanentError(f"{path} holds no usage events")
    return events


def replay(path: Path, settings: Settings) -> list[ReplayRow]:
    """Send the samples through a throwaway backend; return each event's two costs."""
    samples = read_samples(path)
    with tempfile.TemporaryDirectory(prefix="otel-margin-replay-") as scratch:
        storage = settings.storage.model_copy(update={"database_url": None, "data_dir": Path(scratch)})
        receivers = settings.receivers.model_copy(
            update={"http_port": 0, "grpc_port": 0, "ingest_token": None, "ingest_auth": True}
        )
        local = settings.model_copy(update={"storage": storage, "receivers": receivers})
        with Store(local.storage) as store:
            prepare(store, local)
            backend = BackgroundBackend(local, store.url).start()
            try:
                response = httpx.post(
                    f"{backend.http_url}/v1/usage", json=samples, timeout=60,
                    headers={"authorization": f"Bearer {resolve_token(local)}"},
                )  # fmt: skip
            finally:
                backend.stop()
            if response.status_code != 200 or response.json()["rejected"]:
                raise PermanentError(f"the backend refused samples: {response.text[:500]}")
            with store.connection() as conn:
                rows = conn.execute(
                    "SELECT request_id, provider, model, time, input_tokens, cache_read_tokens, cache_write_tokens,"
                    " output_tokens, reasoning_tokens, status, cost_total FROM usage_events ORDER BY time, request_id"
                ).fetchall()
    book = build_book(settings.pricing)
    starts = tier_starts(book)
    out = []
    for request_id, provider, model, at, inp, cache_read, cache_write, output, reasoning, status, cost in rows:
        pricer = ShapePricer(book, at, starts)
        tokens = (inp, cache_read, cache_write, output, reasoning)
        simulated = pricer.cost(provider, model, (TierSlice(interval_of(inp, starts), 1, tokens),))
        out.append(ReplayRow(request_id, provider, model, inp, output, status, cost, simulated))
    return out
