"""Anthropic's bill through its Usage and Cost Admin API, with ``httpx`` (the ``anthropic`` client has no admin
endpoints in the versions otel-margin installs).

``GET /v1/organizations/cost_report`` (daily, grouped by ``workspace_id`` and ``description``) gives the amounts, in
cents as decimal strings (``"123.45"`` is $1.2345); ``GET /v1/organizations/usage_report/messages`` (daily, grouped
by ``model``, ``workspace_id``, ``api_key_id``, ``service_tier``) the token counts: uncached input, cache reads, cache
creation (5-minute and 1-hour), output. Both page with ``has_more`` / ``next_page``. A 429 is retried after its
``retry-after`` (seconds), a 5xx or a network error after an exponential backoff (0.5 s doubling, at most 8 s),
``max_retries`` times. The admin key travels in ``x-api-key`` and is never logged.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from otel_margin_backend.bills.config import ANTHROPIC_API_BASE, BillsConfig
from otel_margin_backend.bills.lines import BillImportError, BillLine, Progress
from otel_margin_backend.bills.wire import WireModel, parse

log = logging.getLogger(__name__)

COSTS = "anthropic.cost_report"
USAGE = "anthropic.usage_report"
API_VERSION = "2023-06-01"
PAGE_DAYS = 31
"""Most daily buckets per page."""
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 8.0
RETRY_AFTER_MAX_S = 120.0
"""A longer ``retry-after`` is not waited for: the import fails and the next one tries again."""


class AnthropicCost(WireModel):
    """One cost item of a ``cost_report`` bucket."""

    amount: Decimal
    """In the currency's lowest units (cents), as a decimal string."""
    currency: str = "USD"
    workspace_id: str | None = None
    description: str | None = None
    cost_type: str | None = None
    model: str | None = None
    service_tier: str | None = None
    token_type: str | None = None
    context_window: str | None = None


class _CacheCreation(WireModel):
    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0


class AnthropicUsage(WireModel):
    """One result of a ``usage_report/messages`` bucket."""

    uncached_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation: _CacheCreation = _CacheCreation()
    output_tokens: int = 0
    model: str | None = None
    workspace_id: str | None = None
    api_key_id: str | None = None
    service_tier: str | None = None


class _Bucket(WireModel):
    starting_at: datetime
    results: list[dict[str, Any]]


class _Page(WireModel):
    data: list[_Bucket]
    has_more: bool = False
    next_page: str | None = None


def _stamp(day: date) -> str:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat().replace("+00:00", "Z")


class AnthropicBill:
    """The ``BillImporter`` of Anthropic (see ``lines.BillImporter``).

    Args:
        config: The bills config (key, base URL, timeout, retries).
        sleep: How to wait between retries (tests pass a recorder).
    """

    provider = "anthropic"
    streams = (COSTS, USAGE)

    def __init__(self, config: BillsConfig, *, sleep: Callable[[float], None] = time.sleep) -> None:
        if config.anthropic_admin_key is None:
            raise BillImportError("no Anthropic admin key: set OTEL_MARGIN_ANTHROPIC_ADMIN_KEY (sk-ant-admin...)")
        self.source = config.anthropic_api_base or ANTHROPIC_API_BASE
        self._retries = config.max_retries
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=self.source,
            timeout=config.timeout_s,
            headers={"x-api-key": config.anthropic_admin_key.get_secret_value(), "anthropic-version": API_VERSION},
        )

    def close(self) -> None:
        """Release the client's connections."""
        self._client.close()

    def lines(self, first: date, last: date, progress: Progress) -> Iterator[BillLine]:
        """Every cost and usage line of ``[first, last]`` (see ``BillImporter.lines``)."""
        span = {"starting_at": _stamp(first), "ending_at": _stamp(last + timedelta(days=1)), "bucket_width": "1d",
                "limit": str(PAGE_DAYS)}  # fmt: skip
        groups = [("group_by[]", "workspace_id"), ("group_by[]", "description")]
        for day, raw in self._results(COSTS, "/v1/organizations/cost_report", span, groups, progress):
            c = parse(AnthropicCost, raw, f"Anthropic {COSTS}")
            item = " / ".join(p for p in (c.description or c.cost_type, c.token_type, c.context_window) if p)
            yield BillLine(COSTS, day, model=c.model or "", project=c.workspace_id or "", line_item=item,
                           service_tier=c.service_tier or "", amount=c.amount / 100,
                           currency=c.currency.upper())  # fmt: skip
        groups = [("group_by[]", g) for g in ("model", "workspace_id", "api_key_id", "service_tier")]
        for day, raw in self._results(USAGE, "/v1/organizations/usage_report/messages", span, groups, progress):
            u = parse(AnthropicUsage, raw, f"Anthropic {USAGE}")
            written = u.cache_creation.ephemeral_5m_input_tokens + u.cache_creation.ephemeral_1h_input_tokens
            yield BillLine(USAGE, day, model=u.model or "", project=u.workspace_id or "", api_key=u.api_key_id or "",
                           service_tier=u.service_tier or "",
                           input_tokens=u.uncached_input_tokens + u.cache_read_input_tokens + written,
                           cache_read_tokens=u.cache_read_input_tokens, cache_write_tokens=written,
                           output_tokens=u.output_tokens)  # fmt: skip

    def _results(
        self, stream: str, path: str, span: dict[str, str], groups: list[tuple[str, str]], progress: Progress
    ) -> Iterator[tuple[date, Any]]:
        page: list[tuple[str, str]] = []
        n = 0
        while True:
            n += 1
            progress(f"{stream}: page {n}")
            body = self._get(stream, path, [*span.items(), *groups, *page])
            parsed = parse(_Page, body, f"Anthropic {stream}")
            for bucket in parsed.data:
                day = bucket.starting_at.astimezone(UTC).date()
                for raw in bucket.results:
                    yield day, raw
            if not parsed.has_more or not parsed.next_page:
                return
            page = [("page", parsed.next_page)]

    def _get(self, stream: str, path: str, params: list[tuple[str, str | int | float | bool | None]]) -> Any:
        where = f"Anthropic {stream} at {self.source}"
        for attempt in range(self._retries + 1):
            last = attempt == self._retries
            try:
                response = self._client.get(path, params=params)
            except httpx.HTTPError as exc:
                if last:
                    raise BillImportError(f"{where}: {type(exc).__name__}: {exc}") from None
                self._sleep(_backoff(attempt))
                continue
            status = response.status_code
            if status == 200:
                try:
                    return json.loads(response.text, parse_float=Decimal)
                except ValueError:
                    raise BillImportError(f"{where} did not answer JSON") from None
            if (status == 429 or status >= 500) and not last:
                wait = _retry_after(response) if status == 429 else None
                if wait is None or wait <= RETRY_AFTER_MAX_S:
                    delay = wait if wait is not None else _backoff(attempt)
                    log.info("retrying a provider request", extra={"stream": stream, "status": status,
                                                                   "delay_s": delay})  # fmt: skip
                    self._sleep(delay)
                    continue
            raise BillImportError(f"{where}: HTTP {status}: {_message(response)}{_hint(status)}")
        raise AssertionError("unreachable")  # pragma: no cover


def _backoff(attempt: int) -> float:
    return float(min(BACKOFF_INITIAL_S * 2**attempt, BACKOFF_MAX_S))


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])[:200]
    return response.reason_phrase


def _hint(status: int) -> str:
    if status in (401, 403):
        return " (check OTEL_MARGIN_ANTHROPIC_ADMIN_KEY: the Admin API needs an admin key, sk-ant-admin...)"
    if status == 429 or status >= 500:
        return " (still failing after the retries; the next import tries again)"
    return ""
