"""The provisioning files and dashboards are valid in Grafana's formats (reference/perf-reliability.md, R4)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.dashboards.files import (
    CONTACT_POINTS,
    DASHBOARD_PROVIDERS,
    DATASOURCES,
    POLICIES,
    ROOT,
    RULES,
    dashboards,
    load_yaml,
    panels,
    rules,
    sql_dashboards,
)

ALERTING_FILE_KEYS = {"apiVersion", "groups", "deleteRules", "contactPoints", "deleteContactPoints", "policies",
                      "resetPolicies", "templates", "deleteTemplates", "muteTimes", "deleteMuteTimes"}  # fmt: skip
GROUP_KEYS = {"orgId", "name", "folder", "interval", "rules"}
RULE_KEYS = {"uid", "title", "condition", "data", "dashboardUid", "dasboardUid", "panelId", "noDataState",
             "execErrState", "for", "keepFiringFor", "missing_series_evals_to_resolve", "annotations", "labels",
             "isPaused", "notification_settings", "record"}  # fmt: skip
QUERY_KEYS = {"refId", "queryType", "relativeTimeRange", "datasourceUid", "model"}
NO_DATA_STATES = {"NoData", "Alerting", "OK", "KeepLast"}
ERROR_STATES = {"Alerting", "Error", "OK", "KeepLast"}
REDUCERS = {"sum", "mean", "min", "max", "count", "last"}
REDUCE_MODES = {"", "dropNN", "replaceNN"}
EVALUATORS = {"gt": 1, "lt": 1, "within_range": 2, "outside_range": 2}
UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
DURATION = re.compile(r"^(?:\d+y)?(?:\d+w)?(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?(?:\d+ms)?$")
DASHBOARD_VARIABLE = re.compile(r"\$(?!__)\w+|\$\{(?!__)|\[\[")


def seconds(duration: str) -> int:
    units = {"y": 31_536_000, "w": 604_800, "d": 86_400, "h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(y|w|d|h|m|s)(?!s)", duration))


def provisioned_datasource() -> dict[str, Any]:
    (datasource,) = [d for d in load_yaml(DATASOURCES)["datasources"] if d["uid"] == "otel-margin"]
    found: dict[str, Any] = datasource
    return found


def test_rules_file_has_grafanas_top_level_shape() -> None:
    data = load_yaml(RULES)
    assert data["apiVersion"] == 1
    assert set(data) <= ALERTING_FILE_KEYS
    folder = load_yaml(DASHBOARD_PROVIDERS)["providers"][0]["folder"]
    for group in data["groups"]:
        assert set(group) <= GROUP_KEYS and {"name", "folder", "interval", "rules"} <= set(group)
        assert isinstance(group.get("orgId", 1), int) and group.get("orgId", 1) >= 1
        assert group["folder"] == folder, "rules live in the dashboards' folder"
        assert DURATION.match(group["interval"]) and seconds(group["interval"]) % 10 == 0, group["interval"]
        assert group["rules"], group["name"]


def test_rule_uids_are_valid_and_unique_and_titles_unique_per_folder() -> None:
    uids = Counter(rule["uid"] for _, rule in rules())
    assert all(UID.match(uid) for uid in uids), uids
    assert max(uids.values()) == 1, uids
    titles = Counter((group["folder"], rule["title"]) for group, rule in rules())
    assert max(titles.values()) == 1, titles


@pytest.mark.parametrize("uid", [rule["uid"] for _, rule in rules()])
def test_rule_is_a_valid_query_reduce_threshold_chain(uid: str) -> None:
    (rule,) = [r for _, r in rules() if r["uid"] == uid]
    assert set(rule) <= RULE_KEYS
    assert {"uid", "title", "condition", "data"} <= set(rule)
    nodes = {node["refId"]: node for node in rule["data"]}
    assert len(nodes) == len(rule["data"]), "refIds are unique"
    assert rule["condition"] in nodes, "the condition names one of the rule's nodes"
    datasource_uid = provisioned_datasource()["uid"]
    for ref, node in nodes.items():
        assert set(node) <= QUERY_KEYS and node["model"]["refId"] == ref
        span = node["relativeTimeRange"]
        assert set(span) == {"from", "to"} and all(isinstance(v, int) and v >= 0 for v in span.values())
        assert span["from"] >= span["to"]
        assert node["datasourceUid"] in ("__expr__", datasource_uid), "the datasource exists in the provisioning file"
    threshold = nodes[rule["condition"]]["model"]
    assert threshold["type"] == "threshold"
    (condition,) = threshold["conditions"]
    assert len(condition["evaluator"]["params"]) == EVALUATORS[condition["evaluator"]["type"]]
    reduce = nodes[threshold["expression"]]["model"]
    assert reduce["type"] == "reduce" and reduce["reducer"] in REDUCERS
    assert (reduce.get("settings") or {}).get("mode", "") in REDUCE_MODES
    query = nodes[reduce["expression"]]
    assert query["datasourceUid"] == datasource_uid and query["relativeTimeRange"]["from"] > 0
    model = query["model"]
    assert model["format"] == "time_series", "Grafana alerts only on time series queries"
    assert model["rawQuery"] is True and model["editorMode"] == "code" and model["rawSql"].strip()
    assert not DASHBOARD_VARIABLE.search(model["rawSql"]), "dashboard variables do not exist in alert queries"
    assert "--" not in model["rawSql"] and "/*" not in model["rawSql"], "Grafana strips SQL comments"
    assert rule["noDataState"] in NO_DATA_STATES and rule["execErrState"] in ERROR_STATES
    assert DURATION.match(rule["for"]) and rule["for"]


@pytest.mark.parametrize("uid", [rule["uid"] for _, rule in rules()])
def test_rule_labels_route_through_the_policy_tree(uid: str) -> None:
    (rule,) = [r for _, r in rules() if r["uid"] == uid]
    labels = rule["labels"]
    assert labels["severity"] in ("warning", "critical")
    assert labels["customer"] and labels["feature"]
    policy = load_yaml(POLICIES)["policies"][0]
    receivers = {c["name"] for c in load_yaml(CONTACT_POINTS)["contactPoints"]}
    routes = [r for r in policy["routes"] if ["severity", "=", labels["severity"]] in r.get("object_matchers", [])]
    assert routes, f"no route for severity={labels['severity']}"
    assert routes[0]["receiver"] in receivers
    assert {"customer", "feature"} <= set(policy["group_by"]), "the policy groups by customer and feature"


@pytest.mark.parametrize("uid", [rule["uid"] for _, rule in rules()])
def test_rule_annotations_summarize_and_link_to_an_existing_panel(uid: str) -> None:
    (rule,) = [r for _, r in rules() if r["uid"] == uid]
    assert rule["annotations"]["summary"].strip()
    boards = dashboards()
    assert rule["dashboardUid"] in boards
    assert rule["panelId"] in {p["id"] for p in panels(boards[rule["dashboardUid"]])}


def test_datasource_file_matches_what_dashboards_and_rules_expect() -> None:
    datasource = provisioned_datasource()
    assert datasource["jsonData"]["timescaledb"] is True
    for board in sql_dashboards().values():
        for panel in panels(board):
            assert panel["datasource"] == {"type": datasource["type"], "uid": datasource["uid"]}


# ------------------------------------------------------------------------------------------------ dashboards


def test_dashboard_uids_and_titles_are_unique() -> None:
    boards = dashboards()
    assert all(UID.match(uid) for uid in boards)
    titles = Counter(board["title"] for board in boards.values())
    assert max(titles.values()) == 1


def test_every_json_file_under_the_provider_path_is_a_dashboard() -> None:
    # The provider loads every *.json below dashboards/ (docker-compose mounts the folder as its path).
    for path in ROOT.rglob("*.json"):
        assert path.parent.name == "json", f"{path} would be loaded as a dashboard"


@pytest.mark.parametrize("uid", sorted(sql_dashboards()))
def test_dashboard_panels_are_raw_sql_on_the_otel_margin_datasource(uid: str) -> None:
    board = dashboards()[uid]
    assert board["annotations"] == {"list": []} and board["schemaVersion"] >= 36
    ids = Counter(p["id"] for p in panels(board))
    assert max(ids.values()) == 1, ids
    occupied: set[tuple[int, int]] = set()
    for panel in panels(board):
        assert panel["options"] is not None, panel["title"]
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "otel-margin"
            assert target["rawQuery"] is True and target["editorMode"] == "code"
            assert target["format"] == ("time_series" if panel["type"] == "timeseries" else "table")
            assert target["rawSql"].strip() and "--" not in target["rawSql"]


@pytest.mark.parametrize("uid", sorted(sql_dashboards()))
def test_variables_are_queried_and_used_through_sqlstring(uid: str) -> None:
    board = dashboards()[uid]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    for variable in variables.values():
        if variable["type"] == "textbox":  # typed by the user (a target margin): quoted by sqlstring, then cast
            assert variable["query"] == variable["current"]["value"], "opens on its default"
            continue
        assert variable["type"] == "query" and variable["datasource"]["uid"] == "otel-margin"
        assert variable["refresh"] == 2, "refreshed when the time range changes"
    for panel in panels(board):
        for target in panel["targets"]:
            sql = target["rawSql"]
            for name in re.findall(r"\$\{?(\w+)", sql):
                if name.startswith("__"):
                    continue
                assert name in variables, f"{panel['title']}: ${name} is not a variable of {uid}"
                assert f"${{{name}:sqlstring}}" in sql and f"${name}" not in sql.replace(f"${{{name}", "")
                if variables[name]["multi"]:
                    assert f"IN (${{{name}:sqlstring}})" in sql, "multi-value variables are used with IN (...)"


def test_data_links_open_existing_dashboards_with_existing_variables() -> None:
    boards = dashboards()
    links = 0
    for board in boards.values():
        for panel in panels(board):
            for override in panel.get("fieldConfig", {}).get("overrides", []):
                for prop in override["properties"]:
                    if prop["id"] != "links":
                        continue
                    for link in prop["value"]:
                        url = urlsplit(link["url"])
                        target = url.path.split("/")[2]
                        assert target in boards, link["url"]
                        names = {v["name"] for v in boards[target]["templating"]["list"]}
                        params = {k.removeprefix("var-") for k in parse_qs(url.query) if k.startswith("var-")}
                        assert params and params <= names, link["url"]
                        links += 1
    assert links >= 2, "Customer P&L and Overview link customers to Customer detail"
