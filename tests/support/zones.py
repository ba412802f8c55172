"""Running a test's database in another session time zone: every figure must be the same as in UTC.

``in_zone(url, zone)`` sets the database's default ``TimeZone`` (``ALTER DATABASE ... SET timezone``), so every
later connection, the CLI's and the backend's included, starts in that zone, as on a server configured so.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

ZONES = ("UTC", "America/New_York", "Asia/Kolkata")
"""UTC, a zone with daylight saving time (November 1 is a DST change) and one with a half-hour offset."""


def in_zone(url: str, zone: str) -> str:
    """Make ``zone`` the session time zone of every new connection to ``url``'s database.

    Args:
        url: A test database's URL.
        zone: An IANA time zone name.

    Returns:
        ``url``, for chaining.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        name = conn.info.dbname
        conn.execute(sql.SQL("ALTER DATABASE {} SET timezone = {}").format(sql.Identifier(name), sql.Literal(zone)))
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW timezone").fetchone()
    assert row is not None and row[0] == zone, row
    return url
