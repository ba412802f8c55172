"""OpenAI's bill through its Costs and Usage APIs, with the official ``openai`` client.

``GET /v1/organization/costs`` (daily buckets, grouped by ``project_id`` and ``line_item``) gives the amounts;
``GET /v1/organization/usage/completions`` (grouped by ``model``, ``project_id``, ``api_key_id``, ``batch``) the
token counts. Both page with ``has_more`` / ``next_page``. The client sends the admin key, and retries 429 (after
the answer's ``retry-after``) and 5xx with exponential backoff (``max_retries``). Its typed models read amounts as
floats, so the raw answer is read instead (``with_raw_response``) and parsed with exact decimals into the models
below, which hold only what the bill needs.

The Costs API names no model: a token line item is ``"<model>, <kind>"`` (``gpt-4o-2024-08-06, input``), and the
model is the part before the last comma. Other line items (``web search tool calls``) have no model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import openai

from otel_margin_backend.bills.config import OPENAI_API_BASE, BillsConfig
from otel_margin_backend.bills.lines import BillImportError, BillLine, Progress
from otel_margin_backend.bills.wire import WireModel, parse

COSTS = "openai.costs"
USAGE = "openai.usage"
COST_PAGE_DAYS = 180
"""Most daily buckets the Costs API returns per page."""
USAGE_PAGE_DAYS = 31
"""Most daily buckets the Usage API returns per page (``bucket_width=1d``)."""


class _Amount(WireModel):
    value: Decimal = Decimal(0)
    currency: str = "usd"


class OpenAICost(WireModel):
    """One ``organization.costs.result``."""

    amount: _Amount | None = None
    line_item: str | None = None
    project_id: str | None = None


class OpenAIUsage(WireModel):
    """One ``organization.usage.completions.result``."""

    input_tokens: int = 0
    """Input tokens, cached and cache-write tokens included."""
    input_cached_tokens: int | None = None
    input_cache_write_tokens: int | None = None
    output_tokens: int = 0
    num_model_requests: int = 0
    project_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    batch: bool | None = None
    service_tier: str | None = None


class _Bucket(WireModel):
    start_time: int
    results: list[dict[str, Any]]


class _Page(WireModel):
    data: list[_Bucket]
    has_more: bool = False
    next_page: str | None = None


def model_of(line_item: str | None) -> str:
    """The model a Costs API line item names (``gpt-4o-2024-08-06, input`` -> ``gpt-4o-2024-08-06``), or ``''``."""
    if not line_item or ", " not in line_item:
        return ""
    return line_item.rsplit(", ", 1)[0].strip()


def _day(epoch_s: int) -> date:
    return datetime.fromtimestamp(epoch_s, UTC).date()


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


class OpenAIBill:
    """The ``BillImporter`` of OpenAI (see ``lines.BillImporter``)."""

    provider = "openai"
    streams = (COSTS, USAGE)

    def __init__(self, config: BillsConfig) -> None:
        if config.openai_admin_key is None:
            raise BillImportError("no OpenAI admin key: set OTEL_MARGIN_OPENAI_ADMIN_KEY (an sk-admin-... key)")
        self.source = config.openai_api_base or OPENAI_API_BASE
        self._client = openai.OpenAI(
            api_key="unused",  # the admin endpoints authenticate with the admin key only
            admin_api_key=config.openai_admin_key.get_secret_value(),
            base_url=self.source,
            timeout=config.timeout_s,
            max_retries=config.max_retries,
        )

    def close(self) -> None:
        """Release the client's connections."""
        self._client.close()

    def lines(self, first: date, last: date, progress: Progress) -> Iterator[BillLine]:
        """Every cost and usage line of ``[first, last]`` (see ``BillImporter.lines``)."""
        usage = self._client.admin.organization.usage.with_raw_response
        start, end = _epoch(first), _epoch(last + timedelta(days=1))
        for bucket in self._pages(COSTS, progress, lambda page: usage.costs(
            start_time=start, end_time=end, bucket_width="1d", group_by=["project_id", "line_item"],
            limit=COST_PAGE_DAYS, page=page or openai.omit,
        )):  # fmt: skip
            for raw in bucket.results:
                cost = parse(OpenAICost, raw, f"OpenAI {COSTS}")
                amount = cost.amount or _Amount()
                yield BillLine(COSTS, _day(bucket.start_time), model=model_of(cost.line_item),
                               project=cost.project_id or "", line_item=cost.line_item or "",
                               amount=amount.value, currency=amount.currency.upper())  # fmt: skip
        for bucket in self._pages(USAGE, progress, lambda page: usage.completions(
            start_time=start, end_time=end, bucket_width="1d", group_by=["model", "project_id", "api_key_id", "batch"],
            limit=USAGE_PAGE_DAYS, page=page or openai.omit,
        )):  # fmt: skip
            for raw in bucket.results:
                u = parse(OpenAIUsage, raw, f"OpenAI {USAGE}")
                tier = "batch" if u.batch else (u.service_tier or "")
                yield BillLine(USAGE, _day(bucket.start_time), model=u.model or "", project=u.project_id or "",
                               api_key=u.api_key_id or "", service_tier=tier, requests=u.num_model_requests,
                               input_tokens=u.input_tokens, cache_read_tokens=u.input_cached_tokens or 0,
                               cache_write_tokens=u.input_cache_write_tokens or 0,
                               output_tokens=u.output_tokens)  # fmt: skip

    def _pages(self, stream: str, progress: Progress, call: Callable[[str | None], Any]) -> Iterator[_Bucket]:
        page: str | None = None
        n = 0
        while True:
            n += 1
            progress(f"{stream}: page {n}")
            try:
                text = call(page).text
            except openai.APIStatusError as exc:
                raise BillImportError(f"OpenAI {stream} at {self.source}: HTTP {exc.status_code}: "
                                      f"{_message(exc)}{_hint(exc.status_code)}") from None  # fmt: skip
            except openai.APIError as exc:
                raise BillImportError(f"OpenAI {stream} at {self.source}: {exc.message}") from None
            try:
                body = json.loads(text, parse_float=Decimal)
            except ValueError:
                raise BillImportError(f"OpenAI {stream} at {self.source} did not answer JSON") from None
            parsed = parse(_Page, body, f"OpenAI {stream}")
            yield from parsed.data
            if not parsed.has_more or not parsed.next_page:
                return
            page = parsed.next_page


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:200]
    return exc.message[:200]


def _hint(status: int) -> str:
    if status in (401, 403):
        return " (check OTEL_MARGIN_OPENAI_ADMIN_KEY: the Costs and Usage APIs need an admin key, sk-admin-...)"
    if status == 429 or status >= 500:
        return " (still failing after the retries; the next import tries again)"
    return ""
