"""Install otel-margin's datasource, folder, dashboards and alert rules into a running Grafana (``grafana push``).

Every object has a fixed uid, is read first and written only when it differs from what otel-margin ships, so a
second push changes nothing. The plan lists each object with its action:

- ``create``     it does not exist yet
- ``update``     it exists and differs (dashboards are overwritten by uid, alert rules replaced by uid)
- ``unchanged``  it exists as shipped
- ``skip``       it exists but Grafana loaded it from a provisioning file, so only that file can change it

What is shipped comes from the ``dashboards/`` folder (``json/*.json`` and ``provisioning/alerting/rules.yaml``),
the same files Grafana's file provisioning reads. Nothing is ever deleted. Grafana never returns a datasource's
password, so a changed password alone is not detected: ``force`` rewrites every object.

grafana-client is the server's ``grafana`` extra (it pulls urllib3-future, which replaces urllib3 in the whole
environment), so it is imported only by ``connect`` and the calls after it; without it the command says what to
install.
"""
# grafana-client's methods carry no annotations; every call below goes through _call(), which types its result.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from otel_margin_backend.pipeline.errors import OtelMarginError

if TYPE_CHECKING:
    from grafana_client.api import GrafanaApi
    from grafana_client.client import GrafanaException

__all__ = [
    "DATASOURCE_TYPE",
    "DATASOURCE_UID",
    "Assets",
    "DatasourceSettings",
    "GrafanaError",
    "Step",
    "apply",
    "connect",
    "default_assets_dir",
    "plan",
    "require_client",
]

DATASOURCE_UID = "otel-margin"
"""The uid every dashboard and alert rule refers to (as in dashboards/provisioning/datasources/otel-margin.yaml)."""
DATASOURCE_NAME = "otel-margin"
DATASOURCE_TYPE = "grafana-postgresql-datasource"
DEFAULT_FOLDER = "otel-margin"
"""The folder's title (and uid) by default: the one file provisioning uses too."""
MESSAGE = "otel-margin grafana push"
NOT_INSTALLED = "grafana push needs grafana-client, which is not installed: pip install 'otel-margin-server[grafana]'"
"""What to do when the ``grafana`` extra is missing."""

Action = Literal["create", "update", "unchanged", "skip"]


class GrafanaError(OtelMarginError):
    """Grafana cannot be reached, refused the token, or refused a change (one line, for the command)."""


# ----------------------------------------------------------------------------------------------- what to push


@dataclass(frozen=True, slots=True)
class DatasourceSettings:
    """How Grafana reaches otel-margin's database: as the read-only reader role."""

    host: str
    port: int
    database: str
    user: str
    password: str
    sslmode: str = "require"
    """``disable``, ``require``, ``verify-ca`` or ``verify-full``. Default: require."""
    timescaledb: bool = True
    """Grafana's TimescaleDB toggle: ``$__timeGroup`` becomes ``time_bucket()``. False for plain PostgreSQL."""

    def body(self) -> dict[str, Any]:
        """The datasource as Grafana's API takes it (the same settings as the provisioning file)."""
        return {
            "name": DATASOURCE_NAME,
            "uid": DATASOURCE_UID,
            "type": DATASOURCE_TYPE,
            "access": "proxy",
            "url": f"{self.host}:{self.port}",
            "user": self.user,
            "isDefault": False,
            "jsonData": {
                "database": self.database,
                "sslmode": self.sslmode,
                "postgresVersion": 1500,
                "timescaledb": self.timescaledb,
                "maxOpenConns": 10,
                "maxIdleConns": 2,
                "connMaxLifetime": 14400,
            },
            "secureJsonData": {"password": self.password},
        }


@dataclass(frozen=True, slots=True)
class Assets:
    """The dashboards (Grafana JSON) and alert rule groups (provisioning-file form) otel-margin ships."""

    dashboards: tuple[dict[str, Any], ...]
    groups: tuple[dict[str, Any], ...]

    @classmethod
    def load(cls, root: Path) -> Assets:
        """Read ``root/json/*.json`` and ``root/provisioning/alerting/rules.yaml``.

        Raises:
            GrafanaError: a file is missing or does not parse.
        """
        json_dir, rules = root / "json", root / "provisioning" / "alerting" / "rules.yaml"
        files = sorted(json_dir.glob("*.json"))
        if not files or not rules.is_file():
            raise GrafanaError(
                f"{root} holds no dashboards (json/*.json) and alert rules (provisioning/alerting/rules.yaml): "
                "give --dashboards, the repository's dashboards/ folder"
            )
        try:
            dashboards = tuple(json.loads(path.read_text(encoding="utf-8")) for path in files)
            groups = tuple(yaml.safe_load(rules.read_text(encoding="utf-8"))["groups"])
        except (ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
            raise GrafanaError(f"cannot read the dashboards in {root}: {exc}") from None
        return cls(dashboards=dashboards, groups=groups)


def default_assets_dir() -> Path | None:
    """Where the shipped files are: packaged with the module (``assets/``), else the source checkout's
    ``dashboards/`` folder; None when neither exists."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "assets", here.parents[2] / "dashboards"):
        if (candidate / "json").is_dir():
            return candidate
    return None


def folder_uid(title: str) -> str:
    """The folder's uid: its title as lowercase letters, digits and dashes (``FinOps AI`` -> ``finops-ai``).

    Raises:
        GrafanaError: the title has no letter or digit.
    """
    uid = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40]
    if not uid:
        raise GrafanaError(f"--folder {title!r}: a folder title needs a letter or digit")
    return uid


# --------------------------------------------------------------------------------------------------- plan


@dataclass(slots=True)
class Step:
    """One object of the plan and what pushing does to it."""

    kind: str
    uid: str
    title: str
    action: Action
    note: str = ""
    write: Callable[[], None] | None = field(default=None, repr=False)


def require_client() -> None:
    """Check that grafana-client (the server's ``grafana`` extra) is installed, before any other work.

    Raises:
        GrafanaError: it is not; the message says what to install.
    """
    if importlib.util.find_spec("grafana_client") is None:
        raise GrafanaError(NOT_INSTALLED)


def connect(url: str, token: str, *, timeout_s: float = 10.0) -> GrafanaApi:
    """A client for the Grafana at ``url`` (``http(s)://host[:port][/subpath]``), sending ``token`` as Bearer.

    Raises:
        GrafanaError: the URL is not an http(s) URL, or grafana-client (the ``grafana`` extra) is not installed.
    """
    if not re.match(r"^https?://[^/\s]+", url):
        raise GrafanaError(f"--url {url!r} is not a Grafana URL; expected http(s)://host:3000")
    try:
        from grafana_client.api import GrafanaApi
    except ImportError:
        raise GrafanaError(NOT_INSTALLED) from None
    api: GrafanaApi = GrafanaApi.from_url(url.rstrip("/"), credential=token, timeout=timeout_s)
    return api


class _Grafana:
    """grafana-client calls with Grafana's answers turned into one-line errors, and 404 into None."""

    def __init__(self, api: GrafanaApi, url: str) -> None:
        self.api = api
        self.url = url

    def call(self, what: str, fn: Callable[..., Any], *args: Any, missing_ok: bool = False, **kwargs: Any) -> Any:
        import niquests  # grafana-client's HTTP client; importable, since connect() made self.api
        from grafana_client.client import (
            GrafanaClientError,
            GrafanaException,
            GrafanaServerError,
            GrafanaTimeoutError,
            GrafanaUnauthorizedError,
        )

        try:
            return fn(*args, **kwargs)
        except GrafanaUnauthorizedError:
            raise GrafanaError(f"Grafana at {self.url} refused the token (401 Unauthorized): check --token") from None
        except GrafanaClientError as exc:
            if exc.status_code == 404 and missing_ok:
                return None
            raise GrafanaError(f"Grafana answered {exc.status_code} to {what}: {_message(exc)}") from None
        except GrafanaServerError as exc:
            raise GrafanaError(f"Grafana failed ({exc.status_code}) to {what}: {_message(exc)}") from None
        except GrafanaTimeoutError:
            raise GrafanaError(f"Grafana at {self.url} did not answer in time to {what}") from None
        except (GrafanaException, niquests.exceptions.RequestException) as exc:
            raise GrafanaError(f"cannot reach Grafana at {self.url}: {_reason(exc)}") from None


def _message(exc: GrafanaException) -> str:
    body = exc.response
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    text = str(body or "").strip()
    return text.splitlines()[0][:300] if text else "no message"


def _reason(exc: Exception) -> str:
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if errno:
        return errno.group(1).strip().lower()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def contains(remote: object, desired: object) -> bool:
    """True when ``remote`` holds everything in ``desired`` (dicts may have more keys; lists match item by item)."""
    if isinstance(desired, Mapping):
        return isinstance(remote, Mapping) and all(k in remote and contains(remote[k], v) for k, v in desired.items())
    if isinstance(desired, list):
        return (isinstance(remote, list) and len(remote) == len(desired)
                and all(contains(r, d) for r, d in zip(remote, desired, strict=True)))  # fmt: skip
    if isinstance(desired, bool) or isinstance(remote, bool):
        return remote is desired
    if isinstance(desired, int | float) and isinstance(remote, int | float):
        return float(remote) == float(desired)
    return remote == desired


_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_DURATION_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)


def duration_ms(text: str) -> int:
    """A Prometheus duration (``1h30m``, ``0s``, ``90s``) in milliseconds.

    Raises:
        GrafanaError: not such a duration.
    """
    match = _DURATION.match(text.strip()) if text.strip() else None
    if not match:
        raise GrafanaError(f"{text!r} is not a duration like 5m or 1h30m")
    return sum(int(part) * unit for part, unit in zip(match.groups(), _DURATION_MS, strict=True) if part)


def _seconds(interval: str) -> int:
    return duration_ms(interval) // 1000


def rule_body(rule: Mapping[str, Any], group: Mapping[str, Any], folder: str) -> dict[str, Any]:
    """A provisioning-file rule as the alert-rules API takes it (dashboard link as ``__dashboardUid__`` and
    ``__panelId__`` annotations)."""
    annotations = dict(rule.get("annotations") or {})
    dashboard = rule.get("dashboardUid") or rule.get("dasboardUid")
    if dashboard:
        annotations["__dashboardUid__"] = str(dashboard)
        annotations["__panelId__"] = str(rule["panelId"])
    return {
        "uid": rule["uid"],
        "orgID": int(group.get("orgId", 1)),
        "folderUID": folder,
        "ruleGroup": group["name"],
        "title": rule["title"],
        "condition": rule["condition"],
        "data": [
            {
                "refId": node["refId"],
                "queryType": node.get("queryType", ""),
                "relativeTimeRange": {
                    "from": int(node["relativeTimeRange"]["from"]),
                    "to": int(node["relativeTimeRange"]["to"]),
                },
                "datasourceUid": node["datasourceUid"],
                "model": node["model"],
            }
            for node in rule["data"]
        ],
        "noDataState": rule.get("noDataState") or "NoData",
        "execErrState": rule.get("execErrState") or "Alerting",
        "for": rule.get("for") or "0s",
        "labels": {str(k): str(v) for k, v in (rule.get("labels") or {}).items()},
        "annotations": annotations,
        "isPaused": bool(rule.get("isPaused", False)),
    }


def _same_rule(remote: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    fields = {k: v for k, v in desired.items() if k not in ("for", "orgID")}
    return contains(remote, fields) and duration_ms(str(remote.get("for") or "0s")) == duration_ms(desired["for"])


def plan(api: GrafanaApi, url: str, *, assets: Assets, datasource: DatasourceSettings, folder: str = DEFAULT_FOLDER,
         force: bool = False) -> list[Step]:  # fmt: skip
    """Read what the Grafana at ``url`` has and list what pushing would do; writes nothing.

    Raises:
        GrafanaError: Grafana cannot be reached, refused the token or answered with an error.
    """
    grafana = _Grafana(api, url)
    uid = folder_uid(folder)
    return [
        _datasource_step(grafana, datasource, force),
        _folder_step(grafana, uid, folder, force),
        *(_dashboard_step(grafana, d, uid, force) for d in assets.dashboards),
        *_rule_steps(grafana, assets.groups, uid, force),
    ]


def apply(steps: Sequence[Step]) -> None:
    """Carry out a plan in order (datasource, folder, dashboards, rules, rule groups).

    Raises:
        GrafanaError: Grafana refused a change; the objects before it were written.
    """
    for step in steps:
        if step.write is not None:
            step.write()


def _datasource_step(grafana: _Grafana, settings: DatasourceSettings, force: bool) -> Step:
    ds = grafana.api.datasource
    desired = settings.body()
    remote = grafana.call(f"read datasource {DATASOURCE_UID}", ds.get_datasource_by_uid, DATASOURCE_UID,
                          missing_ok=True)  # fmt: skip
    step = Step("datasource", DATASOURCE_UID, DATASOURCE_NAME, "create")
    if remote is None:
        step.write = lambda: grafana.call("create the datasource", ds.create_datasource, desired)
        return step
    if remote.get("readOnly"):
        step.action, step.note = "skip", "file-provisioned"
        return step
    public = {k: v for k, v in desired.items() if k != "secureJsonData"}
    has_password = bool((remote.get("secureJsonFields") or {}).get("password"))
    if not force and has_password and contains(remote, public):
        step.action = "unchanged"
        return step
    step.action = "update"
    step.write = lambda: grafana.call("update the datasource", ds.update_datasource_by_uid, DATASOURCE_UID, desired)
    return step


def _folder_step(grafana: _Grafana, uid: str, title: str, force: bool) -> Step:
    folders = grafana.api.folder
    remote = grafana.call(f"read folder {uid}", folders.get_folder, uid, missing_ok=True)
    step = Step("folder", uid, title, "create")
    if remote is None:
        step.write = lambda: grafana.call(f"create folder {title!r}", folders.create_folder, title, uid=uid)
    elif remote.get("title") != title or force:
        step.action = "update"
        step.write = lambda: grafana.call(f"rename folder {uid}", folders.update_folder, uid, title=title,
                                          version=remote.get("version"), overwrite=True)  # fmt: skip
    else:
        step.action = "unchanged"
    return step


def _dashboard_step(grafana: _Grafana, dashboard: Mapping[str, Any], folder: str, force: bool) -> Step:
    boards = grafana.api.dashboard
    uid, title = str(dashboard["uid"]), str(dashboard.get("title", ""))
    remote = grafana.call(f"read dashboard {uid}", boards.get_dashboard, uid, missing_ok=True)
    body = {"dashboard": {**dashboard, "id": None}, "folderUid": folder, "overwrite": True, "message": MESSAGE}
    step = Step("dashboard", uid, title, "create")
    step.write = lambda: grafana.call(f"save dashboard {uid}", boards.update_dashboard, body)
    if remote is None:
        return step
    meta = remote.get("meta") or {}
    if meta.get("provisioned"):
        step.action, step.note, step.write = "skip", "file-provisioned", None
        return step
    stored = {k: v for k, v in (remote.get("dashboard") or {}).items() if k not in ("id", "version")}
    if not force and meta.get("folderUid") == folder and contains(stored, dashboard):
        step.action, step.write = "unchanged", None
    else:
        step.action = "update"
    return step


def _rule_steps(grafana: _Grafana, groups: Sequence[Mapping[str, Any]], folder: str, force: bool) -> Iterator[Step]:
    rules = grafana.api.alertingprovisioning
    for group in groups:
        for rule in group["rules"]:
            desired = rule_body(rule, group, folder)
            uid = desired["uid"]
            remote = grafana.call(f"read alert rule {uid}", rules.get_alertrule, uid, missing_ok=True)
            step = Step("alert rule", uid, desired["title"], "create")
            if remote is None:
                step.write = _writer(grafana, f"create alert rule {uid}", rules.create_alertrule, desired)
            elif remote.get("provenance") == "file":
                step.action, step.note = "skip", "file-provisioned"
            elif force or not _same_rule(remote, desired):
                step.action = "update"
                step.write = _writer(grafana, f"update alert rule {uid}", rules.update_alertrule, uid, desired)
            else:
                step.action = "unchanged"
            yield step
        yield _group_step(grafana, group, folder, force)


def _writer(grafana: _Grafana, what: str, fn: Callable[..., Any], *args: Any) -> Callable[[], None]:
    def write() -> None:
        grafana.call(what, fn, *args)

    return write


def _group_step(grafana: _Grafana, group: Mapping[str, Any], folder: str, force: bool) -> Step:
    """A rule group's evaluation interval (its rules are created in it with Grafana's default, 1m)."""
    rules = grafana.api.alertingprovisioning
    name, interval = str(group["name"]), _seconds(str(group["interval"]))
    what = f"read rule group {name}"
    remote = grafana.call(what, rules.get_rule_group, folder, name, missing_ok=True)
    step = Step("rule group", name, name, "create" if remote is None else "update", f"every {group['interval']}")
    if remote is not None and remote.get("interval") == interval and not force:
        step.action = "unchanged"
        return step

    def write() -> None:
        current = grafana.call(what, rules.get_rule_group, folder, name)
        if current.get("interval") != interval or force:
            grafana.call(f"set the interval of rule group {name}", rules.update_rule_group, folder, name,
                         {**current, "interval": interval})  # fmt: skip

    step.write = write
    return step
