"""The token check: what OTLP and REST clients must present as ``Authorization: Bearer <token>``."""

from __future__ import annotations

import hmac

from otel_margin_backend.web.status import Unauthenticated


class TokenCheck:
    """Checks an ``Authorization`` header value against the token, in constant time."""

    def __init__(self, token: str | None) -> None:
        self._expected = f"Bearer {token}".encode() if token is not None else None

    def check(self, authorization: str | None) -> None:
        """Raise ``Unauthenticated`` unless ``authorization`` carries the token (or auth is off)."""
        if self._expected is None:
            return
        if not authorization:
            raise Unauthenticated("missing Authorization header: send 'Authorization: Bearer <ingest token>'")
        if not hmac.compare_digest(authorization.encode(), self._expected):
            raise Unauthenticated("invalid ingest token")
