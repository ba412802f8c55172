"""otel-margin's Grafana dashboards as code (grafana-foundation-sdk).

``python dashboards/build.py`` writes each dashboard to ``dashboards/json/<uid>.json``, which Grafana loads
(dashboards/provisioning/dashboards/otel-margin.yaml) and ``otel-margin grafana push`` uploads.
"""

from __future__ import annotations

from collections.abc import Callable

from otel_margin_dashboards import (
    bills,
    budgets,
    customer_detail,
    customer_pnl,
    data_quality,
    overview,
    pipeline,
    simulator,
)

DASHBOARDS: dict[str, Callable[[], dict[str, object]]] = {
    overview.UID: overview.build,
    customer_pnl.UID: customer_pnl.build,
    customer_detail.UID: customer_detail.build,
    simulator.UID: simulator.build,
    budgets.UID: budgets.build,
    data_quality.UID: data_quality.build,
    pipeline.UID: pipeline.build,
    bills.UID: bills.build,
}
"""Every dashboard by uid; the uid is also its file name."""

__all__ = ["DASHBOARDS"]
