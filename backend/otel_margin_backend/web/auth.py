"""The token check: ``Authorization: Bearer <token>``, with named tokens of four scopes.

A scope says what a token may do: ``ingest`` (OTLP and ``/v1/usage``), ``read`` (P&L, stats, simulator, budget
status; it also grants ``budgets:check``), ``admin`` (budgets, revenue; it also grants every other scope) and
``budgets:check`` (only ``GET /v1/budgets/check``: what an app holds to ask before it spends). Tokens are kept
as SHA-256 digests only; a presented token is hashed and compared with every known digest in constant time
(``hmac.compare_digest``, no early exit), so neither the answer's time nor a log line tells anything about a
token. The scheme is matched case-insensitively (RFC 9110 §11.1: ``bearer`` works).

The answers follow RFC 6750 §3: no or a malformed header, or an unknown token, is ``Unauthenticated`` (401 /
UNAUTHENTICATED, with ``WWW-Authenticate: Bearer`` and ``error="invalid_token"`` when a token was sent); a known
token without the scope is ``Forbidden`` (403 / PERMISSION_DENIED, ``error="insufficient_scope"``).

Token lists (``OTEL_MARGIN_TOKENS``, ``OTEL_MARGIN_TOKENS_FILE``) are entries ``name:scope:secret``, where the
secret is the token or ``sha256:<64 hex digits>`` of it (a file accepts only digests: ``parse_tokens``).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.web.status import Forbidden, Unauthenticated

__all__ = [
    "DEFAULT_TOKEN_NAME",
    "MIN_TOKEN_CHARS",
    "Scope",
    "ScopedCheck",
    "Token",
    "TokenCheck",
    "TokenListError",
    "digest",
    "parse_tokens",
]

DEFAULT_TOKEN_NAME = "default"
"""The name of the one admin token ``serve`` always has (``OTEL_MARGIN_INGEST_TOKEN`` or the generated one)."""
MIN_TOKEN_CHARS = 16
"""Shortest token accepted in a token list: ``secrets.token_urlsafe(32)`` makes 43 characters."""
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_DIGEST = re.compile(r"sha256:([0-9a-fA-F]{64})")


class Scope(enum.StrEnum):
    """What a token may do."""

    INGEST = "ingest"
    """Send usage: OTLP (traces, and the metrics and logs that are discarded) and ``POST /v1/usage``."""
    READ = "read"
    """Read reports: P&L, stats, simulator, budgets and their status."""
    ADMIN = "admin"
    """Change what the reports are made of (budgets, revenue); grants every other scope too."""
    BUDGETS_CHECK = "budgets:check"
    """Ask ``GET /v1/budgets/check`` whether a customer's budget allows more spend, and nothing else."""

    def grants(self, needed: Scope) -> bool:
        """Whether a token of this scope may do what needs ``needed``."""
        return self is needed or self is Scope.ADMIN or (self is Scope.READ and needed is Scope.BUDGETS_CHECK)

    def granted_by(self) -> list[Scope]:
        """The scopes whose tokens may do what needs this one: itself first."""
        return [self, *(s for s in Scope if s is not self and s.grants(self))]


def digest(token: str) -> bytes:
    """The SHA-256 digest a token is kept as."""
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class Token:
    """One known token: its name (for messages and ``doctor``), its scope and its digest; never the token."""

    name: str
    scope: Scope
    sha256: bytes

    @classmethod
    def of(cls, name: str, scope: Scope, token: str) -> Token:
        """The entry for a token given in clear (it is hashed here and not kept)."""
        return cls(name, scope, digest(token))


class TokenListError(PermanentError):
    """A token list (variable or file) has an entry that cannot be used; the message names where and why."""


def parse_tokens(text: str, *, source: str, digests_only: bool = False) -> list[Token]:
    """Read a token list: entries ``name:scope:secret``, separated by commas or line breaks.

    Blank entries and lines starting with ``#`` are skipped. Names are unique.

    Args:
        text: The list.
        source: Where it came from, for messages (``OTEL_MARGIN_TOKENS``, a file's path).
        digests_only: Refuse secrets given in clear (a file on disk keeps digests only).

    Returns:
        The tokens, in the order given.

    Raises:
        TokenListError: an entry is malformed, has an unknown scope, a short token, or a name used twice.
    """
    tokens: list[Token] = []
    for where, entry in _entries(text, source):
        name, _, rest = entry.partition(":")
        scope_text, secret = _split_scope(rest)
        if not _NAME.fullmatch(name) or not secret:
            raise TokenListError(f"{where}: expected name:scope:token or name:scope:sha256:<hex>, "
                                 "the name of letters, digits, '.', '_' or '-'")  # fmt: skip
        try:
            scope = Scope(scope_text.strip().lower())
        except ValueError:
            raise TokenListError(f"{where}: scope {scope_text!r} of {name!r}: use ingest, read, admin or "
                                 f"{Scope.BUDGETS_CHECK}") from None  # fmt: skip
        if any(t.name == name for t in tokens):
            raise TokenListError(f"{where}: the name {name!r} is used twice; give each token its own name")
        hashed = _DIGEST.fullmatch(secret)
        if hashed:
            tokens.append(Token(name, scope, bytes.fromhex(hashed.group(1))))
        elif secret.startswith("sha256:"):
            raise TokenListError(f"{where}: the digest of {name!r} is not 64 hex digits")
        elif digests_only:
            raise TokenListError(f"{where}: {name!r} is in clear; keep its digest instead: "
                                 f"{name}:{scope}:sha256:$(printf %s \"$TOKEN\" | sha256sum | cut -c1-64)")  # fmt: skip
        elif len(secret) < MIN_TOKEN_CHARS:
            raise TokenListError(f"{where}: the token of {name!r} is shorter than {MIN_TOKEN_CHARS} characters; make "
                                 "one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")  # fmt: skip
        else:
            tokens.append(Token.of(name, scope, secret))
    return tokens


def _split_scope(rest: str) -> tuple[str, str]:
    """``scope:secret`` -> (scope, secret); ``budgets:check`` holds a colon of its own."""
    for scope in Scope:
        if ":" in scope and rest.strip().lower().startswith(f"{scope}:"):
            return scope.value, rest.strip()[len(scope) + 1 :]
    scope_text, _, secret = rest.partition(":")
    return scope_text, secret


def _entries(text: str, source: str) -> Iterator[tuple[str, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().startswith("#"):
            continue
        for entry in line.split(","):
            if entry.strip():
                yield (f"{source}:{number}" if "\n" in text.strip() else source), entry.strip()


@dataclass(frozen=True, slots=True)
class _Challenge:
    """RFC 6750 ``WWW-Authenticate`` values."""

    missing: str = "Bearer"
    invalid: str = 'Bearer error="invalid_token"'

    @staticmethod
    def scope(needed: Scope) -> str:
        return f'Bearer error="insufficient_scope", scope="{needed}"'


CHALLENGE = _Challenge()


class TokenCheck:
    """The known tokens; ``require(scope)`` gives the check one endpoint applies.

    ``TokenCheck(None)`` lets everything through (``OTEL_MARGIN_INGEST_AUTH=false``). A plain string is one admin
    token named ``default``.
    """

    def __init__(self, tokens: Iterable[Token] | str | None) -> None:
        if isinstance(tokens, str):
            tokens = [Token.of(DEFAULT_TOKEN_NAME, Scope.ADMIN, tokens)]
        self._tokens: tuple[Token, ...] | None = tuple(tokens) if tokens is not None else None

    @property
    def enabled(self) -> bool:
        """Whether tokens are checked at all."""
        return self._tokens is not None

    @property
    def names(self) -> dict[str, Scope]:
        """Each token's name and scope (never the token), for the startup log and ``doctor``."""
        return {t.name: t.scope for t in self._tokens or ()}

    def require(self, scope: Scope) -> ScopedCheck:
        """The check of an endpoint that needs ``scope``."""
        return ScopedCheck(self, scope)

    def check(self, authorization: str | None, scope: Scope) -> Token | None:
        """The token ``authorization`` carries if it grants ``scope``; None when auth is off.

        Args:
            authorization: The ``Authorization`` header (HTTP) or ``authorization`` metadata (gRPC), or None.
            scope: What the endpoint needs.

        Returns:
            The matching token (its name and scope), or None when tokens are not checked.

        Raises:
            Unauthenticated: no header, another scheme, or a token that is not known.
            Forbidden: the token is known but its scope does not grant ``scope``.
        """
        if self._tokens is None:
            return None
        scheme, _, credentials = (authorization or "").strip().partition(" ")
        if not scheme:
            raise Unauthenticated("missing Authorization header: send 'Authorization: Bearer <token>'",
                                  challenge=CHALLENGE.missing)  # fmt: skip
        if scheme.lower() != "bearer" or not credentials.strip():
            raise Unauthenticated("send the token as 'Authorization: Bearer <token>'", challenge=CHALLENGE.missing)
        presented = digest(credentials.strip())
        found: Token | None = None
        for token in self._tokens:  # every digest is compared: the time does not depend on which one matches
            if hmac.compare_digest(presented, token.sha256) and found is None:
                found = token
        if found is None:
            raise Unauthenticated("invalid token: check it, or ask for one (docs/security.md)",
                                  challenge=CHALLENGE.invalid)  # fmt: skip
        if not found.scope.grants(scope):
            *others, last = scope.granted_by()
            needs = f"{', '.join(others)} or {last}" if others else last.value
            raise Forbidden(f"token {found.name!r} has scope {found.scope}, and this needs {needs}: use a token of "
                            "that scope (docs/security.md)", challenge=CHALLENGE.scope(scope))  # fmt: skip
        return found


@dataclass(frozen=True, slots=True)
class ScopedCheck:
    """``TokenCheck.check`` for one scope: what an endpoint holds."""

    tokens: TokenCheck
    scope: Scope

    def check(self, authorization: str | None) -> Token | None:
        """See ``TokenCheck.check``."""
        return self.tokens.check(authorization, self.scope)
