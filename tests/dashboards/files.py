"""The Grafana files otel-margin ships, loaded for tests: dashboards JSON, provisioning YAML, the generator."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2] / "dashboards"
JSON_DIR = ROOT / "json"
PROVISIONING = ROOT / "provisioning"
RULES = PROVISIONING / "alerting" / "rules.yaml"
DATASOURCES = PROVISIONING / "datasources" / "otel-margin.yaml"
DASHBOARD_PROVIDERS = PROVISIONING / "dashboards" / "otel-margin.yaml"
CONTACT_POINTS = PROVISIONING / "alerting" / "contact-points.yaml"
POLICIES = PROVISIONING / "alerting" / "policies.yaml"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@cache
def build_script() -> ModuleType:
    """dashboards/build.py, imported (it puts dashboards/src on sys.path for the sources)."""
    spec = importlib.util.spec_from_file_location("otel_margin_dashboards_build", ROOT / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dashboards() -> dict[str, dict[str, Any]]:
    """The committed dashboards by uid (what Grafana loads)."""
    loaded = (json.loads(p.read_text(encoding="utf-8")) for p in sorted(JSON_DIR.glob("*.json")))
    return {d["uid"]: d for d in loaded}


PROMETHEUS_DASHBOARDS = frozenset({"otel-margin-pipeline"})
"""Dashboards of the backend's own metrics (PromQL on Prometheus; tests/dashboards/test_pipeline.py)."""


def sql_dashboards() -> dict[str, dict[str, Any]]:
    """The committed dashboards that read the database (raw SQL on the ``otel-margin`` datasource)."""
    return {uid: board for uid, board in dashboards().items() if uid not in PROMETHEUS_DASHBOARDS}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those inside rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def rules() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(group, rule) for every alert rule of rules.yaml."""
    return [(group, rule) for group in load_yaml(RULES)["groups"] for rule in group["rules"]]


def rule(uid: str) -> dict[str, Any]:
    (found,) = [r for _, r in rules() if r["uid"] == uid]
    return found
