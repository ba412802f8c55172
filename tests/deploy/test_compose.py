"""docker-compose.yml, as Docker Compose itself reads it.

There is no Docker engine here, but Debian's ``docker-compose`` package (installed by
``scripts/install-compose.sh``) parses, interpolates and validates the file without one (``config``). The tests
read the resolved model it prints and check the stack is wired up: pinned images, healthchecks and the start
order, volumes, ports, and the same secrets on both sides of every connection.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from typer.main import get_command

from otel_margin_backend.cli import main as cli
from otel_margin_backend.settings import Settings
from tests.deploy.dockerfile import image_env

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
COMPOSE = Path("/usr/libexec/docker/cli-plugins/docker-compose")

SERVICES = {
    "timescaledb", "otel-margin", "otel-collector-init", "otel-collector", "prometheus-init", "prometheus", "grafana",
    "demo",
}  # fmt: skip
ONE_SHOT = {"otel-collector-init", "prometheus-init"}
"""Jobs that run to completion: their health is their exit status, which dependents wait for."""
PINNED_IMAGE = re.compile(r"^[a-z0-9./-]+:v?\d+\.\d+(\.\d+)?(-[a-z0-9]+)?$")
GRAFANA_REF = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}")
COLLECTOR_REF = re.compile(r"\$\{env:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<default>:-[^}]*)?\}")


def compose(*args: str, env: dict[str, str] | None = None, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``docker-compose`` on the repository's file with a clean environment (only ``env`` added)."""
    if not COMPOSE.is_file():
        pytest.fail(f"{COMPOSE} is missing: run scripts/install-compose.sh (Debian trixie's docker-compose)")
    # An empty env file, so a developer's local .env cannot change what is checked.
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    return subprocess.run(
        [str(COMPOSE), "--project-directory", str(REPO), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def resolved(tmp_path: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = compose("--profile", "demo", "config", "--format", "json", env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    model: dict[str, Any] = json.loads(result.stdout)
    return model


@pytest.fixture
def model(tmp_path: Path) -> dict[str, Any]:
    return resolved(tmp_path)


def test_docker_compose_validates_the_file(tmp_path: Path) -> None:
    for profile in ([], ["--profile", "demo"]):
        result = compose(*profile, "config", "-q", tmp_path=tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stderr == "", f"compose warned: {result.stderr}"


def test_the_stack_has_every_service_and_the_demo_only_on_request(model: dict[str, Any], tmp_path: Path) -> None:
    assert set(model["services"]) == SERVICES
    assert model["name"] == "otel-margin"
    plain = compose("config", "--services", tmp_path=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert set(plain.stdout.split()) == SERVICES - {"demo"}


def test_every_image_is_pinned(model: dict[str, Any]) -> None:
    for name, service in model["services"].items():
        image = service["image"]
        if "build" in service:
            assert image.endswith(":local"), f"{name}: a locally built image is tagged :local, got {image}"
            continue
        assert PINNED_IMAGE.match(image), f"{name}: {image} is not pinned to a version"


def test_every_long_running_service_has_a_healthcheck_and_starts_after_what_it_needs(model: dict[str, Any]) -> None:
    services = model["services"]
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service["restart"] == "no"
            assert "healthcheck" not in service
        else:
            check = service["healthcheck"]
            assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1, name
            assert not check.get("disable"), name
            for key in ("interval", "timeout", "retries", "start_period"):
                assert key in check, f"{name}: healthcheck without {key}"
        for dependency, how in service.get("depends_on", {}).items():
            wanted = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert how["condition"] == wanted, f"{name} -> {dependency}"
    needs = {name: set(service.get("depends_on", {})) for name, service in services.items()}
    assert needs["otel-margin"] == {"timescaledb"}
    assert needs["otel-collector"] == {"otel-margin", "otel-collector-init"}
    assert needs["grafana"] == {"otel-margin"}  # the backend's migrations create Grafana's read-only role
    assert needs["demo"] == {"otel-collector", "otel-margin"}
    assert needs["prometheus"] == {"otel-margin", "prometheus-init"}


def test_state_lives_in_named_volumes_and_mounted_files_exist(model: dict[str, Any]) -> None:
    declared = set(model["volumes"])
    used: set[str] = set()
    for name, service in model["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "volume":
                assert volume["source"] in declared, f"{name}: volume {volume['source']} is not declared"
                used.add(volume["source"])
            else:
                assert volume["type"] == "bind", name
                assert Path(volume["source"]).exists(), f"{name}: {volume['source']} does not exist"
                assert Path(volume["source"]).resolve().is_relative_to(REPO), f"{name}: mounts outside the repo"
                assert volume.get("read_only") is True, f"{name}: {volume['source']} should be mounted read-only"
    assert used == declared, f"declared but unused volumes: {declared - used}"
    mounts = {
        name: {v["target"]: v["source"] for v in service.get("volumes", [])}
        for name, service in model["services"].items()
    }
    assert mounts["timescaledb"]["/var/lib/postgresql/data"] == "timescaledb-data"
    assert mounts["otel-margin"]["/var/lib/otel-margin"] == "otel-margin-data"
    assert mounts["grafana"]["/var/lib/grafana"] == "grafana-data"
    assert mounts["prometheus"]["/prometheus"] == "prometheus-data"
    assert mounts["prometheus"]["/etc/prometheus/secrets"] == "prometheus-secrets"
    assert mounts["prometheus-init"]["/secrets"] == "prometheus-secrets"
    assert mounts["otel-collector"]["/var/lib/otelcol/file_storage"] == "collector-queue"
    assert mounts["otel-collector-init"]["/var/lib/otelcol/file_storage"] == "collector-queue"


def test_ports_are_published_on_localhost_by_default(model: dict[str, Any], tmp_path: Path) -> None:
    published = {
        (name, int(port["target"])): (port["host_ip"], int(port["published"]))
        for name, service in model["services"].items()
        for port in service.get("ports", [])
    }
    assert published == {
        ("otel-collector", 4317): ("127.0.0.1", 4317),
        ("otel-collector", 4318): ("127.0.0.1", 4318),
        ("otel-margin", 4318): ("127.0.0.1", 8318),
        ("grafana", 3000): ("127.0.0.1", 3000),
        ("prometheus", 9090): ("127.0.0.1", 9090),
    }
    opened = resolved(tmp_path, {"OTEL_MARGIN_BIND_ADDRESS": "0.0.0.0", "GRAFANA_PORT": "3001"})
    grafana_port = opened["services"]["grafana"]["ports"][0]
    assert (grafana_port["host_ip"], grafana_port["published"]) == ("0.0.0.0", "3001")


def backend_settings(environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The backend's settings as the container reads them: the image's ENV, then compose's environment."""
    for key in list(os.environ):
        if key.startswith("OTEL_MARGIN_"):
            monkeypatch.delenv(key)
    for key, value in {**image_env(REPO / "Dockerfile"), **environment}.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)


def test_the_backend_reaches_the_database_and_grafana_and_the_collector_share_its_secrets(
    model: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = model["services"]
    backend_env = services["otel-margin"]["environment"]
    settings = backend_settings(backend_env, monkeypatch)
    receivers, storage = settings.receivers, settings.storage
    assert (receivers.http_host, receivers.grpc_host) == ("0.0.0.0", "0.0.0.0")
    assert (receivers.http_port, receivers.grpc_port) == (4318, 4317)
    assert receivers.ingest_auth is True
    assert storage.database_url is not None
    url = urlsplit(storage.database_url.get_secret_value())
    db_env = services["timescaledb"]["environment"]
    assert (url.hostname, url.port) == ("timescaledb", 5432)
    assert (url.username, url.password, url.path) == (
        db_env["POSTGRES_USER"],
        db_env["POSTGRES_PASSWORD"],
        f"/{db_env['POSTGRES_DB']}",
    )
    token = receivers.ingest_token
    assert token is not None
    for name in ("otel-collector", "demo"):
        assert services[name]["environment"]["OTEL_MARGIN_INGEST_TOKEN"] == token.get_secret_value(), name
    assert storage.reader_password is not None
    grafana_env = services["grafana"]["environment"]
    assert grafana_env["OTEL_MARGIN_READER_PASSWORD"] == storage.reader_password.get_secret_value()


def test_secrets_and_contact_points_come_from_the_environment(tmp_path: Path) -> None:
    env = {
        "OTEL_MARGIN_INGEST_TOKEN": "tok-123",
        "OTEL_MARGIN_DB_PASSWORD": "db-pw",
        "OTEL_MARGIN_READER_PASSWORD": "reader-pw",
        "GRAFANA_ADMIN_PASSWORD": "admin-pw",
        "OTEL_MARGIN_ALERT_EMAIL": "a@example.com;b@example.com",
        "OTEL_MARGIN_SLACK_WEBHOOK_URL": "https://hooks.example.com/slack",
        "OTEL_MARGIN_GRAFANA_WEBHOOK_URL": "https://hooks.example.com/alerts",
        "OTEL_MARGIN_BUDGET_WEBHOOK_URL": "https://hooks.example.com/budgets",
        "OTEL_MARGIN_SMTP_ENABLED": "true",
        "OTEL_MARGIN_SMTP_HOST": "mail.example.com:587",
    }
    services = resolved(tmp_path, env)["services"]
    assert services["otel-margin"]["environment"]["OTEL_MARGIN_INGEST_TOKEN"] == "tok-123"
    assert services["otel-collector"]["environment"]["OTEL_MARGIN_INGEST_TOKEN"] == "tok-123"
    assert services["demo"]["environment"]["OTEL_MARGIN_INGEST_TOKEN"] == "tok-123"
    assert services["timescaledb"]["environment"]["POSTGRES_PASSWORD"] == "db-pw"
    assert services["otel-margin"]["environment"]["OTEL_MARGIN_DATABASE_URL"].startswith(
        "postgresql://otel_margin:db-pw@timescaledb:5432/"
    )
    grafana = services["grafana"]["environment"]
    assert grafana["OTEL_MARGIN_READER_PASSWORD"] == "reader-pw"
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"] == "admin-pw"
    assert grafana["OTEL_MARGIN_ALERT_EMAIL"] == "a@example.com;b@example.com"
    assert grafana["OTEL_MARGIN_SLACK_WEBHOOK_URL"] == "https://hooks.example.com/slack"
    assert grafana["OTEL_MARGIN_GRAFANA_WEBHOOK_URL"] == "https://hooks.example.com/alerts"
    assert (
        services["otel-margin"]["environment"]["OTEL_MARGIN_BUDGET_WEBHOOK_URL"] == "https://hooks.example.com/budgets"
    )
    assert (
        "OTEL_MARGIN_BUDGET_WEBHOOK_URL" not in grafana
        and "OTEL_MARGIN_GRAFANA_WEBHOOK_URL" not in services["otel-margin"]["environment"]
    )
    assert (grafana["GF_SMTP_ENABLED"], grafana["GF_SMTP_HOST"]) == ("true", "mail.example.com:587")


def test_the_collector_runs_the_gateway_config_with_everything_it_reads(model: dict[str, Any]) -> None:
    collector = model["services"]["otel-collector"]
    mounts = {v["target"]: v["source"] for v in collector["volumes"]}
    (config_arg,) = [a for a in collector["command"] if a.startswith("--config=")]
    target = config_arg.removeprefix("--config=")
    assert Path(mounts[target]) == REPO / "collector-config" / "gateway.yaml"
    gateway = (REPO / "collector-config" / "gateway.yaml").read_text()
    gateway_config = yaml.safe_load(gateway)
    for ref in COLLECTOR_REF.finditer(gateway):
        if ref["default"] is None:
            assert ref["name"] in collector["environment"], f"the collector needs {ref['name']}"
    assert collector["environment"]["OTEL_MARGIN_ENDPOINT"] == "otel-margin:4317"
    queue_dir = collector["environment"]["OTEL_MARGIN_QUEUE_DIR"]
    assert mounts[queue_dir] == "collector-queue"
    health = gateway_config["extensions"]["health_check"]["endpoint"]
    assert collector["healthcheck"]["test"][-1] == f"http://127.0.0.1:{health.rsplit(':', 1)[1]}/"
    # The probe the init job copies into the shared volume is the one the healthcheck runs.
    probe = Path(collector["healthcheck"]["test"][1])
    assert mounts[str(probe.parent)] == "collector-probe"
    init = model["services"]["otel-collector-init"]
    init_mounts = {v["source"]: v["target"] for v in init["volumes"]}
    assert f"{init_mounts['collector-probe']}/{probe.name}" in init["command"][-1]


def test_grafana_gets_the_provisioning_dashboards_and_every_variable_they_read(model: dict[str, Any]) -> None:
    grafana = model["services"]["grafana"]
    mounts = {v["target"]: Path(v["source"]) for v in grafana["volumes"] if v["type"] == "bind"}
    assert mounts["/etc/grafana/provisioning"] == REPO / "dashboards" / "provisioning"
    provider = yaml.safe_load((REPO / "dashboards/provisioning/dashboards/otel-margin.yaml").read_text())
    assert mounts[provider["providers"][0]["options"]["path"]] == REPO / "dashboards"
    referenced = {
        ref["name"]
        for path in (REPO / "dashboards" / "provisioning").rglob("*.yaml")
        for line in path.read_text().splitlines()
        if not line.lstrip().startswith("#")
        for ref in GRAFANA_REF.finditer(line)
    }
    assert referenced, "the provisioning files read their secrets from the environment"
    missing = referenced - set(grafana["environment"])
    assert not missing, f"Grafana's environment lacks {sorted(missing)}"
    for name in referenced:
        assert grafana["environment"][name], f"{name} is empty: Grafana would reject the provisioning file"


def test_the_demo_service_runs_the_cli_demo_command(model: dict[str, Any]) -> None:
    demo = model["services"]["demo"]
    backend = model["services"]["otel-margin"]
    assert demo["build"]["context"] == backend["build"]["context"] == str(REPO)
    assert demo["build"]["dockerfile"] == backend["build"]["dockerfile"] == "Dockerfile"
    assert "demo" in demo["build"]["args"]["OTEL_MARGIN_EXTRAS"].split(",")
    command = demo["command"]
    assert command[0] == "demo"
    assert "http://otel-collector:4318" in command
    commands: dict[str, Any] = getattr(get_command(cli.app), "commands", {})
    demo_command = commands.get("demo")
    if demo_command is None:
        pytest.fail("otel-margin has no `demo` command, which docker-compose.yml's demo service runs", pytrace=False)
    # Parses the arguments exactly as the container's `otel-margin demo ...` would; unknown options fail here.
    demo_command.make_context("demo", list(command[1:]))
