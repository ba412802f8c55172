"""Evaluating a provisioned alert rule the way Grafana does: query → reduce → threshold, per series.

1. The A query (a PostgreSQL ``time_series`` query) runs over the rule's relative time range, with the macros
   expanded (no dashboard variables). Its rows become time series as Grafana's SQL engine makes them: the
   ``time`` column is the time, each numeric column a value, each text column a label (a "long" frame converted
   to "wide": one series per value column and distinct label set; rows must be sorted by time).
2. A ``reduce`` node turns each series into one number (``last``, ``mean``, ``max``, ... in mode strict,
   ``dropNN`` or ``replaceNN``), keeping the series' labels.
3. A ``threshold`` node compares each number (``gt``, ``lt``, ``within_range``, ``outside_range``; NaN never
   passes), giving 1 (firing) or 0.

The condition node's result per label set is an alert instance. No series at all is "no data", a query error is
"error"; both map through the rule's ``noDataState`` / ``execErrState``. Instance labels are the series labels plus
the rule's labels, whose ``{{ $labels.x }}`` templates are filled from the series.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from tests.dashboards.macros import QueryContext, expand

__all__ = [
    "Evaluation",
    "Instance",
    "Series",
    "evaluate",
    "reduce_values",
    "render_template",
    "threshold",
    "to_series",
]

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Series:
    """One time series of a query result: a value column's points for one label set."""

    name: str
    labels: Mapping[str, str]
    points: Sequence[tuple[datetime, float | None]]


@dataclass(frozen=True)
class Instance:
    """One alert instance: its labels (series + rule), the reduced value (B) and whether the condition holds."""

    labels: Mapping[str, str]
    values: Mapping[str, float]
    firing: bool
    annotations: Mapping[str, str]


@dataclass
class Evaluation:
    """The outcome of one evaluation: ``Alerting`` / ``Normal`` per instance, or the rule's no-data/error state."""

    state: str
    instances: list[Instance] = field(default_factory=list)
    sql: str = ""
    error: str | None = None

    def firing(self, label: str) -> set[str]:
        """The values of ``label`` on firing instances, e.g. ``firing("customer") == {"acme"}``."""
        return {i.labels[label] for i in self.instances if i.firing}

    def normal(self, label: str) -> set[str]:
        return {i.labels[label] for i in self.instances if not i.firing}


class FrameError(ValueError):
    """Grafana could not turn the query's rows into time series (what it reports as a query error)."""


# ------------------------------------------------------------------------------------------------ to series


def _number(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise FrameError("boolean columns are not numeric values; cast them to int")
    if isinstance(value, int | float | Decimal):
        return float(value)
    raise FrameError(f"{value!r} is neither a number nor text")


def _time(value: object) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise FrameError("the time column must be timestamptz (or epoch seconds)")
        return value.astimezone(UTC)
    if isinstance(value, int | float | Decimal):
        return datetime.fromtimestamp(float(value), UTC)
    raise FrameError(f"time value {value!r} is neither a timestamp nor epoch seconds")


TEXT_TYPES = frozenset({18, 19, 25, 1042, 1043})
"""PostgreSQL type oids Grafana reads as strings: "char", name, text, bpchar, varchar."""


def to_series(columns: Sequence[str], rows: Sequence[Sequence[Any]], text_columns: Sequence[str] = ()) -> list[Series]:
    """The series Grafana makes of a ``time_series``-format result; ``text_columns`` are the string-typed ones.

    Raises:
        FrameError: no ``time`` column, a column that is neither numeric nor text, or rows not sorted by time.
    """
    if "time" not in columns and "time_sec" not in columns:
        raise FrameError("found no column named 'time' or 'time_sec'")
    if "metric" in columns:
        raise FrameError("a 'metric' column names series differently; otel-margin's queries use label columns")
    time_index = columns.index("time") if "time" in columns else columns.index("time_sec")
    others = [i for i in range(len(columns)) if i != time_index]
    labels_at = [i for i in others if columns[i] in text_columns]
    value_columns = [i for i in others if i not in labels_at]
    if rows and not value_columns:
        raise FrameError("no numeric value column")
    series: dict[tuple[Labels, str], list[tuple[datetime, float | None]]] = {}
    previous: datetime | None = None
    for row in rows:
        at = _time(row[time_index])
        if previous is not None and at < previous:
            raise FrameError("long series must be sorted ascending by time to be converted")
        previous = at
        labels: Labels = tuple((columns[i], "" if row[i] is None else str(row[i])) for i in labels_at)
        for i in value_columns:
            series.setdefault((labels, columns[i]), []).append((at, _number(row[i])))
    return [Series(name, dict(labels), points) for (labels, name), points in series.items()]


# -------------------------------------------------------------------------------------------- reduce, threshold


def reduce_values(values: Sequence[float | None], reducer: str, mode: str = "", replace_with: float = 0.0) -> float:
    """Grafana's reduce of one series: strict mode ("") turns any null/NaN into NaN; ``dropNN`` drops them;
    ``replaceNN`` replaces them. An empty series sums and counts to 0 and is NaN for the others."""
    nan = [v is None or math.isnan(v) for v in values]
    if mode == "dropNN":
        numbers = [v for v, n in zip(values, nan, strict=True) if not n and v is not None]
    elif mode == "replaceNN":
        numbers = [replace_with if n or v is None else v for v, n in zip(values, nan, strict=True)]
    elif mode == "":
        if reducer == "count":
            return float(len(values))
        if any(nan):
            return math.nan
        numbers = [v for v in values if v is not None]
    else:
        raise ValueError(f"unknown reduce mode {mode!r}")
    if reducer == "count":
        return float(len(numbers))
    if reducer == "sum":
        return math.fsum(numbers)
    if not numbers:
        return math.nan
    if reducer == "mean":
        return math.fsum(numbers) / len(numbers)
    if reducer == "min":
        return min(numbers)
    if reducer == "max":
        return max(numbers)
    if reducer == "last":
        return numbers[-1]
    raise ValueError(f"unknown reducer {reducer!r}")


def threshold(value: float, evaluator: Mapping[str, Any]) -> bool:
    """A threshold node's comparison; NaN never passes."""
    kind, params = evaluator["type"], [float(p) for p in evaluator["params"]]
    if math.isnan(value):
        return False
    if kind == "gt":
        return value > params[0]
    if kind == "lt":
        return value < params[0]
    if kind == "within_range":
        return params[0] < value < params[1]
    if kind == "outside_range":
        return value < params[0] or value > params[1]
    raise ValueError(f"unknown threshold type {kind!r}")


# ---------------------------------------------------------------------------------------------------- templates

_TEMPLATE = re.compile(r"\{\{\s*(humanize\s+)?\$(labels|values)\.([A-Za-z_][A-Za-z0-9_]*)(\.Value)?\s*\}\}")


def humanize(value: float) -> str:
    """Prometheus/Grafana ``humanize``: SI prefixes, four significant digits."""
    if value == 0 or math.isnan(value) or math.isinf(value):
        return f"{value:.4g}"
    prefix = ""
    if abs(value) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(value) < 1000:
                break
            prefix, value = p, value / 1000
    else:
        for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
            if abs(value) >= 1:
                break
            prefix, value = p, value * 1000
    return f"{value:.4g}{prefix}"


def render_template(text: str, labels: Mapping[str, str], values: Mapping[str, float]) -> str:
    """Fill ``{{ $labels.x }}``, ``{{ $values.B.Value }}`` and ``{{ humanize $values.B.Value }}``.

    Raises:
        ValueError: any other template construct (the rules use only these), or an unknown label or refId.
    """

    def fill(match: re.Match[str]) -> str:
        humanized, kind, name, dot_value = match.groups()
        if kind == "labels":
            if humanized or dot_value:
                raise ValueError(f"cannot humanize a label: {match.group(0)}")
            return labels.get(name, "")
        if name not in values:
            raise ValueError(f"{match.group(0)}: no node {name}")
        value = values[name]
        return humanize(value) if humanized else f"{value:g}"

    rendered = _TEMPLATE.sub(fill, text)
    if "{{" in rendered:
        raise ValueError(f"unsupported template in {text!r}")
    return rendered


# ------------------------------------------------------------------------------------------------------ rules


def _states(rule: Mapping[str, Any]) -> tuple[str, str]:
    no_data = {"OK": "Normal", "NoData": "NoData", "Alerting": "Alerting", "": "NoData"}[rule.get("noDataState", "")]
    error = {"OK": "Normal", "Error": "Error", "Alerting": "Alerting", "": "Alerting"}[rule.get("execErrState", "")]
    return no_data, error


def evaluate(conn: psycopg.Connection[Any], rule: Mapping[str, Any], *, now: datetime | None = None,
             timescaledb: bool = True) -> Evaluation:  # fmt: skip
    """Evaluate ``rule`` (a rule of a provisioning file, as loaded from YAML) against the database, at ``now``."""
    now = now or datetime.now(UTC)
    nodes = {node["refId"]: node for node in rule["data"]}
    no_data_state, error_state = _states(rule)
    condition = nodes[rule["condition"]]["model"]
    if condition["type"] != "threshold":
        raise ValueError(f"condition {rule['condition']} is a {condition['type']} node, not a threshold")
    reduce_node = nodes[condition["expression"]]["model"]
    if reduce_node["type"] != "reduce":
        raise ValueError(f"{condition['expression']} is a {reduce_node['type']} node, not a reduce")
    query_node = nodes[reduce_node["expression"]]
    model = query_node["model"]
    if model.get("format") != "time_series":
        raise ValueError("Grafana alerts only on time series queries")
    span = query_node["relativeTimeRange"]
    ctx = QueryContext(start=now - timedelta(seconds=span["from"]), end=now - timedelta(seconds=span["to"]),
                       timescaledb=timescaledb)  # fmt: skip
    sql = expand(model["rawSql"], ctx, variables=False)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            columns = [c.name for c in cur.description or ()]
            text = [c.name for c in cur.description or () if c.type_code in TEXT_TYPES]
            rows = cur.fetchall()
        series = to_series(columns, rows, text)
    except (psycopg.Error, FrameError) as exc:
        conn.rollback()
        return Evaluation(state=error_state, sql=sql, error=str(exc))
    if not series:
        return Evaluation(state=no_data_state, sql=sql)
    settings = reduce_node.get("settings") or {}
    instances = []
    for one in series:
        reduced = reduce_values([v for _, v in one.points], reduce_node["reducer"], settings.get("mode", ""),
                                float(settings.get("replaceWithValue", 0)))  # fmt: skip
        fires = threshold(reduced, condition["conditions"][0]["evaluator"])
        values = {reduce_node["refId"]: reduced, condition["refId"]: 1.0 if fires else 0.0}
        labels = dict(one.labels)
        for key, text in (rule.get("labels") or {}).items():
            rendered = render_template(str(text), one.labels, values)
            if rendered:
                labels[key] = rendered
        annotations = {key: render_template(str(text), labels, values)
                       for key, text in (rule.get("annotations") or {}).items()}  # fmt: skip
        instances.append(Instance(labels=labels, values=values, firing=fires, annotations=annotations))
    state = "Alerting" if any(i.firing for i in instances) else "Normal"
    return Evaluation(state=state, instances=instances, sql=sql)
