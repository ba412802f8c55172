"""``GET /v1/bills/reconcile`` on the scenario month: the CLI's figures, exact; the admin keys masked by ``doctor``."""

from __future__ import annotations

from pathlib import Path

import httpx
from pydantic import SecretStr

from otel_margin_backend.settings import Settings
from tests.backend.bills import scenario as sc
from tests.support.backend import AUTH, running_backend


def test_reconcile_over_rest(db_url: str, tmp_path: Path) -> None:
    sc.seed(db_url, tmp_path)
    with running_backend(db_url, tmp_path) as backend:
        answer = httpx.get(f"{backend.http_url}/v1/bills/reconcile",
                           params={"from": "2026-11-01", "to": "2026-11-30", "by": "provider"}, headers=AUTH,
                           timeout=30)  # fmt: skip
        projects = httpx.get(f"{backend.http_url}/v1/bills/reconcile",
                             params={"from": "2026-11-01", "to": "2026-11-30", "by": "project"}, headers=AUTH,
                             timeout=30)  # fmt: skip
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["from"], body["to"], body["by"]) == ("2026-11-01", "2026-11-30", "provider")
    (row,) = body["rows"]
    assert {k: row[k] for k in ("provider", "billed", "computed", "gap", "unseen", "price_diff", "unpriced",
                                "attributed", "coverage_pct", "missing_from", "gap_alert", "coverage_alert")} == {
        "provider": "openai", "billed": "25.35", "computed": "22.365", "gap": "2.985", "unseen": "1.5",
        "price_diff": "0.135", "unpriced": "1.35", "attributed": "21.6", "coverage_pct": "85.21",
        "missing_from": "batch-worker", "gap_alert": True, "coverage_alert": True,
    }  # fmt: skip
    assert [(p["project"], p["services"], p["unseen"]) for p in projects.json()["rows"]] == [
        ("proj_shop", "checkout", "0"), ("proj_batch", "batch-worker", "1.5")]  # fmt: skip


def test_doctor_masks_the_admin_keys() -> None:
    shown = Settings(
        openai_admin_key=SecretStr("sk-admin-secret"), anthropic_admin_key="sk-ant-admin-secret"
    ).effective()
    assert shown["OTEL_MARGIN_OPENAI_ADMIN_KEY"] == "***" and shown["OTEL_MARGIN_ANTHROPIC_ADMIN_KEY"] == "***"
    assert "secret" not in repr(Settings(openai_admin_key="sk-admin-secret").bills)
