"""Who the work in hand is for: ``customer()`` and ``feature()`` put W3C baggage in the current OTel context.

The baggage entries ``customer.id`` and ``feature.name`` live in the OpenTelemetry context, which is a
``contextvars`` variable: asyncio tasks inherit it, threads started with plain ``threading.Thread`` or a
``ThreadPoolExecutor`` do not (run them with ``contextvars.copy_context().run``). The baggage span processor that
``instrument()`` installs copies the two entries onto every span started below, and the W3C baggage propagator
carries them to downstream services.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextvars import Token
from types import TracebackType
from typing import Any, TypeVar, cast

from opentelemetry import baggage, context

__all__ = ["CUSTOMER_KEY", "FEATURE_KEY", "SCOPE_KEYS", "BaggageScope", "customer", "feature"]

CUSTOMER_KEY = "customer.id"
"""Baggage entry and span attribute naming the paying customer (the backend's first customer key)."""
FEATURE_KEY = "feature.name"
"""Baggage entry and span attribute naming the product feature (the backend's first feature key)."""
SCOPE_KEYS = frozenset({CUSTOMER_KEY, FEATURE_KEY})
"""The only baggage entries the SDK copies onto spans: other baggage stays off spans."""

F = TypeVar("F", bound=Callable[..., Any])


class BaggageScope:
    """Baggage entries attached for a ``with`` block or for each call of a decorated function.

    Entering attaches a new context that holds the entries (overriding the same keys from an outer scope);
    leaving detaches it, so the outer values come back. One object may be entered again (also nested), but a
    ``with`` on one object must enter and leave on the same thread or task. Each call of a decorated function gets
    its own context, so a decorated function may run on many threads and tasks at once.
    """

    __slots__ = ("_entries", "_tokens")

    def __init__(self, entries: dict[str, str]) -> None:
        self._entries = entries
        self._tokens: list[Token[context.Context]] = []

    def __repr__(self) -> str:
        inner = ", ".join(f"{key}={value!r}" for key, value in self._entries.items())
        return f"<otel_margin scope {inner or '(empty)'}>"

    def _context(self) -> context.Context:
        ctx = context.get_current()
        for key, value in self._entries.items():
            ctx = baggage.set_baggage(key, value, ctx)
        return ctx

    def __enter__(self) -> None:
        self._tokens.append(context.attach(self._context()))

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        context.detach(self._tokens.pop())

    def __call__(self, func: F) -> F:
        """Decorate ``func`` (sync or ``async def``) so that each call runs inside this scope.

        Raises:
            TypeError: ``func`` is a generator or async generator function; its body runs after the call
                returns, so use ``with`` inside it instead.
        """
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(
                f"{func.__qualname__} is a generator function: its body runs outside the call, so a decorator "
                "cannot scope it; put `with otel_margin.customer(...)` inside the generator instead"
            )
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                token = context.attach(self._context())
                try:
                    return await func(*args, **kwargs)
                finally:
                    context.detach(token)

            return cast(F, run_async)

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            token = context.attach(self._context())
            try:
                return func(*args, **kwargs)
            finally:
                context.detach(token)

        return cast(F, run)


def _entry(value: object) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text or None


def customer(customer_id: str | None, *, feature: str | None = None) -> BaggageScope:
    """Attribute everything below to a customer (and optionally a feature), as a ``with`` block or a decorator.

    ``with otel_margin.customer("acct_123", feature="summarize"):`` puts ``customer.id=acct_123`` and
    ``feature.name=summarize`` in W3C baggage; every span started inside carries them as attributes (through the
    baggage span processor that ``instrument()`` installs), and outgoing calls propagate them to other services.
    Nested scopes override and restore: an inner ``customer("b")`` keeps the outer feature.

    Args:
        customer_id: Your id of the paying customer (account, tenant, workspace). ``None`` or ``""`` sets no
            customer (an outer one, if any, stays); the backend books such model calls as unattributed. Other
            types are converted with ``str()``. It travels in HTTP headers: never put secrets or personal data here.
        feature: The product feature the work serves, e.g. ``"summarize"``. ``None`` keeps the outer feature.

    Returns:
        A scope usable as ``with customer(...):`` and as ``@customer(...)`` on sync and ``async def`` functions.
    """
    entries: dict[str, str] = {}
    if (cid := _entry(customer_id)) is not None:
        entries[CUSTOMER_KEY] = cid
    if (name := _entry(feature)) is not None:
        entries[FEATURE_KEY] = name
    return BaggageScope(entries)


def feature(name: str | None) -> BaggageScope:
    """Attribute everything below to a product feature, keeping the customer set further out.

    For code that knows what it does but not for whom: the request's edge sets ``customer(...)``, and
    ``@otel_margin.feature("summarize")`` on the handler names the feature.

    Args:
        name: The feature, e.g. ``"summarize"``. ``None`` or ``""`` changes nothing.

    Returns:
        A scope usable as ``with feature(...):`` and as ``@feature(...)`` on sync and ``async def`` functions.
    """
    entries: dict[str, str] = {}
    if (value := _entry(name)) is not None:
        entries[FEATURE_KEY] = value
    return BaggageScope(entries)
