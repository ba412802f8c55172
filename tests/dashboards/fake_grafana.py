"""A local HTTP server that answers like Grafana's API for what ``otel-margin grafana push`` calls.

It keeps datasources, folders, dashboards and alert rules in memory, checks the Bearer token (401 otherwise),
validates what Grafana validates on these endpoints (the folder of a dashboard or rule exists, a rule's datasource
exists, its condition names one of its queries), adds what Grafana adds to stored objects (ids, versions,
provenance) and records every request.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeGrafana", "Request", "serve"]

DEFAULT_GROUP_INTERVAL_S = 60


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: Any


class Reply(Exception):
    def __init__(self, status: int, body: Any = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


@dataclass
class FakeGrafana:
    """Grafana's state and the requests it received; ``url`` once serving."""

    token: str
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    group_intervals: dict[tuple[str, str], int] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: iter(range(1, 10_000)))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method != "GET"]

    # ------------------------------------------------------------------------------------------- routing

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(Request(method, path, body))
            if headers.get("authorization") != f"Bearer {self.token}":
                return HTTPStatus.UNAUTHORIZED, {"message": "Invalid API key", "status": "unauthorized"}
            for pattern, verb, route in self._routes():
                match = re.fullmatch(pattern, path)
                if match and verb == method:
                    try:
                        return HTTPStatus.OK, route(body, headers, *match.groups())
                    except Reply as reply:
                        return reply.status, reply.body
            return HTTPStatus.NOT_FOUND, {"message": "Not found"}

    def _routes(self) -> list[tuple[str, str, Callable[..., Any]]]:
        rules, groups = "/api/v1/provisioning/alert-rules", "/api/v1/provisioning/folder/([^/]+)/rule-groups/([^/]+)"
        return [
            (r"/api/datasources/uid/([^/]+)", "GET", self.get_datasource),
            (r"/api/datasources", "POST", self.create_datasource),
            (r"/api/datasources/uid/([^/]+)", "PUT", self.update_datasource),
            (r"/api/folders/([^/]+)", "GET", self.get_folder),
            (r"/api/folders", "POST", self.create_folder),
            (r"/api/folders/([^/]+)", "PUT", self.update_folder),
            (r"/api/dashboards/uid/([^/]+)", "GET", self.get_dashboard),
            (r"/api/dashboards/db", "POST", self.save_dashboard),
            (rf"{rules}/([^/]+)", "GET", self.get_rule),
            (rules, "POST", self.create_rule),
            (rf"{rules}/([^/]+)", "PUT", self.update_rule),
            (groups, "GET", self.get_group),
            (groups, "PUT", self.update_group),
        ]

    # ---------------------------------------------------------------------------------------- datasources

    def get_datasource(self, _body: Any, _headers: dict[str, str], uid: str) -> Any:
        if uid not in self.datasources:
            raise Reply(HTTPStatus.NOT_FOUND, {"message": "Data source not found"})
        return self.datasources[uid]

    def _store_datasource(self, body: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
        for key in ("name", "type", "access"):
            if not body.get(key):
                raise Reply(HTTPStatus.BAD_REQUEST, {"message": f"bad request data: {key} is required"})
        password = (body.get("secureJsonData") or {}).get("password")
        uid = body.get("uid") or f"ds{next(self._ids)}"
        if password is not None:
            self.passwords[uid] = password
        stored = {k: v for k, v in body.items() if k != "secureJsonData"}
        stored.update(
            id=previous["id"] if previous else next(self._ids),
            uid=uid,
            orgId=1,
            typeLogoUrl="public/app/plugins/datasource/grafana-postgresql-datasource/img/postgresql_logo.svg",
            basicAuth=False,
            withCredentials=False,
            database="",
            readOnly=previous.get("readOnly", False) if previous else False,
            version=(previous["version"] + 1) if previous else 1,
            secureJsonFields={"password": uid in self.passwords},
        )
        self.datasources[uid] = stored
        return stored

    def create_datasource(self, body: dict[str, Any], _headers: dict[str, str]) -> Any:
        if any(d["name"] == body.get("name") or d["uid"] == body.get("uid") for d in self.datasources.values()):
            raise Reply(HTTPStatus.CONFLICT, {"message": "data source with the same name already exists"})
        stored = self._store_datasource(body, None)
        return {"datasource": stored, "id": stored["id"], "message": "Datasource added", "name": stored["name"]}

    def update_datasource(self, body: dict[str, Any], _headers: dict[str, str], uid: str) -> Any:
        previous = self.get_datasource(None, _headers, uid)
        if previous.get("readOnly"):
            raise Reply(HTTPStatus.FORBIDDEN, {"message": "Cannot update read-only data source"})
        stored = self._store_datasource({**body, "uid": uid}, previous)
        return {"datasource": stored, "id": stored["id"], "message": "Datasource updated", "name": stored["name"]}

    # -------------------------------------------------------------------------------------------- folders

    def get_folder(self, _body: Any, _headers: dict[str, str], uid: str) -> Any:
        if uid not in self.folders:
            raise Reply(HTTPStatus.NOT_FOUND, {"message": "folder not found", "status": "not-found"})
        return self.folders[uid]

    def create_folder(self, body: dict[str, Any], _headers: dict[str, str]) -> Any:
        uid = body.get("uid") or f"f{next(self._ids)}"
        if uid in self.folders:
            raise Reply(HTTPStatus.CONFLICT, {"message": "a folder with the same uid already exists"})
        if any(f["title"] == body.get("title") for f in self.folders.values()):
            raise Reply(HTTPStatus.CONFLICT, {"message": "a folder with the same name already exists"})
        folder = {"id": next(self._ids), "uid": uid, "title": body["title"], "url": f"/dashboards/f/{uid}/",
                  "version": 1, "hasAcl": False, "canSave": True}  # fmt: skip
        self.folders[uid] = folder
        return folder

    def update_folder(self, body: dict[str, Any], _headers: dict[str, str], uid: str) -> Any:
        folder = self.get_folder(None, _headers, uid)
        if not body.get("overwrite") and body.get("version") != folder["version"]:
            raise Reply(HTTPStatus.PRECONDITION_FAILED, {"message": "the folder has been changed by someone else"})
        folder.update(title=body.get("title", folder["title"]), version=folder["version"] + 1)
        return folder

    # ----------------------------------------------------------------------------------------- dashboards

    def get_dashboard(self, _body: Any, _headers: dict[str, str], uid: str) -> Any:
        if uid not in self.dashboards:
            raise Reply(HTTPStatus.NOT_FOUND, {"message": "Dashboard not found"})
        stored = self.dashboards[uid]
        return {"dashboard": stored["dashboard"], "meta": dict(stored["meta"])}

    def save_dashboard(self, body: dict[str, Any], _headers: dict[str, str]) -> Any:
        dashboard, folder = dict(body["dashboard"]), body.get("folderUid", "")
        if folder and folder not in self.folders:
            raise Reply(HTTPStatus.BAD_REQUEST, {"message": "folder not found"})
        uid = str(dashboard.get("uid") or f"d{next(self._ids)}")
        previous = self.dashboards.get(uid)
        if previous is not None:
            if previous["meta"].get("provisioned"):
                raise Reply(HTTPStatus.BAD_REQUEST, {"message": "Cannot save provisioned dashboard"})
            if not body.get("overwrite"):
                raise Reply(HTTPStatus.PRECONDITION_FAILED, {"message": "A dashboard with the same uid already exists",
                                                             "status": "name-exists"})  # fmt: skip
        dashboard.update(id=previous["dashboard"]["id"] if previous else next(self._ids),
                         version=previous["dashboard"]["version"] + 1 if previous else 1)  # fmt: skip
        meta = {"folderUid": folder, "provisioned": False, "slug": str(dashboard.get("title", "")).lower(),
                "url": f"/d/{uid}/"}  # fmt: skip
        self.dashboards[uid] = {"dashboard": dashboard, "meta": meta}
        return {"id": dashboard["id"], "uid": uid, "url": meta["url"], "status": "success",
                "version": dashboard["version"], "slug": meta["slug"]}  # fmt: skip

    # ---------------------------------------------------------------------------------------- alert rules

    def get_rule(self, _body: Any, _headers: dict[str, str], uid: str) -> Any:
        if uid not in self.rules:
            raise Reply(HTTPStatus.NOT_FOUND)  # Grafana answers a missing rule with an empty 404
        return self.rules[uid]

    def _validate_rule(self, rule: dict[str, Any]) -> None:
        if rule.get("folderUID") not in self.folders:
            raise Reply(HTTPStatus.BAD_REQUEST, {"message": "invalid alert rule: folder does not exist"})
        refs = [q.get("refId") for q in rule.get("data") or []]
        if not refs or rule.get("condition") not in refs:
            raise Reply(HTTPStatus.BAD_REQUEST, {"message": "invalid alert rule: condition is not a query refId"})
        for query in rule["data"]:
            uid = query.get("datasourceUid")
            if uid != "__expr__" and uid not in self.datasources:
                raise Reply(HTTPStatus.BAD_REQUEST, {"message": f"invalid query {query['refId']}: data source {uid} "
                                                                "not found"})  # fmt: skip
        for key in ("title", "ruleGroup", "noDataState", "execErrState", "for"):
            if not rule.get(key):
                raise Reply(HTTPStatus.BAD_REQUEST, {"message": f"invalid alert rule: {key} is required"})

    def _store_rule(self, rule: dict[str, Any], headers: dict[str, str], previous: dict[str, Any] | None) -> Any:
        self._validate_rule(rule)
        group = (rule["folderUID"], rule["ruleGroup"])
        self.group_intervals.setdefault(group, DEFAULT_GROUP_INTERVAL_S)
        provenance = "" if headers.get("x-disable-provenance") == "true" else "api"
        stored = {**rule, "id": previous["id"] if previous else next(self._ids), "orgID": 1,
                  "updated": "2026-11-20T10:00:00Z", "provenance": provenance, "notification_settings": None,
                  "record": None}  # fmt: skip
        self.rules[rule["uid"]] = stored
        return stored

    def create_rule(self, body: dict[str, Any], headers: dict[str, str]) -> Any:
        if body.get("uid") in self.rules:
            raise Reply(HTTPStatus.CONFLICT, {"message": "a rule with this uid already exists"})
        raise Reply(HTTPStatus.CREATED, self._store_rule(body, headers, None))

    def update_rule(self, body: dict[str, Any], headers: dict[str, str], uid: str) -> Any:
        previous = self.get_rule(None, headers, uid)
        if previous.get("provenance") == "file":
            raise Reply(HTTPStatus.BAD_REQUEST, {"message": "cannot change provenance from 'file' to 'api'"})
        return self._store_rule({**body, "uid": uid}, headers, previous)

    def get_group(self, _body: Any, _headers: dict[str, str], folder: str, name: str) -> Any:
        members = [r for r in self.rules.values() if (r["folderUID"], r["ruleGroup"]) == (folder, name)]
        if not members:
            raise Reply(HTTPStatus.NOT_FOUND, {"message": "rule group not found"})
        return {"title": name, "folderUid": folder, "interval": self.group_intervals[(folder, name)],
                "rules": members}  # fmt: skip

    def update_group(self, body: dict[str, Any], headers: dict[str, str], folder: str, name: str) -> Any:
        interval = body.get("interval")
        if not isinstance(interval, int) or interval <= 0 or interval % 10:
            raise Reply(HTTPStatus.BAD_REQUEST, {"message": "interval must be a positive multiple of 10 seconds"})
        for rule in body.get("rules") or []:
            self._store_rule({**rule, "folderUID": folder, "ruleGroup": name}, headers, self.rules.get(rule["uid"]))
        self.group_intervals[(folder, name)] = interval
        return self.get_group(None, headers, folder, name)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, reply = self.server.grafana.handle(self.command, self.path.split("?")[0], headers, body)
        payload = b"" if reply is None else json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if payload else "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads ``requests`` instead."""


class _Server(ThreadingHTTPServer):
    grafana: FakeGrafana
    daemon_threads = True


@contextmanager
def serve(token: str = "glsa_test_token") -> Iterator[FakeGrafana]:
    """A fake Grafana on 127.0.0.1 (a free port), stopped on exit."""
    grafana = FakeGrafana(token=token)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.grafana = grafana
    thread = threading.Thread(target=server.serve_forever, name="fake-grafana", daemon=True)
    thread.start()
    grafana.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield grafana
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
