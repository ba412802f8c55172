"""The ingest token ``serve`` uses: the configured one, or one made on first start.

With no token configured, ``serve`` makes one on first start and keeps it in the data dir (mode
0600), so a fresh install is never open; the log says where the file is, never the token.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from otel_margin_backend.settings import Settings

log = logging.getLogger(__name__)

TOKEN_FILE = "ingest-token"


def resolve_token(settings: Settings) -> str | None:
    """The token clients must send, or None when auth is switched off."""
    if not settings.receivers.ingest_auth:
        log.warning("ingest authentication is off (OTEL_MARGIN_INGEST_AUTH=false): anyone who reaches the ports "
                    "can send usage")  # fmt: skip
        return None
    if settings.receivers.ingest_token is not None:
        return settings.receivers.ingest_token.get_secret_value()
    path = settings.storage.data_dir / TOKEN_FILE
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(32))
        log.info("generated an ingest token", extra={"file": str(path)})
    return path.read_text().strip()


def _write_private(path: Path, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
