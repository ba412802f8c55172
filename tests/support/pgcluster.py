"""A private, throwaway PostgreSQL cluster for tests.

Why this exists: the tests need their own PostgreSQL 15 server with ``shared_preload_libraries=timescaledb``
(TimescaleDB only works when preloaded), and CI runs as root. ``initdb`` and ``pg_ctl`` refuse to run as root,
and pytest-postgresql's ``postgresql_proc`` fixture runs them as the current user, so it cannot be used there.
This module starts the cluster as the ``postgres`` system user when running as root (directly otherwise),
on 127.0.0.1 and a free port, with durability turned off for speed, and removes everything on stop.

Usage::

    with PgCluster(settings={"shared_preload_libraries": "timescaledb"}) as pg:
        dsn = pg.dsn("postgres")  # postgresql://postgres@127.0.0.1:<port>/postgres

Stdlib only, so it can be used from pytest fixtures, benchmarks and scripts alike.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote

__all__ = ["DEFAULT_BINDIR", "PgCluster", "free_port"]

DEFAULT_BINDIR = "/usr/lib/postgresql/15/bin"

# The OS account that owns the cluster when we are root (Debian's postgresql packages create it).
_SYSTEM_USER = "postgres"

# Tests only: durability off makes setup and writes much faster; a crash just loses a throwaway cluster.
_TEST_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
}

_LOG_TAIL_LINES = 40


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that is free right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class PgCluster:
    """A PostgreSQL cluster in its own base directory, reachable over TCP on ``host``:``port``.

    Layout of ``basedir``: ``data/`` (the cluster), ``socket/`` (unix socket), ``server.log``.
    The cluster owns ``basedir``: :meth:`stop` deletes it.
    """

    host: str
    port: int
    user: str
    bindir: Path
    basedir: Path
    datadir: Path
    socket_dir: Path
    log_path: Path
    settings: dict[str, str]

    def __init__(
        self,
        bindir: str | os.PathLike[str] = DEFAULT_BINDIR,
        basedir: str | os.PathLike[str] | None = None,
        settings: Mapping[str, str] | None = None,
        port: int | None = None,
        *,
        start_timeout: int = 60,
    ) -> None:
        """Prepare (but do not start) a cluster.

        :param bindir: directory holding ``initdb`` and ``pg_ctl``.
        :param basedir: empty or missing directory for the cluster; default: a new temporary directory.
        :param settings: server settings, passed as ``-c key=value``,
            e.g. ``{"shared_preload_libraries": "timescaledb"}``.
        :param port: TCP port; default: a free port on 127.0.0.1.
        :param start_timeout: seconds to wait for the server to accept connections.
        """
        self.host = "127.0.0.1"
        self.port = port if port is not None else free_port(self.host)
        self.user = "postgres"  # the database superuser (initdb -U)
        self.bindir = Path(bindir)
        self.settings = dict(settings or {})
        self.start_timeout = start_timeout
        self._as_root = os.geteuid() == 0
        self._basedir_arg = Path(basedir) if basedir is not None else None
        self._started = False
        self._removed = False
        # Real paths are set by start(); these placeholders keep the attributes typed and present.
        self.basedir = self._basedir_arg or Path()
        self.datadir = self.basedir / "data"
        self.socket_dir = self.basedir / "socket"
        self.log_path = self.basedir / "server.log"

    # --- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Create the cluster with initdb and start it; return once it accepts connections.

        On failure everything is cleaned up and a RuntimeError carrying the server log's tail is raised.
        """
        if self._started:
            return
        for tool in ("initdb", "pg_ctl"):
            if not (self.bindir / tool).is_file():
                raise RuntimeError(f"{self.bindir / tool} not found; is PostgreSQL installed?")
        self._make_basedir()
        self._started = True
        self._removed = False
        try:
            self._initdb()
            self._pg_ctl_start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete the base directory. Safe to call more than once."""
        if not self._started or self._removed:
            return
        if (self.datadir / "postmaster.pid").exists():
            # Fast rolls back open transactions and disconnects; immediate is the fallback if that hangs.
            for mode in ("fast", "immediate"):
                result = self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"])
                if result.returncode == 0:
                    break
        shutil.rmtree(self.basedir, ignore_errors=True)
        self._removed = True
        self._started = False

    def pause(self) -> None:
        """Stop the server but keep its data, as a database outage would (``resume`` brings it back)."""
        result = self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"])
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl stop failed:\n{result.stdout}")

    def resume(self) -> None:
        """Start a paused server again on the same port."""
        self._pg_ctl_start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- connection info -----------------------------------------------------------------------------------

    def dsn(self, dbname: str) -> str:
        """libpq connection URL for ``dbname`` (trust auth, so no password)."""
        return f"postgresql://{quote(self.user, safe='')}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    def __repr__(self) -> str:
        state = "running" if self._started else "stopped"
        return f"PgCluster({self.host}:{self.port}, {self.basedir}, {state})"

    # --- internals -----------------------------------------------------------------------------------------

    def _make_basedir(self) -> None:
        if self._basedir_arg is None:
            # As root, /root is not traversable by postgres and TMPDIR may point there too: use /tmp.
            parent = "/tmp" if self._as_root else None
            self.basedir = Path(tempfile.mkdtemp(prefix="pgcluster-", dir=parent))
        else:
            self.basedir = self._basedir_arg.absolute()
            self.basedir.mkdir(parents=True, exist_ok=True)
            if any(self.basedir.iterdir()):
                # stop() deletes basedir, so refuse anything that might hold someone else's files.
                raise ValueError(f"basedir {self.basedir} must be empty or missing (PgCluster deletes it)")
        self.datadir = self.basedir / "data"
        self.socket_dir = self.basedir / "socket"
        self.log_path = self.basedir / "server.log"
        self.socket_dir.mkdir()
        self.basedir.chmod(0o755)  # mkdtemp makes it 0700
        if self._as_root:
            for path in (self.basedir, self.socket_dir):
                shutil.chown(path, user=_SYSTEM_USER, group=_SYSTEM_USER)
            # A parent directory without o+x (e.g. under /root) would make initdb fail obscurely; say it plainly.
            if self._run(["test", "-w", str(self.basedir)]).returncode != 0:
                shutil.rmtree(self.basedir, ignore_errors=True)
                raise RuntimeError(
                    f"user {_SYSTEM_USER!r} cannot reach {self.basedir}; pick a basedir whose parents are "
                    "traversable by that user (e.g. under /tmp)"
                )

    def _initdb(self) -> None:
        result = self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "--auth=trust",
                f"-U{self.user}",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",  # tests only: skip fsyncing the new cluster
                "--no-instructions",
            ]
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed (exit {result.returncode}):\n{result.stdout}")

    def _pg_ctl_start(self) -> None:
        options = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            **_TEST_SETTINGS,
            **self.settings,
        }
        # pg_ctl hands -o to /bin/sh, so each -c argument must be shell-quoted.
        server_opts = " ".join(f"-c {shlex.quote(f'{key}={value}')}" for key, value in options.items())
        result = self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.log_path),
                "-o",
                server_opts,
                "-w",
                "-t",
                str(self.start_timeout),
                "start",
            ]
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"PostgreSQL did not start on {self.host}:{self.port} (pg_ctl exit {result.returncode}).\n"
                f"pg_ctl output:\n{result.stdout}\n"
                f"last lines of {self.log_path}:\n{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError as e:
            return f"(no server log: {e})"
        return "\n".join(lines[-_LOG_TAIL_LINES:])

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool, as the postgres system user when we are root (initdb/pg_ctl refuse root)."""
        if self._as_root:
            argv = ["runuser", "-u", _SYSTEM_USER, "--", *argv]
        # cwd=basedir: a cwd the tool's user cannot read (e.g. /root) makes PostgreSQL tools complain.
        return subprocess.run(
            argv,
            cwd=self.basedir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
