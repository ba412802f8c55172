"""What every non-OTLP JSON endpoint shares: the token check, JSON bodies, and failures in the one body shape.

A route writes only its success path and raises otel-margin's errors for the rest; ``endpoint`` answers every
exception with ``status.json_error`` (so a route never builds an error response or names an error status).
Before the route runs, ``endpoint`` refuses (400, naming the parameter) path and query parameters that no route
can use: a NUL character, bytes that are not UTF-8 (percent-decoded to U+FFFD), or more than 1,024 characters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from starlette.requests import Request
from starlette.responses import Response

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.web.auth import ScopedCheck
from otel_margin_backend.web.status import UnsupportedMediaType, json_error

Handler = Callable[[Request], Awaitable[Response]]

JSON = "application/json"
MAX_PARAMETER_CHARS = 1024
"""Longest path or query parameter value (names, dates and lists of models are far shorter)."""


def parameter_problem(request: Request) -> str | None:
    """Why a request's path or query parameters cannot be used by any route, or None.

    Args:
        request: The request.

    Returns:
        ``"query parameter 'to' contains a NUL character"`` and the like (never the value); None when usable.
    """
    params = [("path parameter", k, str(v)) for k, v in request.path_params.items()]
    params += [("query parameter", k, v) for k, v in request.query_params.multi_items()]
    for kind, key, value in params:
        name = f"{kind} {key[:40]!r}" if key.isprintable() else f"a {kind}"
        if "\x00" in key or "\x00" in value:
            return f"{name} contains a NUL character"
        if "\ufffd" in key or "\ufffd" in value:
            return f"{name} is not valid UTF-8"
        if len(value) > MAX_PARAMETER_CHARS:
            return f"{name} is over {MAX_PARAMETER_CHARS:,} characters"
    return None


def endpoint(handler: Handler, *, tokens: ScopedCheck | None = None) -> Handler:
    """``handler`` behind the token check, with every exception answered by ``json_error``.

    Args:
        handler: The route's own work; it raises otel-margin's errors for what is not a success.
        tokens: The bearer-token check of the scope the route needs (``TokenCheck.require``), or None for an
            open endpoint (``/healthz``, ``/readyz``).

    Returns:
        The endpoint to give to a starlette ``Route``.
    """

    async def answer(request: Request) -> Response:
        try:
            if tokens is not None:
                tokens.check(request.headers.get("authorization"))
            problem = parameter_problem(request)
            if problem is not None:
                raise PermanentError(problem)
            return await handler(request)
        except Exception as exc:  # every failure becomes the one error body; classify() logs the unexpected
            return json_error(exc)

    return answer


def require_json(request: Request, what: str) -> None:
    """Refuse a body that is not ``application/json`` (a request without Content-Type is taken as JSON).

    Args:
        request: The request.
        what: What the body holds, for the message ("usage", "revenue").

    Raises:
        UnsupportedMediaType: another Content-Type (415, as the OTLP receivers answer).
    """
    kind = (request.headers.get("content-type") or JSON).split(";")[0].strip().lower()
    if kind != JSON:
        raise UnsupportedMediaType(f"send {what} as {JSON}, not {kind or '(empty)'}")


class NothingValid(PermanentError):
    """Every entry of a batch was invalid: a 400 whose ``details`` name each entry and what is wrong with it."""

    def __init__(self, rejected: Sequence[Mapping[str, object]]) -> None:
        count = len(rejected)
        super().__init__(f"{'the entry is' if count == 1 else f'all {count} entries are'} invalid (see details): "
                         "fix and send again")  # fmt: skip
        self.details = tuple(rejected)
