"""``budget_state()``: ask otel-margin, before spending, whether a customer's budget allows it; never raising.

One call is ``GET /v1/budgets/check?customer=…&feature=…`` on the backend's HTTP port, answered from the state the
backend refreshes every budget evaluation (``OTEL_MARGIN_BUDGET_EVALUATE_INTERVAL_S``, 60 s by default). Answers
are cached in the process for a short TTL, so a hot path asks the network at most once per TTL per customer and
feature; a state the app sees is at most TTL + the evaluation interval old.

Settings, read from the environment at the first call:

    OTEL_MARGIN_BUDGET_CHECK_URL      the backend's HTTP base URL; default OTEL_MARGIN_ENDPOINT, then
                                      http://localhost:4318 (a Collector in between does not serve the check)
    OTEL_MARGIN_BUDGET_CHECK_TOKEN    a token of scope budgets:check (or read, admin); default
                                      OTEL_MARGIN_INGEST_TOKEN
    OTEL_MARGIN_BUDGET_CHECK_TTL_S    seconds an answer (or a failure) is reused; default 15
    OTEL_MARGIN_BUDGET_CHECK_TIMEOUT_S   connect and read timeout of one check; default 0.5

Nothing is raised into the app: any failure (backend down, timeout, a refused token, a bad argument) returns a
``BudgetState`` whose ``state`` is ``"unknown"`` and whose ``error`` says why, and logs one warning per
``LOG_EVERY_S`` at most (logger ``otel_margin``). After a failure to reach the backend, checks answer ``unknown``
without trying again for one TTL, so a backend that is down costs one timeout per TTL, not one per call.
HTTP goes through ``requests``, which the SDK's OTLP/HTTP exporter already depends on; it is imported at the first
check, never at ``import otel_margin``.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import requests

__all__ = ["STATES", "BudgetChecker", "BudgetState", "budget_state"]

_log = logging.getLogger("otel_margin")

STATES = ("ok", "warning", "critical", "exceeded", "none", "unknown")
"""What ``BudgetState.state`` may be: the backend's answers, ``none`` (no budget applies) and ``unknown``."""
DEFAULT_URL = "http://localhost:4318"
DEFAULT_TTL_S = 15.0
DEFAULT_TIMEOUT_S = 0.5
LOG_EVERY_S = 60.0
"""Failures are logged at most once per this many seconds (the rest at debug level)."""
MAX_CACHED = 4096
"""Distinct (customer, feature) answers kept; the least recently asked is dropped first."""
PATH = "/v1/budgets/check"


@dataclass(frozen=True, kw_only=True)
class BudgetState:
    """A customer's budget state as otel-margin last evaluated it, or ``unknown`` with the reason."""

    state: str
    """``ok``, ``warning``, ``critical``, ``exceeded`` (the worst budget that applies, at its thresholds: by
    default 75 / 90 / 100 % of the limit), ``none`` (no budget applies) or ``unknown`` (no answer: see ``error``,
    or the budget's spend needs an exchange rate the backend lacks)."""
    customer: str
    feature: str | None = None
    budget: str | None = None
    """The budget that decides ``state``."""
    spend: Decimal | None = None
    limit: Decimal | None = None
    percent_used: Decimal | None = None
    currency: str | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    as_of: datetime | None = None
    """When the backend computed the state (its database clock)."""
    stale: bool = False
    """The backend could not evaluate for over two intervals (its database is down): ``as_of`` is old."""
    error: str | None = None
    """Why the state is ``unknown`` when no answer came; None otherwise."""

    @property
    def exceeded(self) -> bool:
        """True when a budget that applies is spent (the state to throttle or degrade on)."""
        return self.state == "exceeded"


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        _log.warning("%s=%r is not a number of seconds >= 0; using %s", name, raw, default)
        return default
    return value


def _env_url() -> str:
    for name in ("OTEL_MARGIN_BUDGET_CHECK_URL", "OTEL_MARGIN_ENDPOINT"):
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        parts = urlsplit(value)
        if parts.scheme in ("http", "https") and parts.netloc:
            return value
        _log.warning("%s=%r is not an http:// or https:// URL; ignoring it", name, value)
    return DEFAULT_URL


class BudgetChecker:
    """Budget checks against one backend, with the cache; ``budget_state()`` uses one made from the environment."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        ttl_s: float = DEFAULT_TTL_S,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        log_every_s: float = LOG_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url.rstrip("/") + PATH
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.log_every_s = log_every_s
        self._headers = {"authorization": f"Bearer {token}"} if token else {}
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str | None], tuple[float, BudgetState]] = OrderedDict()
        self._paused_until = -math.inf
        self._pause_reason = ""
        self._logged_at = -math.inf
        self._local = threading.local()  # a requests Session per thread: Sessions are not documented thread-safe
        self.requests_sent = 0
        """Checks that went to the network (the rest came from the cache, or from a pause after a failure)."""

    @classmethod
    def from_environment(cls) -> BudgetChecker:
        """A checker configured by the ``OTEL_MARGIN_BUDGET_*`` variables (see the module docstring)."""
        token = os.environ.get("OTEL_MARGIN_BUDGET_CHECK_TOKEN") or os.environ.get("OTEL_MARGIN_INGEST_TOKEN")
        return cls(
            _env_url(),
            token=(token or "").strip() or None,
            ttl_s=_env_float("OTEL_MARGIN_BUDGET_CHECK_TTL_S", DEFAULT_TTL_S),
            timeout_s=_env_float("OTEL_MARGIN_BUDGET_CHECK_TIMEOUT_S", DEFAULT_TIMEOUT_S) or DEFAULT_TIMEOUT_S,
        )

    def state(self, customer: str, feature: str | None = None) -> BudgetState:
        """The budget state of ``customer`` (and ``feature``); never raises (see ``budget_state``)."""
        try:
            return self._state(customer, feature)
        except Exception as exc:  # a bug here must not reach the app either
            return self._failed(str(customer), None, f"budget check failed: {exc!r}")

    def _state(self, customer: str, feature: str | None) -> BudgetState:
        problem = _argument_problem(customer, feature)
        if problem is not None:
            return self._failed(str(customer), None, problem)
        key = (customer, feature)
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                self._cache.move_to_end(key)
                return hit[1]
            if now < self._paused_until:
                return BudgetState(state="unknown", customer=customer, feature=feature, error=self._pause_reason)
        answer, pause = self._fetch(customer, feature)
        with self._lock:
            if pause:
                self._paused_until = self._clock() + self.ttl_s
                self._pause_reason = answer.error or "the backend did not answer"
            self._cache[key] = (self._clock() + self.ttl_s, answer)
            self._cache.move_to_end(key)
            while len(self._cache) > MAX_CACHED:
                self._cache.popitem(last=False)
        return answer

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = self._local.session = requests.Session()
        return session

    def _fetch(self, customer: str, feature: str | None) -> tuple[BudgetState, bool]:
        """The backend's answer, or ``unknown``; True as second value when checks should pause for a TTL."""
        params = {"customer": customer} if feature is None else {"customer": customer, "feature": feature}
        with self._lock:
            self.requests_sent += 1
        try:
            response = self._session().get(self.url, params=params, headers=self._headers, timeout=self.timeout_s)
        except Exception as exc:  # connection refused, timeout, DNS: the backend is not reachable
            return self._failed(
                customer, feature, f"cannot reach otel-margin at {self.url}: {type(exc).__name__}"
            ), True
        if response.status_code != 200:
            message = _error_message(response)
            pause = response.status_code in (401, 403, 404) or response.status_code >= 500
            return self._failed(customer, feature, f"{self.url} answered {response.status_code}: {message}"), pause
        try:
            return _parse(customer, feature, response.json()), False
        except Exception as exc:
            return self._failed(customer, feature, f"{self.url} answered what is not a budget check: {exc!r}"), True

    def _failed(self, customer: str, feature: str | None, reason: str) -> BudgetState:
        now = self._clock()
        with self._lock:
            loud = now - self._logged_at >= self.log_every_s
            if loud:
                self._logged_at = now
        if loud:
            _log.warning("budget state unknown: %s (logged at most every %.0f s)", reason, self.log_every_s)
        else:
            _log.debug("budget state unknown: %s", reason)
        return BudgetState(state="unknown", customer=customer, feature=feature, error=reason)


def _argument_problem(customer: object, feature: object) -> str | None:
    if not isinstance(customer, str) or not customer.strip():
        return f"customer must be a non-empty string, got {type(customer).__name__}"
    if feature is not None and (not isinstance(feature, str) or not feature.strip()):
        return f"feature must be None or a non-empty string, got {type(feature).__name__}"
    for name, value in (("customer", customer), ("feature", feature)):
        if isinstance(value, str) and ("\x00" in value or len(value) > 1024):
            return f"{name} holds a NUL character or is over 1,024 characters"
    return None


def _error_message(response: requests.Response) -> str:
    try:
        return str(response.json()["error"]["message"])[:200]
    except Exception:
        return response.reason or "no message"


def _decimal(value: object) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a decimal: {value!r}") from None


def _time(value: object) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _parse(customer: str, feature: str | None, body: dict[str, Any]) -> BudgetState:
    state = body["state"]
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}")
    period = body.get("period") or {}
    return BudgetState(
        state=state,
        customer=customer,
        feature=feature,
        budget=body.get("budget"),
        spend=_decimal(body.get("spend")),
        limit=_decimal(body.get("limit")),
        percent_used=_decimal(body.get("percent_used")),
        currency=body.get("currency"),
        period_start=_time(period.get("start")),
        period_end=_time(period.get("end")),
        as_of=_time(body.get("as_of")),
        stale=bool(body.get("stale", False)),
    )


_default: BudgetChecker | None = None
_default_lock = threading.Lock()


def _checker() -> BudgetChecker:
    global _default
    with _default_lock:
        if _default is None:
            _default = BudgetChecker.from_environment()
        return _default


def _reset() -> None:
    """Forget the default checker (tests change the environment between cases)."""
    global _default
    with _default_lock:
        _default = None


def budget_state(customer: str, *, feature: str | None = None) -> BudgetState:
    """Whether ``customer`` (on ``feature``) may spend more, per the budgets otel-margin evaluates; never raises.

    The worst budget that applies decides: a budget on this customer, on every customer, and (with ``feature``)
    on this feature; budgets scoped to a provider or a model do not take part. Answers are cached for
    ``OTEL_MARGIN_BUDGET_CHECK_TTL_S`` (default 15 s); one check waits at most ``OTEL_MARGIN_BUDGET_CHECK_TIMEOUT_S``
    (default 0.5 s). Blocking: in asyncio code call it through ``asyncio.to_thread`` if a cache miss must not
    hold the loop for that long.

    Args:
        customer: The customer id, as your spans carry it (``otel_margin.customer``).
        feature: The feature, or None to ask about the customer's budgets that name no feature.

    Returns:
        The state; ``state == "unknown"`` (with ``error``) when the backend gave no usable answer: decide
        yourself whether unknown means go (fail open) or stop.
    """
    try:
        return _checker().state(customer, feature)
    except Exception as exc:  # e.g. a broken environment; the app never sees it
        return BudgetState(state="unknown", customer=str(customer), feature=None, error=repr(exc))
