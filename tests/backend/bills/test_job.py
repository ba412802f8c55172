"""The daily import inside ``serve``: every configured provider imported over the last ``sync_days`` days; a failing
one is counted and recorded, never raised into the service; the mapping file is loaded at start."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from pydantic import SecretStr

from otel_margin_backend.bills.config import BillsConfig
from otel_margin_backend.bills.job import BillSyncJob
from tests.backend.bills.provider_apis import OPENAI_KEY, AnthropicApi, OpenAIApi, serving
from tests.backend.bills.test_importers import openai_day


def test_run_once_imports_each_configured_provider_and_survives_a_failing_one(db_url: str, tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    mapping = tmp_path / "map.yaml"
    mapping.write_text("openai:\n  projects:\n    proj_A: checkout\n")
    with serving(OpenAIApi()) as openai_api, serving(AnthropicApi()) as anthropic_api:
        assert isinstance(openai_api, OpenAIApi)
        openai_api.costs[today], openai_api.usage[today] = openai_day(0)
        config = BillsConfig(
            openai_admin_key=SecretStr(OPENAI_KEY), openai_api_base=f"{openai_api.url}/v1",
            anthropic_admin_key=SecretStr("sk-ant-admin-wrong"), anthropic_api_base=anthropic_api.url,
            sync_days=3, mapping_file=mapping, max_retries=0,
        )  # fmt: skip
        job = BillSyncJob(db_url, config)

        async def go() -> int:
            await job.start()
            assert job.running  # a provider is configured and the interval is daily
            done = len(await job.run_once())
            await job.shutdown()
            await job.shutdown()  # twice is safe
            return done

        assert asyncio.run(go()) == 1
    assert job.failures == 1
    with psycopg.connect(db_url) as conn:
        imports = conn.execute("SELECT provider, status, trigger, first_day, last_day FROM bill_imports"
                               " ORDER BY provider").fetchall()  # fmt: skip
        mapped = conn.execute("SELECT provider, kind, external_id, service FROM bill_mappings").fetchall()
    assert imports == [("anthropic", "failed", "schedule", today - timedelta(days=2), today),
                       ("openai", "ok", "schedule", today - timedelta(days=2), today)]  # fmt: skip
    assert mapped == [("openai", "project", "proj_A", "checkout")]


def test_without_keys_the_job_does_not_run(db_url: str) -> None:
    job = BillSyncJob(db_url, BillsConfig())

    async def go() -> bool:
        await job.start()
        return job.running

    assert asyncio.run(go()) is False
