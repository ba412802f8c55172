"""``otel-margin grafana push`` against a local server that answers like Grafana's API.

The command goes through the real grafana-client over HTTP; the server records every request, so the tests see
what was created, that a second push writes nothing, and that a dry run only reads.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from otel_margin_backend.cli.grafana import grafana_app
from tests.dashboards.fake_grafana import FakeGrafana, serve
from tests.dashboards.files import DATASOURCES, dashboards, load_yaml, rules
from tests.support.pgcluster import free_port

ENV = {
    "OTEL_MARGIN_DATABASE_URL": "postgresql://otel_margin:owner-secret@timescaledb:5432/otel_margin",
    "OTEL_MARGIN_READER_PASSWORD": "reader-secret",
    "OTEL_MARGIN_READER_ROLE": "otel_margin_reader",
    "OTEL_MARGIN_GRAFANA_URL": None,
    "OTEL_MARGIN_GRAFANA_TOKEN": None,
    "OTEL_MARGIN_DASHBOARDS_DIR": None,
}
GROUP_INTERVALS = {
    "otel-margin-budgets": 60,
    "otel-margin-margin": 300,
    "otel-margin-pipeline": 60,
    "otel-margin-bills": 300,
}
OBJECTS = 1 + 1 + len(dashboards()) + len(rules()) + len(GROUP_INTERVALS)


@pytest.fixture(autouse=True)
def _outside_the_work_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No .env of the working tree: only ENV configures the command."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    with serve() as fake:
        yield fake


def push(grafana: FakeGrafana, *args: str, token: str | None = None, env: dict[str, str | None] | None = None,
         url: str | None = None) -> Result:  # fmt: skip
    argv = ["push", "--url", url or grafana.url, "--token", token or grafana.token, *args]
    return CliRunner().invoke(grafana_app, argv, env={**ENV, **(env or {})}, catch_exceptions=False)


def actions(result: Result) -> dict[str, int]:
    counts = {"create": 0, "update": 0, "unchanged": 0, "skip": 0}
    for line in result.stdout.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 4 and cells[3] in counts:
            counts[cells[3]] += 1
    return counts


def error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1, result.stderr
    return lines[0]


def test_first_push_installs_everything(grafana: FakeGrafana) -> None:
    result = push(grafana)
    assert result.exit_code == 0, result.stderr
    assert actions(result) == {"create": OBJECTS, "update": 0, "unchanged": 0, "skip": 0}
    (datasource,) = grafana.datasources.values()
    assert datasource["uid"] == "otel-margin" and datasource["type"] == "grafana-postgresql-datasource"
    assert (datasource["url"], datasource["user"]) == ("timescaledb:5432", "otel_margin_reader")
    assert datasource["jsonData"]["database"] == "otel_margin" and datasource["jsonData"]["timescaledb"] is True
    assert grafana.passwords == {"otel-margin": "reader-secret"}
    assert grafana.folders["otel-margin"]["title"] == "otel-margin"
    assert set(grafana.dashboards) == set(dashboards())
    assert {d["meta"]["folderUid"] for d in grafana.dashboards.values()} == {"otel-margin"}
    assert grafana.group_intervals == {("otel-margin", name): s for name, s in GROUP_INTERVALS.items()}


def test_pushed_objects_are_what_file_provisioning_installs(grafana: FakeGrafana) -> None:
    assert push(grafana).exit_code == 0
    provisioned = next(d for d in load_yaml(DATASOURCES)["datasources"] if d["uid"] == "otel-margin")
    pushed = grafana.datasources["otel-margin"]
    for key in ("name", "uid", "type", "access", "isDefault"):
        assert pushed[key] == provisioned[key], key
    assert pushed["jsonData"] == {**provisioned["jsonData"], "sslmode": "require"}
    for uid, board in dashboards().items():
        stored = {k: v for k, v in grafana.dashboards[uid]["dashboard"].items() if k not in ("id", "version")}
        assert stored == board
    for group, rule in rules():
        stored = grafana.rules[rule["uid"]]
        assert (stored["ruleGroup"], stored["folderUID"], stored["provenance"]) == (group["name"], "otel-margin", "api")
        for key in ("title", "condition", "noDataState", "execErrState", "for", "labels"):
            assert stored[key] == rule[key], key
        assert [{k: q[k] for k in ("refId", "relativeTimeRange", "datasourceUid", "model")} for q in stored["data"]] \
            == rule["data"]  # fmt: skip
        assert stored["annotations"] == {**rule["annotations"], "__dashboardUid__": rule["dashboardUid"],
                                         "__panelId__": str(rule["panelId"])}  # fmt: skip


def test_a_second_push_changes_nothing(grafana: FakeGrafana) -> None:
    assert push(grafana).exit_code == 0
    writes = len(grafana.writes)
    again = push(grafana)
    assert again.exit_code == 0, again.stderr
    assert actions(again) == {"create": 0, "update": 0, "unchanged": OBJECTS, "skip": 0}
    assert len(grafana.writes) == writes, [(r.method, r.path) for r in grafana.writes[writes:]]


def test_dry_run_prints_the_plan_and_writes_nothing(grafana: FakeGrafana) -> None:
    result = push(grafana, "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "dry run: nothing written" in result.stdout
    assert actions(result)["create"] == OBJECTS
    assert grafana.writes == [] and grafana.requests, "only reads"
    assert push(grafana).exit_code == 0
    grafana.dashboards["otel-margin-overview"]["dashboard"]["title"] = "Edited in the UI"
    planned = push(grafana, "--dry-run")
    assert actions(planned) == {"create": 0, "update": 1, "unchanged": OBJECTS - 1, "skip": 0}
    assert grafana.dashboards["otel-margin-overview"]["dashboard"]["title"] == "Edited in the UI"


def test_objects_changed_in_grafana_are_put_back_by_uid(grafana: FakeGrafana) -> None:
    assert push(grafana).exit_code == 0
    grafana.dashboards["otel-margin-budgets"]["dashboard"]["panels"].pop()
    stored = grafana.rules["otel-margin-negative-margin"]
    stored["data"][2]["model"]["conditions"][0]["evaluator"]["params"] = [-100]
    grafana.group_intervals[("otel-margin", "otel-margin-margin")] = 60
    grafana.datasources["otel-margin"]["url"] = "elsewhere:5432"
    before = len(grafana.writes)
    result = push(grafana)
    assert actions(result) == {"create": 0, "update": 4, "unchanged": OBJECTS - 4, "skip": 0}
    assert sorted((r.method, r.path) for r in grafana.writes[before:]) == [
        ("POST", "/api/dashboards/db"),
        ("PUT", "/api/datasources/uid/otel-margin"),
        ("PUT", "/api/v1/provisioning/alert-rules/otel-margin-negative-margin"),
        ("PUT", "/api/v1/provisioning/folder/otel-margin/rule-groups/otel-margin-margin"),
    ]
    assert grafana.group_intervals[("otel-margin", "otel-margin-margin")] == 300
    assert actions(push(grafana))["unchanged"] == OBJECTS


def test_force_rewrites_every_object_with_idempotent_puts(grafana: FakeGrafana) -> None:
    assert push(grafana).exit_code == 0
    snapshot = copy.deepcopy(grafana.rules)
    before = len(grafana.writes)
    result = push(grafana, "--force", env={"OTEL_MARGIN_READER_PASSWORD": "rotated"})
    assert result.exit_code == 0 and actions(result)["update"] == OBJECTS
    methods = {(r.method, r.path.split("/")[2]) for r in grafana.writes[before:]}
    assert methods == {("PUT", "datasources"), ("PUT", "folders"), ("POST", "dashboards"), ("PUT", "v1")}
    assert grafana.passwords["otel-margin"] == "rotated"
    assert grafana.rules == snapshot, "rewriting the same rules by uid changes nothing"
    assert actions(push(grafana))["unchanged"] == OBJECTS


def test_objects_provisioned_from_files_are_left_alone(grafana: FakeGrafana) -> None:
    assert push(grafana).exit_code == 0
    grafana.datasources["otel-margin"].update(readOnly=True, url="compose:5432")
    grafana.dashboards["otel-margin-overview"]["meta"]["provisioned"] = True
    grafana.dashboards["otel-margin-overview"]["dashboard"]["title"] = "From a file"
    grafana.rules["otel-margin-ingestion-stalled"].update(provenance="file", title="From a file")
    before = len(grafana.writes)
    result = push(grafana)
    assert result.exit_code == 0, result.stderr
    assert actions(result) == {"create": 0, "update": 0, "unchanged": OBJECTS - 3, "skip": 3}
    assert "file-provisioned" in result.stdout
    assert grafana.writes[before:] == []


def test_another_folder(grafana: FakeGrafana) -> None:
    assert push(grafana, "--folder", "FinOps AI").exit_code == 0
    assert grafana.folders["finops-ai"]["title"] == "FinOps AI"
    assert {d["meta"]["folderUid"] for d in grafana.dashboards.values()} == {"finops-ai"}
    assert {r["folderUID"] for r in grafana.rules.values()} == {"finops-ai"}


def test_flags_override_the_configuration(grafana: FakeGrafana) -> None:
    result = push(grafana, "--db-host", "db.internal", "--db-port", "6543", "--db-name", "margin", "--db-user",
                  "grafana_ro", "--db-password", "flag-secret", "--db-sslmode", "verify-full", "--no-timescaledb",
                  env={"OTEL_MARGIN_DATABASE_URL": None, "OTEL_MARGIN_READER_PASSWORD": None})  # fmt: skip
    assert result.exit_code == 0, result.stderr
    datasource = grafana.datasources["otel-margin"]
    assert (datasource["url"], datasource["user"]) == ("db.internal:6543", "grafana_ro")
    assert (datasource["jsonData"]["database"], datasource["jsonData"]["sslmode"]) == ("margin", "verify-full")
    assert datasource["jsonData"]["timescaledb"] is False and grafana.passwords["otel-margin"] == "flag-secret"


def test_sslmode_comes_from_the_database_url(grafana: FakeGrafana) -> None:
    url = "postgresql://u:p@db:5432/otel_margin?sslmode=disable"
    assert push(grafana, env={"OTEL_MARGIN_DATABASE_URL": url}).exit_code == 0
    assert grafana.datasources["otel-margin"]["jsonData"]["sslmode"] == "disable"


def test_a_refused_token_is_one_line(grafana: FakeGrafana) -> None:
    line = error_line(push(grafana, token="wrong"))
    assert line == f"error: Grafana at {grafana.url} refused the token (401 Unauthorized): check --token"
    assert grafana.writes == []


def test_an_unreachable_grafana_is_one_line(grafana: FakeGrafana) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = error_line(push(grafana, url=url))
    assert line == f"error: cannot reach Grafana at {url}: connection refused"


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({"OTEL_MARGIN_READER_PASSWORD": None}, (), "OTEL_MARGIN_READER_PASSWORD"),
        ({"OTEL_MARGIN_DATABASE_URL": None}, (), "--db-host and --db-name"),
        ({}, ("--dashboards", "/nonexistent-otel-margin"), "give --dashboards"),
    ],
)
def test_missing_configuration_is_one_line_and_sends_nothing(grafana: FakeGrafana, env: dict[str, Any],
                                                             args: tuple[str, ...], message: str) -> None:  # fmt: skip
    assert message in error_line(push(grafana, *args, env=env))
    assert grafana.requests == []


def test_a_bad_url_is_one_line(grafana: FakeGrafana) -> None:
    assert "is not a Grafana URL" in error_line(push(grafana, url="grafana:3000"))


def test_a_refused_change_is_one_line_naming_the_object(grafana: FakeGrafana) -> None:
    grafana.folders["legacy"] = {"id": 1, "uid": "legacy", "title": "otel-margin", "version": 1}
    line = error_line(push(grafana))
    assert line == ("error: Grafana answered 409 to create folder 'otel-margin': a folder with the same name "
                    "already exists")  # fmt: skip
