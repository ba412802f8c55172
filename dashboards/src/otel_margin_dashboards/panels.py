"""Building blocks shared by every otel-margin dashboard: the datasource, raw-SQL targets, panels and layout.

Every query is raw SQL for Grafana's PostgreSQL datasource (uid ``otel-margin``) and reads the views and functions
of the backend's migrations (``pnl()``, ``usage_hourly``, ``budget_status``, ...), the same SQL the CLI and REST API
read. Money columns are USD unless the panel says otherwise (``pnl()`` reports in the reporting currency, USD by
default).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from typing import Literal, Self

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DashboardLinkType,
    DashboardSpecialValueMapOptions,
    DataSourceRef,
    DynamicConfigValue,
    GridPos,
    Panel,
    SpecialValueMap,
    SpecialValueMatch,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

DATASOURCE_UID = "otel-margin"
"""The provisioned datasource (dashboards/provisioning/datasources/otel-margin.yaml)."""
DATASOURCE_TYPE = "grafana-postgresql-datasource"
DATASOURCE = DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)
TAG = "otel-margin"

PNL_RANGE = "$__timeFrom(), date_trunc('second', $__timeTo()::timestamptz + interval '999 milliseconds')"
"""The dashboard's time range as the half-open ``[from, to)`` that ``pnl()`` and ``pnl_data_quality()`` take.

Grafana ends its ranges inclusively (a "This month" range ends at ``...T23:59:59.999Z``); rounding the end up to a
whole second turns that into the next month's first instant, so the stats equal ``otel-margin pnl --month``. An end
on a whole second is left as it is."""

CUSTOMER_DASHBOARD_UID = "otel-margin-customer"
CUSTOMER_LINK = f"/d/{CUSTOMER_DASHBOARD_UID}/customer-detail?var-customer=${{__value.raw}}&${{__url_time_range}}"
"""A data link from a customer cell to the Customer detail dashboard, keeping the time range."""

Format = Literal["table", "time_series"]

RED, ORANGE, YELLOW, GREEN, BLUE = "red", "orange", "yellow", "green", "blue"


class SqlQuery(cogvariants.Dataquery):
    """A raw-SQL target of the PostgreSQL datasource (the SDK ships no builder for it)."""

    def __init__(self, raw_sql: str, fmt: Format, ref_id: str) -> None:
        self.raw_sql = raw_sql
        self.fmt = fmt
        self.ref_id = ref_id

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": DATASOURCE.to_json(),
            "editorMode": "code",
            "format": self.fmt,
            "rawQuery": True,
            "rawSql": self.raw_sql,
            "refId": self.ref_id,
        }


class Sql(cogbuilder.Builder[cogvariants.Dataquery]):
    """``Sql("SELECT ...", "time_series")``: one raw-SQL target."""

    def __init__(self, raw_sql: str, fmt: Format = "table", ref_id: str = "A") -> None:
        self._query = SqlQuery(_dedent(raw_sql), fmt, ref_id)

    def build(self) -> SqlQuery:
        return self._query


def _dedent(sql: str) -> str:
    return textwrap.dedent(sql).strip()


class Grid:
    """Places panels left to right on Grafana's 24-column grid, wrapping to a new row when one does not fit."""

    WIDTH = 24

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.row_height = 0

    def pos(self, w: int, h: int) -> GridPos:
        if self.x + w > self.WIDTH:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        pos = GridPos(h=h, w=w, x=self.x, y=self.y)
        self.x += w
        self.row_height = max(self.row_height, h)
        return pos


def steps(*pairs: tuple[float | None, str]) -> dashboard_builders.ThresholdsConfig:
    """Absolute thresholds: ``steps((None, "red"), (0, "green"))`` is red below 0, green from 0."""
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=color) for value, color in pairs])
    )


MARGIN_STEPS = steps((None, RED), (0, GREEN))
MARGIN_PCT_STEPS = steps((None, RED), (0, ORANGE), (20, GREEN))
"""Margin % colors: negative red, thin (0 to 20 %) orange, healthy green."""
NEUTRAL = steps((None, BLUE))


def stat_panel(
    grid: Grid,
    panel_id: int,
    title: str,
    sql: str,
    *,
    description: str,
    unit: str,
    w: int = 6,
    h: int = 4,
    decimals: int | None = None,
    thresholds: dashboard_builders.ThresholdsConfig = NEUTRAL,
    mappings: dict[str, tuple[str, str]] | None = None,
    unpriced: bool = False,
) -> stat.Panel:
    """A single-value stat from a one-row table query (its first column: a number, a timestamp or text)."""
    panel = (
        stat.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(Sql(sql))
        .grid_pos(grid.pos(w, h))
        .unit(unit)
        .thresholds(thresholds)
        .color_mode(common.BigValueColorMode.VALUE)
        .graph_mode(common.BigValueGraphMode.NONE)
        .justify_mode(common.BigValueJustifyMode.AUTO)
        .text_mode(common.BigValueTextMode.VALUE)
        .orientation(common.VizOrientation.AUTO)
        .reduce_options(
            # Every field, not Grafana's default (numeric fields only), which shows "No data" for a timestamp or text.
            common_builders.ReduceDataOptions().calcs(["lastNotNull"]).fields("/.*/").values(False)
        )
    )
    if decimals is not None:
        panel = panel.decimals(decimals)
    if mappings:
        panel = panel.mappings([value_map(mappings)])
    if unpriced:
        panel = panel.mappings([UNPRICED_MAP])
    return panel


UNPRICED_MAP = SpecialValueMap(
    options=DashboardSpecialValueMapOptions(
        match=SpecialValueMatch.NULL, result=ValueMappingResult(text="unpriced", color=ORANGE, index=0)
    )
)
"""A NULL cost reads ``unpriced``: ``pnl()`` gives NULL, never 0, for a cost made only of unpriced calls."""


def null_map(text: str, color: str) -> SpecialValueMap:
    """A NULL shown as ``text`` (e.g. a payback that never comes: ``no payback``)."""
    return SpecialValueMap(
        options=DashboardSpecialValueMapOptions(
            match=SpecialValueMatch.NULL, result=ValueMappingResult(text=text, color=color, index=0)
        )
    )


def value_map(mappings: dict[str, tuple[str, str]]) -> ValueMap:
    """``{"1": ("stalled", "red")}``: show a value as text, in a color."""
    return ValueMap(
        options={
            value: ValueMappingResult(text=text, color=color, index=i)
            for i, (value, (text, color)) in enumerate(mappings.items())
        }
    )


class Overrides:
    """Field overrides of a table, by column name."""

    def __init__(self) -> None:
        self.items: list[tuple[str, list[DynamicConfigValue]]] = []

    def add(self, column: str, **properties: object) -> Self:
        """``add("margin_pct", unit="percent")``; keys are Grafana property ids with ``__`` for ``.``."""
        self.items.append(
            (column, [DynamicConfigValue(id_val=key.replace("__", "."), value=v) for key, v in properties.items()])
        )
        return self

    def money(self, *columns: str, currency: str = "currencyUSD") -> Self:
        for column in columns:
            self.add(column, unit=currency, decimals=2)
        return self

    def unpriced(self, *columns: str) -> Self:
        """Money columns whose NULL means "no call could be priced": shown as ``unpriced``."""
        for column in columns:
            self.add(column, unit="currencyUSD", decimals=2, mappings=[UNPRICED_MAP])
        return self

    def percent(self, *columns: str) -> Self:
        for column in columns:
            self.add(column, unit="percent", decimals=2)
        return self

    def colored(self, column: str, thresholds: dashboard_builders.ThresholdsConfig, *, unit: str) -> Self:
        """Cell background from thresholds (e.g. margin %: negative red)."""
        return self.add(
            column,
            unit=unit,
            decimals=2,
            thresholds=thresholds.build(),
            custom__cellOptions={"type": "color-background", "mode": "basic"},
        )

    def link_to_customer(self, column: str) -> Self:
        return self.add(column, links=[{"title": "Customer detail", "url": CUSTOMER_LINK}])

    def states(self, column: str, colors: dict[str, str]) -> Self:
        """A text column colored per value (e.g. budget state)."""
        return self.add(
            column,
            mappings=[value_map({value: (value, color) for value, color in colors.items()})],
            custom__cellOptions={"type": "color-text"},
        )


def table_panel(
    grid: Grid,
    panel_id: int,
    title: str,
    sql: str,
    *,
    description: str,
    w: int = 24,
    h: int = 9,
    overrides: Overrides | None = None,
) -> table.Panel:
    panel = (
        table.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(Sql(sql))
        .grid_pos(grid.pos(w, h))
        .show_header(True)
        .cell_height(common.TableCellHeight.SM)
        .footer(common_builders.TableFooterOptions().show(False))
    )
    for column, properties in (overrides or Overrides()).items:
        panel = panel.override_by_name(column, properties)
    return panel


def timeseries_panel(
    grid: Grid,
    panel_id: int,
    title: str,
    sql: str,
    *,
    description: str,
    unit: str,
    w: int = 12,
    h: int = 9,
    series_label: str | None = None,
    bars: bool = False,
    stacked: bool = False,
    min_interval: str = "1h",
) -> timeseries.Panel:
    """A time series from a ``time_series`` query; ``series_label`` names each series by that label's value."""
    panel = (
        timeseries.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(Sql(sql, "time_series"))
        .grid_pos(grid.pos(w, h))
        .interval(min_interval)
        .unit(unit)
        .draw_style(common.GraphDrawStyle.BARS if bars else common.GraphDrawStyle.LINE)
        .fill_opacity(60 if bars else 10)
        .line_width(1)
        .stacking(
            common_builders.StackingConfig().mode(common.StackingMode.NORMAL if stacked else common.StackingMode.NONE)
        )
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.RIGHT)
            .show_legend(True)
            .calcs(["sum"])
        )
        .tooltip(
            common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING)
        )
    )
    if series_label is not None:
        panel = panel.display_name(f"${{__field.labels.{series_label}}}")
    return panel


def query_variable(
    name: str, label: str, sql: str, *, multi: bool, description: str, keep_order: bool = False
) -> dashboard_builders.QueryVariable:
    """A variable filled by a query, refreshed when the time range changes; multi-value ones start at All.

    Options are sorted alphabetically, or kept in the query's order with ``keep_order`` (a single-value variable
    then opens on the query's first row).
    """
    variable = (
        dashboard_builders.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DATASOURCE)
        .query(_dedent(sql))
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.DISABLED if keep_order else VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(multi)
    )
    if multi:
        variable = variable.current(VariableOption(text="All", value="$__all", selected=True))
    return variable


def text_variable(name: str, label: str, default: str, *, description: str) -> dashboard_builders.TextBoxVariable:
    """A free-text variable (e.g. a target margin); queries quote it with ``${name:sqlstring}`` and cast it."""
    return (
        dashboard_builders.TextBoxVariable(name)
        .label(label)
        .description(description)
        .default_value(default)
        .current(VariableOption(text=default, value=default, selected=True))
    )


def build_dashboard(
    uid: str,
    title: str,
    description: str,
    panels: Sequence[cogbuilder.Builder[Panel]],
    *,
    variables: Sequence[dashboard_builders.QueryVariable | dashboard_builders.TextBoxVariable] = (),
    time_from: str = "now-30d",
) -> dict[str, object]:
    """The dashboard as the JSON Grafana loads (a plain dict, keys as Grafana names them)."""
    builder = (
        dashboard_builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .editable()
        .timezone("utc")
        .time(time_from, "now")
        .refresh("5m")
        .link(
            dashboard_builders.DashboardLink("otel-margin")
            .type(DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .keep_time(True)
            .include_vars(False)
            .target_blank(False)
        )
    )
    for variable in variables:
        builder = builder.with_variable(variable)
    for panel in panels:
        builder = builder.with_panel(panel)
    data: dict[str, object] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    # Grafana adds its built-in "Annotations & Alerts" query to an empty list; both lists must exist.
    data["annotations"] = {"list": []}
    templating = data.get("templating")
    data["templating"] = {"list": templating.get("list", []) if isinstance(templating, dict) else []}
    return data
