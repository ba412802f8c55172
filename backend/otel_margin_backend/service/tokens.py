"""The tokens ``serve`` accepts: the default admin token, plus named tokens from the environment and a file.

The default admin token is ``OTEL_MARGIN_INGEST_TOKEN``, or, with none configured, one ``serve`` makes on first
start and keeps in the data dir (mode 0600), so a fresh install is never open; the log says where the file is,
never the token. It is the one token kept in clear: the demo, ``replay`` and the operator read it from there.
Named tokens (``OTEL_MARGIN_TOKENS``, ``OTEL_MARGIN_TOKENS_FILE``) are hashed as they are read; the file holds
digests only.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from otel_margin_backend.settings import Settings
from otel_margin_backend.web.auth import DEFAULT_TOKEN_NAME, Scope, Token, TokenCheck, TokenListError, parse_tokens

log = logging.getLogger(__name__)

TOKEN_FILE = "ingest-token"


def resolve_token(settings: Settings) -> str | None:
    """The default admin token (configured, or made on first start), or None when auth is switched off."""
    if not settings.receivers.ingest_auth:
        log.warning("authentication is off (OTEL_MARGIN_INGEST_AUTH=false): anyone who reaches the ports "
                    "can send usage, read the P&L and change budgets")  # fmt: skip
        return None
    if settings.receivers.ingest_token is not None:
        return settings.receivers.ingest_token.get_secret_value()
    path = settings.storage.data_dir / TOKEN_FILE
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(32))
        log.info("generated the default admin token", extra={"file": str(path)})
    return path.read_text().strip()


def token_check(settings: Settings) -> TokenCheck:
    """Every token ``serve`` accepts, with its scope; ``TokenCheck(None)`` when auth is switched off.

    Raises:
        TokenListError: a named token is malformed, or its name is taken (``default`` is the admin token's).
    """
    default = resolve_token(settings)
    if default is None:
        return TokenCheck(None)
    tokens = [Token.of(DEFAULT_TOKEN_NAME, Scope.ADMIN, default)]
    access = settings.access
    if access.tokens is not None:
        tokens += parse_tokens(access.tokens.get_secret_value(), source="OTEL_MARGIN_TOKENS")
    if access.tokens_file is not None:
        tokens += parse_tokens(_read(access.tokens_file), source=str(access.tokens_file), digests_only=True)
    names = [t.name for t in tokens]
    for name in names:
        if names.count(name) > 1:
            raise TokenListError(f"the token name {name!r} is used twice (OTEL_MARGIN_TOKENS, "
                                 "OTEL_MARGIN_TOKENS_FILE; 'default' is the admin token's): rename one")  # fmt: skip
    check = TokenCheck(tokens)
    log.info("tokens", extra={scope.value: sorted(n for n, s in check.names.items() if s is scope) for scope in Scope})
    return check


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise TokenListError(f"cannot read OTEL_MARGIN_TOKENS_FILE {path}: {exc.strerror}; check the path "
                             "and that serve may read it") from None  # fmt: skip


def _write_private(path: Path, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
