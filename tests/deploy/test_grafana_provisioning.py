"""dashboards/provisioning: the datasource, dashboards provider, contact points and notification policy.

No Grafana server can run on the test machines, so the files are checked against Grafana's provisioning formats as
recorded in shared/reference/perf-reliability.md R4 (and Grafana's datasource and dashboard provider formats):
apiVersion, required keys, uid rules, every receiver a policy names exists, and environment interpolation
written the way Grafana expands it (``$VAR`` / ``${VAR}``, no defaults). They are also checked against what the
backend creates (the read-only role) and what docker-compose.yml runs (database name, mount paths).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_margin_backend.storage.config import StorageConfig

REPO = Path(__file__).resolve().parents[2]
PROVISIONING = REPO / "dashboards" / "provisioning"
DATASOURCE = PROVISIONING / "datasources" / "otel-margin.yaml"
PROVIDER = PROVISIONING / "dashboards" / "otel-margin.yaml"
CONTACT_POINTS = PROVISIONING / "alerting" / "contact-points.yaml"
POLICIES = PROVISIONING / "alerting" / "policies.yaml"
OWN_FILES = [DATASOURCE, PROVIDER, CONTACT_POINTS, POLICIES]

# pkg/services/provisioning/alerting: the keys of an alerting file (AlertingFileV1).
ALERTING_KEYS = {
    "apiVersion", "groups", "deleteRules", "contactPoints", "deleteContactPoints", "policies", "resetPolicies",
    "templates", "deleteTemplates", "muteTimes", "deleteMuteTimes",
}  # fmt: skip
UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")  # Prometheus model.ParseDuration
ENV_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}")
POSTGRES_TYPES = {"grafana-postgresql-datasource", "postgres"}
ROUTE_KEYS = {
    "receiver", "group_by", "matchers", "object_matchers", "mute_time_intervals", "active_time_intervals",
    "continue", "group_wait", "group_interval", "repeat_interval", "routes",
}  # fmt: skip
SEVERITIES = {"critical", "warning", "info"}


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path}: the top level must be a mapping"
    assert data.get("apiVersion") == 1, f"{path}: apiVersion must be 1"
    return data


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return data


def contact_points() -> dict[str, list[dict[str, Any]]]:
    """Contact point name -> its receivers (integrations)."""
    return {cp["name"]: cp["receivers"] for cp in load(CONTACT_POINTS)["contactPoints"]}


def routes(route: dict[str, Any]) -> list[dict[str, Any]]:
    """A policy and every route under it."""
    return [route, *(r for child in route.get("routes", []) for r in routes(child))]


@pytest.mark.parametrize("path", OWN_FILES, ids=lambda p: p.relative_to(PROVISIONING).as_posix())
def test_environment_interpolation_uses_grafanas_syntax(path: Path) -> None:
    # Grafana expands $VAR and ${VAR} in provisioning values (alert rule models excepted) and knows no default
    # syntax: ${VAR:-x} would stay literal. Only ${VAR} is used here, always for a documented variable.
    body = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
    refs = list(ENV_REF.finditer(body))
    leftover = ENV_REF.sub("", body)
    assert "$" not in leftover, f"{path.name}: a $ outside ${{VAR}}: {leftover[leftover.index('$') :][:60]!r}"
    documented = (REPO / "docs" / "deploy.md").read_text()
    for ref in refs:
        assert f"`{ref['name']}`" in documented, f"{ref['name']} is not documented in docs/deploy.md"


def test_the_datasource_is_otel_margins_database_read_through_the_read_only_role() -> None:
    data = load(DATASOURCE)
    assert set(data) <= {"apiVersion", "datasources", "deleteDatasources"}
    (source,) = data["datasources"]
    for key in ("name", "type", "access", "url"):
        assert source.get(key), f"the datasource needs {key}"
    assert source["uid"] == "otel-margin"
    assert source["type"] in POSTGRES_TYPES
    assert source["access"] == "proxy"
    assert source["user"] == StorageConfig.model_fields["reader_role"].default
    assert source["secureJsonData"] == {"password": "${OTEL_MARGIN_READER_PASSWORD}"}
    assert "password" not in source and "password" not in source["jsonData"], "passwords go in secureJsonData"
    json_data = source["jsonData"]
    assert json_data["timescaledb"] is True
    assert json_data["sslmode"] in {"disable", "require", "verify-ca", "verify-full"}
    assert json_data["sslmode"] == "disable"  # inside the compose network
    assert isinstance(json_data["postgresVersion"], int) and json_data["postgresVersion"] >= 1400
    db = compose()["services"]["timescaledb"]
    assert source["url"] == "timescaledb:5432", "the compose service's name and port"
    assert json_data["database"] == db["environment"]["POSTGRES_DB"]


def test_the_dashboards_provider_loads_the_mounted_folder_into_otel_margin() -> None:
    data = load(PROVIDER)
    assert set(data) == {"apiVersion", "providers"}
    (provider,) = data["providers"]
    assert provider["name"] == "otel-margin"
    assert provider["type"] == "file"
    assert provider["folder"] == "otel-margin"
    assert UID.match(provider["folderUid"])
    assert isinstance(provider["updateIntervalSeconds"], int) and provider["updateIntervalSeconds"] > 0
    assert provider["allowUiUpdates"] is False, "edits in the UI would be lost on the next rescan"
    path = provider["options"]["path"]
    grafana = compose()["services"]["grafana"]
    mounts = dict(v.split(":")[1::-1] for v in grafana["volumes"] if v.startswith("./"))
    assert mounts[path] == "./dashboards", "the provider must read the folder compose mounts"


def test_contact_points_are_valid_grafana_integrations() -> None:
    data = load(CONTACT_POINTS)
    assert set(data) <= ALERTING_KEYS
    assert set(data) == {"apiVersion", "contactPoints"}, "rules and policies live in files of their own"
    uids: list[str] = []
    for point in data["contactPoints"]:
        assert point["orgId"] == 1
        assert point["name"].startswith("otel-margin-")
        assert point["receivers"], point["name"]
        for receiver in point["receivers"]:
            assert UID.match(receiver["uid"]), f"bad uid {receiver['uid']!r} (at most 40 of A-Za-z0-9_-)"
            uids.append(receiver["uid"])
            settings = receiver["settings"]
            assert settings, f"{receiver['uid']}: settings are required"
            kind = receiver["type"]
            if kind == "email":
                assert settings["addresses"] == "${OTEL_MARGIN_ALERT_EMAIL}"
            elif kind == "slack":
                assert settings["url"] == "${OTEL_MARGIN_SLACK_WEBHOOK_URL}"
            elif kind == "webhook":
                assert settings["url"] == "${OTEL_MARGIN_ALERT_WEBHOOK_URL}"
                assert settings["httpMethod"] in {"POST", "PUT"}
            else:
                pytest.fail(f"{receiver['uid']}: unexpected integration type {kind!r}")
    assert len(uids) == len(set(uids)), "integration uids must be unique"


def test_the_policy_routes_by_severity_and_groups_by_customer_and_feature() -> None:
    data = load(POLICIES)
    assert set(data) <= ALERTING_KEYS
    assert set(data) == {"apiVersion", "policies"}
    (policy,) = data["policies"]
    assert policy["orgId"] == 1
    points = contact_points()
    for route in routes(policy):
        assert set(route) <= ROUTE_KEYS | {"orgId"}, f"unknown route keys {set(route) - ROUTE_KEYS}"
        assert route["receiver"] in points, f"{route['receiver']} is not a provisioned contact point"
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if key in route:
                assert DURATION.match(route[key]), f"{key}: {route[key]!r} is not a duration"
        for matcher in route.get("object_matchers", []):
            assert len(matcher) == 3 and matcher[1] in {"=", "!=", "=~", "!~"}, matcher
    assert {"customer", "feature", "alertname"} <= set(policy["group_by"])
    by_severity = {
        route["object_matchers"][0][2]: route["receiver"]
        for route in policy["routes"]
        if route.get("object_matchers", [[None]])[0][0] == "severity"
    }
    assert set(by_severity) == SEVERITIES

    def kinds(point: str) -> set[str]:
        return {receiver["type"] for receiver in points[point]}

    assert kinds(by_severity["critical"]) == {"email", "slack", "webhook"}
    assert kinds(by_severity["warning"]) == {"email", "webhook"}
    assert kinds(by_severity["info"]) == {"webhook"}
    assert policy["receiver"] == by_severity["warning"], "alerts without a severity are treated as warnings"


def test_every_contact_point_is_reachable_from_the_policy() -> None:
    (policy,) = load(POLICIES)["policies"]
    assert {route["receiver"] for route in routes(policy)} == set(contact_points())
