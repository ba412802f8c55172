"""REST usage receiver: ``POST /v1/usage`` for apps that do not run OpenTelemetry.

Accepts the payload users of MarginDash-style APIs already send, one event or a list:

    {"customer_id": "acct_1", "model_name": "gpt-4o", "prompt_tokens": 1200, "completion_tokens": 300,
     "request_id": "req_8f2", "timestamp": "2026-11-03T10:15:00Z",
     "feature": "summarize", "provider": "openai", "cached_tokens": 1000, "reasoning_tokens": 0}

Without ``provider``, the provider is the one the price book resolves ``model_name`` to (``gpt-4o`` is
``openai``), and the row says so (``usage_events.provider_source = 'model'``); a model it does not know keeps an
empty provider, grouped as ``(unknown)`` in the P&L.

Token semantics are OpenAI's: ``prompt_tokens`` includes cached (and cache-write) tokens,
``completion_tokens`` includes reasoning tokens. Idempotent by ``request_id``: a retried event is
stored once. ``timestamp`` (ISO 8601 or Unix seconds) is the time of the model call; it is
required so that a retry is recognized and the call is priced at the price then in force.

Answers 200 with ``{"accepted": n, "duplicates": d, "differing": [...], "rejected": [...]}`` when at least
one event was valid (the valid ones are durable): ``accepted`` counts the events stored by this request,
``duplicates`` those stored already (a retry), and ``differing`` names each duplicate whose numbers differ
from the stored event's (``docs/limits.md``, ``receivers/README.md``).
Failures have the one JSON error body (``web/status.py``): 400 when no event
was valid (``details`` lists the rejected ones), or the body is not JSON; 401 without the token; 413
over the size limit; 415 for another Content-Type or Content-Encoding; 503 with ``Retry-After`` when
the backend cannot take the events now. Each item is checked against the input limits
(``pipeline/limits.py``, ``docs/limits.md``): names and ids in bytes, NUL characters, token counts, costs,
and a timestamp window around the server's clock; an item that breaks one is a rejected item, never its
neighbours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

import orjson
from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from otel_margin_backend.pipeline.consumer import Accepted, UsageConsumer
from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.pipeline.events import NO_FEATURE, UsageEvent, UsageStatus, request_event_id
from otel_margin_backend.pipeline.limits import (
    DEFAULT_WINDOW,
    MAX_TOKENS,
    TimeWindow,
    cost_problem,
    text_problem,
    time_problem,
)
from otel_margin_backend.pipeline.metrics import NOOP, Metrics
from otel_margin_backend.receivers import _observe
from otel_margin_backend.receivers._codec import INLINE_BODY_BYTES, decompress
from otel_margin_backend.receivers.config import MAX_MESSAGE_BYTES
from otel_margin_backend.receivers.otlp_http import body_size
from otel_margin_backend.web.auth import Scope, TokenCheck
from otel_margin_backend.web.body import read_body
from otel_margin_backend.web.rest import NothingValid, endpoint, require_json
from otel_margin_backend.web.status import TooLarge

DIFFERS_REASON = "differs from the stored event (kept); send each call under its own request_id"
RECEIVER = "rest"
NOW = "now"
WINDOW = "window"
"""Validation-context key of the accepted ``TimeWindow`` (default: 5 years before to 1 hour after)."""
"""Validation-context key of the server's clock; without it (``replay`` checking a file) no time window applies."""


def _usable_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _usable_provider(value: str) -> str:
    _usable_text(value.lower())  # stored lower-cased, which can lengthen a few characters
    return value


Tokens = Annotated[int, Field(ge=0, le=MAX_TOKENS, strict=True)]
Text = Annotated[str, Field(min_length=1), AfterValidator(_usable_text)]
"""A name or id: within ``MAX_NAME_BYTES`` UTF-8 bytes, no NUL character."""
Provider = Annotated[str, Field(min_length=1), AfterValidator(_usable_text), AfterValidator(_usable_provider)]


class UsageIn(BaseModel):
    """One usage event as REST clients send it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    customer_id: Text
    model_name: Text
    request_id: Text
    timestamp: datetime
    prompt_tokens: Tokens
    completion_tokens: Tokens
    feature: Text | None = Field(default=None, validation_alias=AliasChoices("feature", "event_type"))
    provider: Provider | None = None
    cached_tokens: Tokens = Field(default=0, validation_alias=AliasChoices("cached_tokens", "cache_read_tokens"))
    cache_write_tokens: Tokens = Field(
        default=0, validation_alias=AliasChoices("cache_write_tokens", "cache_creation_tokens")
    )
    reasoning_tokens: Tokens = 0
    service: Text | None = None
    environment: Text | None = None
    cost: Decimal | None = Field(default=None, ge=0)
    """What the provider billed for the call, if the client knows; kept beside our own price."""

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime, info: ValidationInfo) -> datetime:
        if value.tzinfo is None:
            raise ValueError("timestamp needs a time zone (e.g. 2026-11-03T10:15:00Z)")
        try:
            value = value.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:00:00-14:00 is past year 9999 in UTC
            raise ValueError("timestamp is out of range") from None
        now = info.context.get(NOW) if isinstance(info.context, dict) else None
        if isinstance(now, datetime):
            window = info.context.get(WINDOW, DEFAULT_WINDOW) if isinstance(info.context, dict) else DEFAULT_WINDOW
            problem = time_problem(value, now, window)
            if problem is not None:
                raise ValueError(f"timestamp {problem}")
        return value

    @field_validator("cost")
    @classmethod
    def _cost_fits(cls, value: Decimal | None) -> Decimal | None:
        if value is not None:
            problem = cost_problem(value)
            if problem is not None:
                raise ValueError(f"cost {problem}")
        return value

    @model_validator(mode="after")
    def _parts_fit(self) -> UsageIn:
        if self.cached_tokens + self.cache_write_tokens > self.prompt_tokens:
            raise ValueError("cached_tokens + cache_write_tokens exceed prompt_tokens (which include them)")
        if self.reasoning_tokens > self.completion_tokens:
            raise ValueError("reasoning_tokens exceed completion_tokens (which include them)")
        return self

    def to_event(self) -> UsageEvent:
        """The usage event this REST item describes (priced later by the pipeline)."""
        return UsageEvent(
            time=self.timestamp,
            event_id=request_event_id(self.request_id),
            request_id=self.request_id,
            customer_id=self.customer_id,
            feature=self.feature or NO_FEATURE,
            provider=self.provider or "",  # normalized by the ingest pipeline, as for spans
            request_model=self.model_name,
            response_model=self.model_name,
            operation="chat",
            service=self.service,
            environment=self.environment,
            input_tokens=self.prompt_tokens,
            cache_read_tokens=self.cached_tokens,
            cache_write_tokens=self.cache_write_tokens,
            output_tokens=self.completion_tokens,
            reasoning_tokens=self.reasoning_tokens,
            status=UsageStatus.UNPRICED,
            reported_cost=self.cost,
            reported_cost_source="rest.cost" if self.cost is not None else None,
        )


def parse_events(
    payload: Any, *, now: datetime | None = None, window: TimeWindow = DEFAULT_WINDOW
) -> tuple[list[UsageEvent], list[dict[str, object]], list[int]]:
    """Valid events, one ``{"index", "request_id", "error"}`` entry per invalid item, and each event's item index.

    Args:
        payload: The decoded body: one usage object or a list of them.
        now: The server's clock for the timestamp window; None applies none.
        window: The accepted start times around ``now``.

    Returns:
        The events, the rejected items, and for each event the index of the item it came from.
    """
    items = payload if isinstance(payload, list) else [payload]
    context = {NOW: now, WINDOW: window} if now is not None else None
    events: list[UsageEvent] = []
    rejected: list[dict[str, object]] = []
    indexes: list[int] = []
    for index, item in enumerate(items):
        try:
            events.append(UsageIn.model_validate(item, context=context).to_event())
            indexes.append(index)
        except ValidationError as exc:
            request_id = item.get("request_id") if isinstance(item, dict) else None
            rejected.append(_rejected(index, request_id, "; ".join(_describe(e) for e in exc.errors())))
    return events, rejected, indexes


def _rejected(index: int, request_id: object, error: str) -> dict[str, object]:
    """A rejected item; its request id is echoed only when it is a usable one."""
    if not isinstance(request_id, str) or text_problem(request_id) is not None:
        request_id = None
    return {"index": index, "request_id": request_id, "error": error}


def _differing(index: int, event: UsageEvent) -> dict[str, object]:
    """A duplicate whose numbers differ from the stored event's (which stays)."""
    return {"index": index, "request_id": event.request_id, "reason": DIFFERS_REASON}


def _index(item: dict[str, object]) -> int:
    index = item["index"]
    return index if isinstance(index, int) else 0


def _describe(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _parse_body(
    raw: bytes, encoding: str | None, max_body_bytes: int, now: datetime, window: TimeWindow
) -> tuple[list[UsageEvent], list[dict[str, object]], list[int]]:
    body = decompress(raw, encoding, max_body_bytes)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PermanentError(f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict | list) or payload == []:
        raise PermanentError("send one usage object or a non-empty list of them")
    return parse_events(payload, now=now, window=window)


def routes(
    consumer: UsageConsumer,
    tokens: TokenCheck,
    *,
    max_body_bytes: int = MAX_MESSAGE_BYTES,
    clock: Callable[[], datetime] = _utc_now,
    metrics: Metrics = NOOP,
    window: TimeWindow = DEFAULT_WINDOW,
) -> list[Route]:
    """``POST /v1/usage``.

    Args:
        consumer: Where valid events go (the ingest pipeline).
        tokens: The token check; every request needs ``ingest``.
        max_body_bytes: The body limit, after decompression.
        clock: The server's clock, for the accepted time window.
        metrics: Where items received, accepted and rejected, and oversize bodies, are counted.
        window: The accepted start times around the clock (``NormalizeConfig.window``).

    Returns:
        The route to mount in the app.
    """

    async def post_usage(request: Request) -> Response:
        require_json(request, "usage")
        raw = b""
        try:
            raw = await read_body(request, max_body_bytes)
            encoding = request.headers.get("content-encoding")
            if len(raw) <= INLINE_BODY_BYTES and (encoding or "identity").strip().lower() in ("identity", ""):
                events, rejected, indexes = _parse_body(raw, encoding, max_body_bytes, clock(), window)
            else:  # validating a 20 MiB list takes a while: off the event loop
                events, rejected, indexes = await asyncio.to_thread(
                    _parse_body, raw, encoding, max_body_bytes, clock(), window
                )
        except TooLarge as exc:
            _observe.oversize(metrics, RECEIVER, body_size(request, raw), max_body_bytes, exc)
            raise
        received = len(events) + len(rejected)
        stored = duplicates = 0
        differing: list[dict[str, object]] = []
        if events:
            try:
                accepted = await consumer.consume_events(events)
            except Exception as exc:
                _observe.failed(metrics, RECEIVER, received, exc)
                raise
            stored, duplicates = accepted.stored, accepted.duplicates
            for position, reason in accepted.refused:
                rejected.append(_rejected(indexes[position], events[position].request_id, reason))
            rejected.sort(key=_index)
            differing = [_differing(indexes[position], events[position]) for position in accepted.differing]
        _observe.accepted(metrics, RECEIVER, received, Accepted(stored, len(rejected)))
        if not stored and not duplicates:
            raise NothingValid(rejected)
        return JSONResponse(
            {"accepted": stored, "duplicates": duplicates, "differing": differing, "rejected": rejected}
        )

    return [Route("/v1/usage", endpoint(post_usage, tokens=tokens.require(Scope.INGEST)), methods=["POST"])]
