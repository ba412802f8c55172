"""Span ids named after the demo's calls, so that running the demo again sends the same spans.

The backend identifies a span by its trace and span id and a provider call by its trace and response id. With
the SDK's random ids, a second run of the demo month would be booked as a second month of calls on the same
days. Inside ``named_call(name)`` the trace id and the span ids are derived from ``name`` (and the stub answers
with a response id derived from it too), so a rerun is a redelivery that the backend already deduplicates.
Outside it, ids are random as usual.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

__all__ = ["CALL_HEADER", "NamedCallIds", "call_digest", "named_call"]

CALL_HEADER = "x-demo-call"
"""Request header carrying the call's digest to the demo's OpenAI stub, which derives its response id from it."""

_current: ContextVar[tuple[str, Iterator[int]] | None] = ContextVar("otel_margin_demo_call", default=None)


def call_digest(name: str, part: str = "", size: int = 16) -> int:
    """A non-zero integer of ``size`` bytes derived from the call's name (and which id of it is asked for)."""
    value = int.from_bytes(hashlib.blake2b(f"{name}\x00{part}".encode(), digest_size=size).digest(), "big")
    return value or 1


@contextmanager
def named_call(name: str) -> Iterator[None]:
    """Spans started inside the block get ids derived from ``name``: the same name, the same ids."""
    token = _current.set((name, itertools.count()))
    try:
        yield
    finally:
        _current.reset(token)


class NamedCallIds(IdGenerator):
    """Ids from the call named by ``named_call``, random ones elsewhere."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_trace_id(self) -> int:
        """The call's trace id (a root span of the call starts the trace)."""
        call = _current.get()
        return self._random.generate_trace_id() if call is None else call_digest(call[0], "trace", 16)

    def generate_span_id(self) -> int:
        """The call's n-th span id."""
        call = _current.get()
        return self._random.generate_span_id() if call is None else call_digest(call[0], f"span{next(call[1])}", 8)
