"""Versioned SQL migrations: applied in order, each in its own transaction, recorded with a checksum.

Safe when several processes run it at once (receivers scaled out all run it at startup): a
session-level advisory lock serializes them, and the second finds everything already applied.

Runs as a user without superuser rights, as managed PostgreSQL gives: 0001 (create timescaledb if the server
preloads it) reads ``shared_preload_libraries``, which needs superuser or ``pg_read_all_settings``. Shipped
migrations are never edited, so the runner decides 0001 itself for a user who cannot read it: the extension is
used if it is already created; otherwise the user could not create it anyway (it is not a trusted extension), so
the schema is the plain-PostgreSQL one, and a warning says how to get TimescaleDB. A migration refused for a
missing privilege is one error naming the migration, the user and the grant to ask for.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

import psycopg

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.storage.database import Conn

log = logging.getLogger(__name__)

_LOCK_KEY = 0x6F74656C6D617267  # "otelmarg": one lock id for every otel-margin migrator
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One ``NNNN_name.sql`` file shipped in ``storage/migrations``."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the migration's SQL, to detect a shipped migration that changed."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    """A migration recorded in the database, and whether this run applied it."""

    version: int
    name: str
    applied_at: datetime
    newly_applied: bool


def available() -> list[Migration]:
    """Every migration shipped with this version, in order."""
    found = []
    for entry in resources.files("otel_margin_backend.storage.migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    return found


def migrate(conn: Conn, *, reader_role: str, reader_password: str | None) -> list[AppliedMigration]:
    """Apply every pending migration and (re)set the read-only role's password.

    Args:
        conn: an open connection in autocommit mode.
        reader_role: name of the read-only role for dashboards.
        reader_password: its password, or None to leave it unable to log in.

    Returns:
        Every migration known to the database after the run, oldest first.

    Raises:
        PermanentError: a migration recorded in the database differs from the shipped file, or
            the database holds a migration newer than this version knows.
    """
    if not conn.autocommit:
        raise ValueError("migrate() needs a connection in autocommit mode")
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(_BOOKKEEPING)
        recorded = {
            int(v): (str(n), str(c), at)
            for v, n, c, at in conn.execute("SELECT version, name, checksum, applied_at FROM schema_migrations")
        }
        shipped = available()
        _check_history(recorded, shipped)
        newly: set[int] = set()
        for migration in shipped:
            if migration.version in recorded:
                continue
            try:
                with conn.transaction():
                    conn.execute("SELECT set_config('otel_margin.reader_role', %s, true)", (reader_role,))
                    if not _decided_by_runner(conn, migration):
                        conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
            except psycopg.errors.InsufficientPrivilege as exc:
                raise _missing_privilege(conn, f"migration {migration.version:04d}_{migration.name}", exc,
                                         reader_role) from None  # fmt: skip
            newly.add(migration.version)
        try:
            conn.execute("SELECT otel_margin_set_reader_password(%s, %s)", (reader_role, reader_password))
        except psycopg.errors.InsufficientPrivilege as exc:
            raise _missing_privilege(conn, "setting the read-only role's password", exc, reader_role) from None
        rows = conn.execute("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").fetchall()
        return [AppliedMigration(int(v), str(n), at, int(v) in newly) for v, n, at in rows]
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


_EXTENSION_MIGRATION = 1
"""0001_timescaledb: creates the extension when the server preloads it (reads ``shared_preload_libraries``)."""


def _decided_by_runner(conn: Conn, migration: Migration) -> bool:
    """True when the runner has done what ``migration`` would (so its SQL must not run): 0001 for a user who cannot
    read ``shared_preload_libraries``."""
    if migration.version != _EXTENSION_MIGRATION:
        return False
    row = conn.execute(
        "SELECT current_setting('is_superuser') = 'on' OR pg_has_role(current_user, 'pg_read_all_settings', 'USAGE'),"
        " EXISTS (SELECT FROM pg_extension WHERE extname = 'timescaledb'),"
        " EXISTS (SELECT FROM pg_available_extensions WHERE name = 'timescaledb'), current_user"
    ).fetchone()
    assert row is not None
    can_read, created, available, user = row
    if can_read:
        return False
    if not created and available:
        log.warning(
            "TimescaleDB is installed on the server but not created in this database, and user %s can neither check "
            "whether the server preloads it (pg_read_all_settings) nor create it (superuser): using plain "
            "PostgreSQL. For TimescaleDB, have a superuser run CREATE EXTENSION timescaledb in this database "
            "before the first migrate.",
            user,
        )
    return True


def _missing_privilege(
    conn: Conn, what: str, exc: psycopg.errors.InsufficientPrivilege, reader_role: str
) -> PermanentError:
    """One error naming what failed, the user, and the grant to ask for."""
    row = conn.execute("SELECT current_user, current_database()").fetchone()
    user, database = row if row else ("the user", "the database")
    reason = (exc.diag.message_primary or str(exc)).strip()
    if "extension" in reason:
        hint = "have a superuser run CREATE EXTENSION timescaledb in this database, then run migrate again"
    elif "role" in reason:
        hint = (f"the read-only role {reader_role} is created and given its password by migrate: ALTER ROLE {user} "
                f"CREATEROLE (or have a superuser create the role {reader_role}), then run migrate again")  # fmt: skip
    else:
        hint = f"run migrate as the owner of database {database} (ALTER DATABASE {database} OWNER TO {user})"
    return PermanentError(f"{what} needs a privilege user {user} lacks ({reason}): {hint}")


def pending(conn: Conn) -> list[Migration]:
    """Shipped migrations the database has not applied yet (for ``doctor`` and ``/readyz``)."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    done: set[int] = set()
    if exists and exists[0]:
        done = {int(v) for (v,) in conn.execute("SELECT version FROM schema_migrations")}
    return [m for m in available() if m.version not in done]


def _check_history(recorded: dict[int, tuple[str, str, object]], shipped: list[Migration]) -> None:
    by_version = {m.version: m for m in shipped}
    for version, (name, checksum, _) in sorted(recorded.items()):
        migration = by_version.get(version)
        if migration is None:
            raise PermanentError(
                f"the database has migration {version:04d}_{name}, which this otel-margin does not know: "
                "it was migrated by a newer version; upgrade otel-margin"
            )
        if migration.checksum != checksum:
            raise PermanentError(
                f"migration {version:04d}_{name} was changed after it was applied; "
                "shipped migrations must never be edited: add a new one instead"
            )
