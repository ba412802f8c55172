"""``otel-margin doctor --acceptance``: the rollout's acceptance checklist, checked against stored state.

Each item reads one named view or function (migrations 0080 and 0081, docs/acceptance.md) and says ``pass``,
``fail`` (measured, and the condition is not met) or ``unknown`` (nothing stored yet to decide on), with the
figures that decided it. The exit status is 1 when an item fails, 3 when none fails but one is unknown, else 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any, Literal

from rich.markup import escape
from rich.table import Table

from otel_margin_backend.settings import Settings, variable_name
from otel_margin_backend.storage.database import Conn

State = Literal["pass", "fail", "unknown"]

MIN_MAPPED_INVOICES = 5
"""Stripe invoices booked and mapped to a customer that validate the Stripe sync."""
PRICE_SYNC_TARGET_PER_MILLE = 999
"""Price syncs that must succeed per thousand attempts over 7 days (99.9 %)."""
LATENCY_TARGET_S = Decimal(1)
"""The median receive -> stored latency must be below this."""
SHOWN = 10
"""Entry points or invoices named in the evidence (the JSON lists them all)."""

_COLORS = {"pass": "green", "fail": "red", "unknown": "yellow"}
EXIT_FAILED, EXIT_UNKNOWN = 1, 3


@dataclass(frozen=True, slots=True)
class Item:
    """One checklist item, its state and the evidence."""

    key: str
    title: str
    state: State
    evidence: str
    facts: dict[str, Any] = field(default_factory=dict)
    """The figures behind the evidence, for ``--format json``."""

    def as_json(self) -> dict[str, Any]:
        """The item as JSON values (times ISO 8601, decimals as strings)."""
        return {
            "item": self.key,
            "title": self.title,
            "state": self.state,
            "evidence": self.evidence,
            **{k: _json(v) for k, v in self.facts.items()},
        }


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value


def _at(value: datetime) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def check(conn: Conn, settings: Settings) -> list[Item]:
    """Every checklist item, in the checklist's order.

    Args:
        conn: A connection to a migrated store.
        settings: The effective settings (whether a budget webhook is configured).

    Returns:
        The six items.
    """
    webhook = settings.budgets.webhook.url is not None
    return [
        instrumentation(conn),
        stripe_invoices(conn),
        critical_alert(conn, webhook=webhook),
        price_sync(conn),
        ingest_latency(conn),
        alert_delivery(conn, webhook=webhook),
    ]


def instrumentation(conn: Conn) -> Item:
    """Every entry point (service x feature) seen in 30 days sent model calls in the last 24 hours."""
    title = "Instrumentation live for every entry point"
    item = partial(Item, "instrumentation", title)
    rows = conn.execute(
        "SELECT service, feature, calls_30d, calls_24h, last_call_at FROM acceptance_entry_points"
        " ORDER BY service, feature"
    ).fetchall()
    services = sorted({r[0] for r in rows if r[3] > 0})
    calls = sum(r[3] for r in rows)
    silent = [{"service": r[0], "feature": r[1], "last_call_at": r[4]} for r in rows if r[3] == 0]
    facts = {"services_24h": services, "calls_24h": calls, "entry_points_30d": len(rows), "silent": silent}
    if not rows:
        return item(
            "fail",
            "No model call stored in the last 30 days: instrument an app (docs/instrument.md) and send its spans here.",
            facts,
        )
    head = (
        f"{len(services)} service(s) sent {calls:,} model call(s) in the last 24 h ({_some(services)})."
        if services
        else "No model call in the last 24 h."
    )
    if not silent:
        return item(
            "pass",
            f"{head} All {len(rows)} entry points (service/feature) of the last 30 days are live.",
            facts,
        )
    named = "; ".join(f"{s['service']}/{s['feature']} (last {_at(s['last_call_at'])})" for s in silent[:SHOWN])
    more = f"; and {len(silent) - SHOWN} more" if len(silent) > SHOWN else ""
    return item(
        "fail",
        f"{head} {len(silent)} of {len(rows)} entry points of the last 30 days have none: {named}{more}.",
        facts,
    )


def stripe_invoices(conn: Conn) -> Item:
    """At least ``MIN_MAPPED_INVOICES`` Stripe invoices are booked and map to an otel-margin customer."""
    title = f"Stripe sync validated with {MIN_MAPPED_INVOICES} sample invoices"
    item = partial(Item, "stripe_invoices", title)
    row = conn.execute("SELECT count(*), count(customer_id) FROM stripe_invoices_booked").fetchone()
    assert row is not None
    booked, mapped = int(row[0]), int(row[1])
    samples = conn.execute(
        "SELECT invoice_id, customer_id, net, currency FROM stripe_invoices_booked WHERE customer_id IS NOT NULL"
        " ORDER BY booked_at DESC, invoice_id LIMIT %s",
        (MIN_MAPPED_INVOICES,),
    ).fetchall()
    facts = {
        "booked": booked,
        "mapped": mapped,
        "unmapped": booked - mapped,
        "samples": [{"invoice": s[0], "customer": s[1], "net": s[2], "currency": s[3]} for s in samples],
    }
    if booked == 0:
        return item(
            "fail",
            "No Stripe invoice is booked: point Stripe's webhook at "
            "/v1/stripe/webhook or run otel-margin stripe backfill.",
            facts,
        )
    head = f"{mapped} of {booked} booked Stripe invoice(s) map to a customer (need {MIN_MAPPED_INVOICES})"
    named = ", ".join(f"{s[0]} -> {s[1]}" for s in samples)
    unmapped = f"; {booked - mapped} unmapped: otel-margin customers unmapped lists them" if booked > mapped else ""
    state: State = "pass" if mapped >= MIN_MAPPED_INVOICES else "fail"
    return item(state, f"{head}{': ' + named if named else ''}{unmapped}.", facts)


def critical_alert(conn: Conn, *, webhook: bool) -> Item:
    """The last budget alert at the critical threshold was delivered by the budget webhook."""
    title = "Budget alert sent at the 90 % critical threshold"
    item = partial(Item, "critical_alert", title)
    row = conn.execute(
        "SELECT alert_id, budget, scope_label, threshold_percent, crossed_at, state, attempts, last_error,"
        " delivered_at FROM budget_alert_deliveries WHERE severity = 'critical' AND event = 'crossed'"
        " ORDER BY crossed_at DESC, alert_id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return item(
            "unknown",
            "No budget has crossed its critical threshold yet (critical_percent, 90 by default): nothing to verify.",
            {"alert": None},
        )
    alert_id, budget, scope, threshold, crossed_at, state, attempts, last_error, delivered_at = row
    facts = {
        "alert": {
            "id": alert_id,
            "budget": budget,
            "scope": scope,
            "threshold_percent": threshold,
            "crossed_at": crossed_at,
            "delivery": state,
            "attempts": attempts,
            "last_error": last_error,
            "delivered_at": delivered_at,
        }
    }
    head = f"Last critical alert: {budget} ({scope}) crossed {threshold.normalize():f} % at {_at(crossed_at)}"
    off = "" if threshold == 90 else " (the checklist's threshold is 90 %: set critical_percent: 90)"
    if state == "delivered":
        return item("pass", f"{head}; the webhook delivered it at {_at(delivered_at)}{off}.", facts)
    if state == "failed":
        return item("fail", f"{head}; the webhook refused it: {last_error}{off}.", facts)
    if not webhook:
        return item(
            "fail",
            f"{head}; not sent: no budget webhook is configured ({variable_name(('budgets', 'webhook', 'url'))}){off}.",
            facts,
        )
    if attempts > 0:
        return item(
            "fail",
            f"{head}; not delivered after {attempts} attempt(s), still retrying: {last_error}{off}.",
            facts,
        )
    return item("unknown", f"{head}; queued, not sent yet (serve delivers it){off}.", facts)


def price_sync(conn: Conn) -> Item:
    """At least 99.9 % of the price-sync attempts of the last 7 days succeeded."""
    title = "Pricing sync success >= 99.9 % for 7 days"
    item = partial(Item, "price_sync", title)
    row = conn.execute(
        "SELECT attempts, succeeded, failed, success_pct, first_attempt_at, last_failure_at, last_error"
        " FROM price_sync_success_7d"
    ).fetchone()
    assert row is not None
    attempts, succeeded, failed, pct, first, last_failure, last_error = row
    facts = {
        "attempts": attempts,
        "succeeded": succeeded,
        "failed": failed,
        "success_pct": pct,
        "first_attempt_at": first,
        "last_failure_at": last_failure,
        "last_error": last_error,
    }
    if attempts == 0:
        return item(
            "unknown",
            "No price sync attempt in the last 7 days: serve syncs every "
            f"{variable_name(('pricing', 'sync_interval_s'))} seconds; otel-margin prices sync runs one.",
            facts,
        )
    ok = succeeded * 1000 >= attempts * PRICE_SYNC_TARGET_PER_MILLE
    since = f" since {_at(first)}" if first is not None else ""
    evidence = f"{succeeded} of {attempts} attempt(s){since} succeeded ({pct.normalize():f} %, need 99.9 %)"
    if last_failure is not None:
        evidence += f"; last failure {_at(last_failure)}: {last_error}"
    return item("pass" if ok else "fail", evidence + ".", facts)


def ingest_latency(conn: Conn) -> Item:
    """The median receive -> stored latency of the last 24 hours is under a second."""
    title = "Ingestion latency < 1 s (median)"
    item = partial(Item, "ingest_latency", title)
    row = conn.execute(
        "SELECT events, requests, median_s, under_1s_pct, max_s"
        " FROM ingest_latency_summary(now() - interval '24 hours')"
    ).fetchone()
    assert row is not None
    events, requests, median, under, slowest = row
    facts = {"events": events, "requests": requests, "median_s": median, "within_1s_pct": under, "max_s": slowest}
    if events == 0 or median is None:
        return item(
            "unknown",
            "No ingest latency recorded in the last 24 h: serve records it once a minute while it stores model calls.",
            facts,
        )
    state: State = "pass" if median < LATENCY_TARGET_S else "fail"
    return item(
        state,
        f"Median receive -> stored {_seconds(median)} over {events:,} event(s) in {requests:,} request(s) "
        f"of the last 24 h; {under.normalize():f} % within 1 s; slowest {_seconds(slowest)}.",
        facts,
    )


def _some(names: list[str]) -> str:
    more = f", and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def _seconds(value: Decimal) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def alert_delivery(conn: Conn, *, webhook: bool) -> Item:
    """A budget webhook notification was delivered (Grafana's contact points keep their own history)."""
    title = "Alert delivery verified"
    item = partial(Item, "alert_delivery", title)
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE state = 'delivered'), count(*) FILTER (WHERE state = 'failed'),"
        " count(*) FILTER (WHERE state = 'pending' AND attempts > 0), count(*) FILTER (WHERE state = 'pending')"
        " FROM budget_notifications"
    ).fetchone()
    assert row is not None
    delivered, failed, retrying, pending = (int(v) for v in row)
    last = conn.execute(
        "SELECT budget, severity, event, delivered_at FROM budget_alert_deliveries WHERE state = 'delivered'"
        " ORDER BY delivered_at DESC, notification_id DESC LIMIT 1"
    ).fetchone()
    facts: dict[str, Any] = {
        "delivered": delivered,
        "failed": failed,
        "retrying": retrying,
        "pending": pending,
        "last_delivered": None
        if last is None
        else {"budget": last[0], "severity": last[1], "event": last[2], "delivered_at": last[3]},
    }
    counts = f"{delivered} delivered, {failed} refused, {pending} pending"
    if last is not None:
        return item(
            "pass",
            f"The budget webhook delivered {last[0]}'s {last[1]} {last[2]} notification at {_at(last[3])} ({counts}).",
            facts,
        )
    if failed or retrying:
        return item(
            "fail",
            f"No budget webhook delivery succeeded ({counts}, {retrying} "
            "retrying): check the endpoint (Budgets dashboard, otel-margin budgets alerts).",
            facts,
        )
    if not webhook:
        return item(
            "unknown",
            f"No budget webhook is configured "
            f"({variable_name(('budgets', 'webhook', 'url'))}); {counts}. Grafana's contact points keep their "
            "own delivery history (Alerting > Contact points).",
            facts,
        )
    return item("unknown", f"Nothing sent to the budget webhook yet ({counts}).", facts)


def exit_code(items: list[Item]) -> int:
    """1 when an item fails, 3 when none fails but one is unknown, 0 when all pass."""
    states = {i.state for i in items}
    return EXIT_FAILED if "fail" in states else EXIT_UNKNOWN if "unknown" in states else 0


def table(items: list[Item]) -> Table:
    """The checklist as a table: item, state, evidence."""
    out = Table("#", "Item", "State", "Evidence", title="Acceptance checklist", title_justify="left")
    for n, item in enumerate(items, 1):
        out.add_row(str(n), item.title, f"[{_COLORS[item.state]}]{item.state}[/]", escape(item.evidence))
    return out


def as_json(items: list[Item]) -> dict[str, Any]:
    """The checklist as JSON: each item with its facts, the counts per state, and whether all pass."""
    return {
        "checklist": [i.as_json() for i in items],
        **{state: sum(i.state == state for i in items) for state in ("pass", "fail", "unknown")},
        "accepted": all(i.state == "pass" for i in items),
    }
