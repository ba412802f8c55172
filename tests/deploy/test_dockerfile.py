"""The backend's Dockerfile and .dockerignore.

No Docker engine runs here, so the image is not built in the tests. What is checked: the instructions (pinned
base, non-root user, locked dependencies, bind addresses, entrypoint), that the build context after
.dockerignore holds everything ``pip install . ./backend`` needs and nothing private, and that the image's HEALTHCHECK
command and compose's really tell a ready backend from one that is not, run against the real backend.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from otel_margin_backend.settings import Settings
from tests.deploy.dockerfile import DockerIgnore, Instruction, image_env, instructions
from tests.deploy.ports import free_ports
from tests.support.backend import running_backend

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
SERVER = tomllib.loads((REPO / "backend" / "pyproject.toml").read_text())["project"]


def only(keyword: str) -> Instruction:
    found = [i for i in instructions(DOCKERFILE) if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {len(found)}"
    return found[0]


def test_the_base_image_is_python_3_11_slim_pinned_to_a_patch_release() -> None:
    base = only("FROM").args
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+", base), f"{base}: pin python:3.11.<patch>-slim-<debian>"
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"] == ">=3.11"
    assert SERVER["requires-python"] == ">=3.11"


def test_the_service_runs_as_a_fixed_non_root_user() -> None:
    user = only("USER").args
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit() and int(gid) > 0, user
    keywords = [i.keyword for i in instructions(DOCKERFILE)]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN"), "USER must follow every RUN"
    assert any(f"--uid {uid}" in i.args for i in instructions(DOCKERFILE) if i.keyword == "RUN")


def test_dependencies_are_installed_with_the_lock_file_as_constraints() -> None:
    (install,) = [i for i in instructions(DOCKERFILE) if i.keyword == "RUN" and "pip install" in i.args]
    pip = install.args.split(" && ")[1]
    assert pip.split() == ["URLLIB3_NO_OVERRIDE=1", "pip", "install", "--no-binary", "urllib3-future", "--constraint",
                           "requirements.lock", "$sdk", '"./backend[${OTEL_MARGIN_EXTRAS}]"']  # fmt: skip
    assert only("ARG").pairs() == {"OTEL_MARGIN_EXTRAS": "embedded,grafana"}
    assert {"embedded", "grafana", "demo"} <= set(SERVER["optional-dependencies"])
    copied = [i.args.split()[:-1] for i in instructions(DOCKERFILE) if i.keyword == "COPY"]
    assert sorted(s for sources in copied for s in sources) == sorted(
        ["pyproject.toml", "README.md", "requirements.lock", "otel_margin", "backend", "dashboards"]
    )


@pytest.mark.parametrize(("extras", "sdk"), [("embedded,grafana", ""), ("embedded,demo", "."), ("demo", ".")])
def test_the_image_installs_the_checkouts_sdk_only_for_the_demo(extras: str, sdk: str) -> None:
    """The demo extra names otel-margin[grpc], which pip would look for on an index: the checkout's root is it."""
    (install,) = [i for i in instructions(DOCKERFILE) if i.keyword == "RUN" and "pip install" in i.args]
    choose_sdk = install.args.split(" && ")[0]
    result = subprocess.run(["sh", "-c", f'{choose_sdk}; printf %s "$sdk"'], env={"OTEL_MARGIN_EXTRAS": extras},
                            capture_output=True, text=True, check=True)  # fmt: skip
    assert result.stdout == sdk
    assert "otel-margin[grpc]" in SERVER["optional-dependencies"]["demo"]


def test_the_container_binds_every_interface_and_runs_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    env = image_env(DOCKERFILE)
    assert env["OTEL_MARGIN_HTTP_HOST"] == "0.0.0.0"
    assert env["OTEL_MARGIN_GRPC_HOST"] == "0.0.0.0"
    workdirs = [i.args for i in instructions(DOCKERFILE) if i.keyword == "WORKDIR"]
    assert env["OTEL_MARGIN_DATA_DIR"] == workdirs[-1], "the service runs in its data dir (the volume)"
    for key in [k for k in os.environ if k.startswith("OTEL_MARGIN_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    receivers = Settings(_env_file=None).receivers
    assert (receivers.http_host, receivers.grpc_host) == ("0.0.0.0", "0.0.0.0")
    assert only("EXPOSE").args.split() == [str(receivers.grpc_port), str(receivers.http_port)]
    assert only("ENTRYPOINT").exec_form() == ["otel-margin"]
    assert "otel-margin" in SERVER["scripts"]
    assert only("CMD").exec_form() == ["serve"]


def test_the_build_context_holds_what_pip_needs_and_nothing_private() -> None:
    ignore = DockerIgnore.read(REPO / ".dockerignore")
    needed = ["pyproject.toml", "README.md", "requirements.lock", "Dockerfile"]
    needed += [p.relative_to(REPO).as_posix() for root in ("otel_margin", "backend") for p in (REPO / root).rglob("*")
               if p.is_file() and "__pycache__" not in p.parts]  # fmt: skip
    needed += [p.relative_to(REPO).as_posix() for p in (REPO / "dashboards" / "json").glob("*.json")]
    needed += ["dashboards/provisioning/alerting/rules.yaml"]
    assert any(n.endswith(".sql") for n in needed), "the migrations must be in the context"
    assert "backend/pyproject.toml" in needed and "backend/hatch_build.py" in needed
    kept_out = [n for n in needed if n != "Dockerfile" and ignore.excluded(n)]
    assert kept_out == [], f"the image build needs these but .dockerignore drops them: {kept_out[:5]}"
    private = [".env", ".git/config", ".venv/bin/python", "tests/conftest.py", "bench/x.py", "scripts/test.sh"]
    private += ["backend/otel_margin_backend/__pycache__/cli.cpython-311.pyc", ".mypy_cache/x"]
    private += ["dashboards/src/otel_margin_dashboards/__init__.py", "dashboards/build.py"]
    for path in private:
        assert ignore.excluded(path), f"{path} would be sent to the Docker daemon"


def healthcheck_code(test: list[str]) -> str:
    assert test[:2] == ["python", "-c"], test
    return test[2]


def run_check(code: str, port: int) -> subprocess.CompletedProcess[str]:
    """Run a healthcheck's Python as the container would, with the backend's HTTP port where it expects it."""
    return subprocess.run(
        [sys.executable, "-c", code.replace("127.0.0.1:4318", f"127.0.0.1:{port}")],
        env={"OTEL_MARGIN_HTTP_PORT": str(port), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def healthchecks() -> dict[str, str]:
    """The image's HEALTHCHECK and docker-compose.yml's for the backend, as Python code."""
    args = only("HEALTHCHECK").args
    assert "--interval=" in args and "--start-period=" in args
    image = healthcheck_code(Instruction("CMD", args.split(" CMD ", 1)[1]).exec_form())
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    test = compose["services"]["otel-margin"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    return {"image": image, "compose": healthcheck_code(test[1:])}


@pytest.mark.parametrize("which", ["image", "compose"])
def test_the_healthcheck_passes_when_the_backend_is_ready(which: str, db_url: str, tmp_path: Path) -> None:
    code = healthchecks()[which]
    assert "/readyz" in code
    with running_backend(db_url, tmp_path) as backend:
        result = run_check(code, backend.http_port)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("which", ["image", "compose"])
def test_the_healthcheck_fails_when_the_database_is_unreachable_or_the_backend_is_down(
    which: str, tmp_path: Path
) -> None:
    code = healthchecks()[which]
    (closed_db,) = free_ports(1)
    unreachable = f"postgresql://postgres@127.0.0.1:{closed_db}/otel_margin"
    with running_backend(unreachable, tmp_path, db_connect_timeout_s=1.0) as backend:
        # Alive (/healthz answers) but not ready: /readyz answers 503, the check must fail.
        not_ready = run_check(code, backend.http_port)
    assert not_ready.returncode != 0
    (nothing,) = free_ports(1)
    down = run_check(code, nothing)
    assert down.returncode != 0


PRE_FIX_DOCKERIGNORE = """*
!pyproject.toml
!README.md
!requirements.lock
!otel_margin
!backend
**/__pycache__
"""
"""The .dockerignore shipped before the dashboards were let in: ``COPY dashboards`` found nothing to copy."""


def copy_sources(dockerfile: Path) -> list[str]:
    """Every context path a COPY or ADD of any stage reads (``--from=`` copies read another stage, not the context)."""
    sources: list[str] = []
    for instruction in instructions(dockerfile):
        if instruction.keyword not in ("COPY", "ADD"):
            continue
        words = [w for w in instruction.args.split() if not w.startswith("--")]
        if any(w.startswith("--from=") for w in instruction.args.split()):
            continue
        sources += [w.rstrip("/") for w in words[:-1]]
    return sources


def missing_from_context(ignore: DockerIgnore, dockerfile: Path) -> list[str]:
    """COPY/ADD sources that the build context would not hold (a directory must keep at least one file)."""
    missing = []
    for source in copy_sources(dockerfile):
        path = REPO / source
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        if not files or all(ignore.excluded(f.relative_to(REPO).as_posix()) for f in files):
            missing.append(source)
    return missing


DOCKERFILES = sorted([*REPO.glob("Dockerfile*"), *REPO.glob("*/Dockerfile*")])


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_copy_source_of_every_stage_is_in_the_build_context(dockerfile: Path) -> None:
    assert copy_sources(dockerfile), f"{dockerfile} copies nothing"
    assert missing_from_context(DockerIgnore.read(REPO / ".dockerignore"), dockerfile) == []


def test_the_context_check_catches_the_dashboards_the_old_dockerignore_filtered_out(tmp_path: Path) -> None:
    old = tmp_path / ".dockerignore"
    old.write_text(PRE_FIX_DOCKERIGNORE)
    assert missing_from_context(DockerIgnore.read(old), DOCKERFILE) == ["dashboards"]
