"""The OpenAI and Anthropic importers against local stand-ins of their admin APIs: every page fetched, 429s waited
out, amounts exact, and a re-import stores only the days the provider revised (the older versions kept)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import psycopg
import pytest
from pydantic import SecretStr

from otel_margin_backend.bills import sync
from otel_margin_backend.bills.anthropic_api import AnthropicBill
from otel_margin_backend.bills.config import BillsConfig
from otel_margin_backend.bills.lines import BillImportError
from otel_margin_backend.bills.openai_api import OpenAIBill, model_of
from otel_margin_backend.storage.database import Conn
from tests.backend.bills.provider_apis import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    AnthropicApi,
    OpenAIApi,
    group_by,
    serving,
)

FIRST = date(2026, 11, 1)
DAYS = [FIRST + timedelta(days=n) for n in range(5)]
LAST = DAYS[-1]
MODEL = "gpt-4o-2024-08-06"


def openai_day(n: int) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    costs = [
        {"amount": {"value": 1.25 + n, "currency": "usd"}, "line_item": f"{MODEL}, input", "project_id": "proj_A"},
        {"amount": {"value": 0.875, "currency": "usd"}, "line_item": f"{MODEL}, output", "project_id": "proj_A"},
        {"amount": {"value": 0.03, "currency": "usd"}, "line_item": "web search tool calls", "project_id": None},
    ]
    usage = [{"input_tokens": 100_000 + n, "input_cached_tokens": 2_000, "output_tokens": 30_000,
              "num_model_requests": 40, "project_id": "proj_A", "api_key_id": "key_1", "model": MODEL,
              "batch": False, "user_id": None}]  # fmt: skip
    return costs, usage


@pytest.fixture
def conn(db_url: str) -> Iterator[Conn]:
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c


@pytest.fixture
def openai_api() -> Iterator[OpenAIApi]:
    api = OpenAIApi()
    for n, day in enumerate(DAYS):
        api.costs[day], api.usage[day] = openai_day(n)
    with serving(api):
        yield api


def openai_config(api: OpenAIApi, **kw: object) -> BillsConfig:
    return BillsConfig(openai_admin_key=SecretStr(OPENAI_KEY), openai_api_base=f"{api.url}/v1", **kw)  # type: ignore[arg-type]


def import_openai(conn: Conn, api: OpenAIApi, **kw: object) -> sync.store.ImportResult:
    importer = OpenAIBill(openai_config(api, **kw))
    try:
        return sync.sync_bill(conn, importer, FIRST, LAST, trigger="cli")
    finally:
        importer.close()


def latest(conn: Conn, provider: str) -> dict[tuple[str, date], tuple[Decimal, int, int]]:
    rows = conn.execute(
        "SELECT stream, day, sum(amount), sum(input_tokens), sum(output_tokens) FROM bill_lines_latest"
        " WHERE provider = %s GROUP BY 1, 2",
        (provider,),
    ).fetchall()
    return {(s, d): (a, i, o) for s, d, a, i, o in rows}


def test_model_of_a_costs_line_item() -> None:
    assert model_of(f"{MODEL}, input") == MODEL
    assert model_of("ft:gpt-4o-mini:acme::B1, cached input") == "ft:gpt-4o-mini:acme::B1"
    assert model_of("web search tool calls") == ""
    assert model_of(None) == ""


def test_openai_pages_through_both_apis_and_stores_exact_amounts(conn: Conn, openai_api: OpenAIApi) -> None:
    result = import_openai(conn, openai_api)
    # 5 days at 2 buckets a page: 3 pages of costs, then 3 of usage.
    assert [r.path for r in openai_api.requests] == ["/v1/organization/costs"] * 3 + [
        "/v1/organization/usage/completions"
    ] * 3
    assert group_by(openai_api.requests[0]) == ["project_id", "line_item"]
    assert group_by(openai_api.requests[3]) == ["model", "project_id", "api_key_id", "batch"]
    assert {r.query["bucket_width"][0] for r in openai_api.requests} == {"1d"}
    assert len(result.revised) == 10 and result.lines == 5 * 3 + 5
    stored = latest(conn, "openai")
    assert stored[("openai.costs", FIRST)] == (Decimal("2.155"), 0, 0)
    assert stored[("openai.costs", LAST)] == (Decimal("6.155"), 0, 0)
    assert stored[("openai.usage", LAST)] == (Decimal(0), 100_004, 30_000)
    row = conn.execute(
        "SELECT model, project, api_key, line_item, cache_read_tokens, requests FROM bill_lines_latest"
        " WHERE stream = 'openai.usage' AND day = %s",
        (FIRST,),
    ).fetchone()
    assert row == (MODEL, "proj_A", "key_1", "", 2_000, 40)
    tools = conn.execute("SELECT model, project, amount FROM bill_lines_latest WHERE line_item LIKE 'web%%' "
                         "AND day = %s", (FIRST,)).fetchone()  # fmt: skip
    assert tools == ("", "", Decimal("0.03"))


def test_openai_429_is_retried_after_its_retry_after(conn: Conn, openai_api: OpenAIApi) -> None:
    openai_api.throttle = ["1"]
    result = import_openai(conn, openai_api)
    assert [r.path for r in openai_api.requests[:2]] == ["/v1/organization/costs"] * 2
    assert openai_api.requests[0].query == openai_api.requests[1].query
    assert result.lines == 20


def test_a_reimport_stores_only_the_revised_day_and_keeps_the_old_version(conn: Conn, openai_api: OpenAIApi) -> None:
    first = import_openai(conn, openai_api)
    again = import_openai(conn, openai_api)
    assert again.revised == () and again.lines == 0
    before = latest(conn, "openai")
    openai_api.costs[LAST][0]["amount"] = {"value": 9.5, "currency": "usd"}  # the provider revises the last day
    revised = import_openai(conn, openai_api)
    assert revised.revised == (("openai.costs", LAST),) and revised.lines == 3
    after = latest(conn, "openai")
    assert {k: v for k, v in after.items() if v != before[k]} == {("openai.costs", LAST): (Decimal("10.405"), 0, 0)}
    versions = conn.execute(
        "SELECT import_id, amount FROM bill_days WHERE stream = 'openai.costs' AND day = %s ORDER BY 1", (LAST,)
    ).fetchall()
    assert versions == [(first.import_id, Decimal("6.155")), (revised.import_id, Decimal("10.405"))]
    statuses = conn.execute("SELECT status, days_stored FROM bill_imports ORDER BY import_id").fetchall()
    assert statuses == [("ok", 10), ("ok", 0), ("ok", 1)]


def test_a_day_revised_to_nothing_replaces_its_lines(conn: Conn, openai_api: OpenAIApi) -> None:
    import_openai(conn, openai_api)
    openai_api.costs[LAST] = []
    result = import_openai(conn, openai_api)
    assert result.revised == (("openai.costs", LAST),)
    assert ("openai.costs", LAST) not in latest(conn, "openai")


def test_a_refused_key_fails_the_import_recording_why(conn: Conn, openai_api: OpenAIApi) -> None:
    config = BillsConfig(openai_admin_key=SecretStr("sk-admin-wrong"), openai_api_base=f"{openai_api.url}/v1")
    importer = OpenAIBill(config)
    with pytest.raises(BillImportError, match=r"HTTP 401: Invalid authorization header \(check OTEL_MARGIN_OPENAI"):
        sync.sync_bill(conn, importer, FIRST, LAST, trigger="schedule")
    importer.close()
    row = conn.execute("SELECT status, trigger, error FROM bill_imports").fetchone()
    assert row is not None and row[:2] == ("failed", "schedule") and "HTTP 401" in row[2]
    assert "sk-admin-wrong" not in row[2]
    assert conn.execute("SELECT count(*) FROM bill_lines").fetchone() == (0,)


def test_5xx_past_the_retries_fails(conn: Conn, openai_api: OpenAIApi) -> None:
    openai_api.fail = 10
    with pytest.raises(BillImportError, match="HTTP 500: Internal server error"):
        import_openai(conn, openai_api, max_retries=1)
    assert len(openai_api.requests) == 2


# -- Anthropic --------------------------------------------------------------------------------------------------------

SONNET = "claude-sonnet-4-20250514"


def anthropic_day(n: int) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    costs = [
        {"workspace_id": "wrkspc_A", "description": "Claude Sonnet 4 Usage - Input Tokens", "cost_type": "tokens",
         "context_window": "0-200k", "model": SONNET, "service_tier": "standard", "token_type": "uncached_input_tokens",
         "currency": "USD", "amount": f"{123 + n}.45"},
        {"workspace_id": None, "description": "Web Search", "cost_type": "web_search", "context_window": None,
         "model": None, "service_tier": None, "token_type": None, "currency": "USD", "amount": "1.5"},
    ]  # fmt: skip
    usage = [{"uncached_input_tokens": 40_000 + n, "cache_read_input_tokens": 5_000,
              "cache_creation": {"ephemeral_5m_input_tokens": 700, "ephemeral_1h_input_tokens": 300},
              "output_tokens": 9_000, "server_tool_use": {"web_search_requests": 2}, "model": SONNET,
              "workspace_id": "wrkspc_A", "api_key_id": "apikey_01", "service_tier": "standard",
              "context_window": "0-200k"}]  # fmt: skip
    return costs, usage


@pytest.fixture
def anthropic_api() -> Iterator[AnthropicApi]:
    api = AnthropicApi()
    for n, day in enumerate(DAYS):
        api.costs[day], api.usage[day] = anthropic_day(n)
    with serving(api):
        yield api


def test_anthropic_pages_waits_out_429_and_backs_off_on_5xx(conn: Conn, anthropic_api: AnthropicApi) -> None:
    anthropic_api.throttle = ["3"]
    waits: list[float] = []
    config = BillsConfig(anthropic_admin_key=SecretStr(ANTHROPIC_KEY), anthropic_api_base=anthropic_api.url)
    importer = AnthropicBill(config, sleep=waits.append)
    result = sync.sync_bill(conn, importer, FIRST, LAST, trigger="cli")
    anthropic_api.fail = 2
    sync.sync_bill(conn, importer, FIRST, LAST, trigger="cli")
    importer.close()
    assert waits == [3.0, 0.5, 1.0]
    paths = [r.path for r in anthropic_api.requests]
    assert paths[:4] == ["/v1/organizations/cost_report"] * 4  # the throttled one, then 3 pages
    assert group_by(anthropic_api.requests[0]) == ["workspace_id", "description"]
    assert group_by(anthropic_api.requests[4]) == ["model", "workspace_id", "api_key_id", "service_tier"]
    assert anthropic_api.requests[0].query["starting_at"] == ["2026-11-01T00:00:00Z"]
    assert anthropic_api.requests[0].query["ending_at"] == ["2026-11-06T00:00:00Z"]
    assert result.lines == 15
    stored = latest(conn, "anthropic")
    # 123.45 cents + 1.5 cents on the first day: $1.2495.
    assert stored[("anthropic.cost_report", FIRST)] == (Decimal("1.2495"), 0, 0)
    # Input includes cache reads and both cache writes: 40,000 + 5,000 + 700 + 300.
    assert stored[("anthropic.usage_report", FIRST)] == (Decimal(0), 46_000, 9_000)
    row = conn.execute(
        "SELECT model, project, api_key, service_tier, cache_read_tokens, cache_write_tokens, line_item"
        " FROM bill_lines_latest WHERE stream = 'anthropic.usage_report' AND day = %s", (FIRST,)
    ).fetchone()  # fmt: skip
    assert row == (SONNET, "wrkspc_A", "apikey_01", "standard", 5_000, 1_000, "")
    item = conn.execute("SELECT line_item FROM bill_lines_latest WHERE stream = 'anthropic.cost_report' AND day = %s"
                        " AND model <> ''", (FIRST,)).fetchone()  # fmt: skip
    assert item == ("Claude Sonnet 4 Usage - Input Tokens / uncached_input_tokens / 0-200k",)


def test_anthropic_revision_of_the_last_day(conn: Conn, anthropic_api: AnthropicApi) -> None:
    config = BillsConfig(anthropic_admin_key=SecretStr(ANTHROPIC_KEY), anthropic_api_base=anthropic_api.url)
    importer = AnthropicBill(config, sleep=lambda _: None)
    sync.sync_bill(conn, importer, FIRST, LAST, trigger="cli")
    anthropic_api.usage[LAST][0]["output_tokens"] = 9_500
    result = sync.sync_bill(conn, importer, FIRST, LAST, trigger="cli")
    importer.close()
    assert result.revised == (("anthropic.usage_report", LAST),)
    assert latest(conn, "anthropic")[("anthropic.usage_report", LAST)] == (Decimal(0), 46_004, 9_500)


def test_an_unknown_provider_points_at_the_csv_import() -> None:
    with pytest.raises(sync.PermanentError, match=r"bills import FILE\.csv --provider NAME"):
        sync.create("mistral", BillsConfig())
    with pytest.raises(BillImportError, match="OTEL_MARGIN_OPENAI_ADMIN_KEY"):
        sync.create("openai", BillsConfig())
