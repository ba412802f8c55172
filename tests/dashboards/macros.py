"""What Grafana does to a PostgreSQL query before the database sees it, so tests can run dashboard and alert SQL.

Three steps, in Grafana's order (reference/perf-reliability.md, R4):

1. Dashboard template variables (the frontend's ``templateSrv``): ``$var``, ``${var}``, ``${var:format}`` and the
   deprecated ``[[var]]`` / ``[[var:format]]``. Names that are not variables are left alone, as Grafana does
   (``$__timeFilter`` is a macro, not a variable). Alert queries skip this step: Grafana has no variables there.
2. The SQL engine's globals (``sqleng.Interpolate``): ``$__interval_ms``, ``$__interval``, ``$__unixEpochFrom()``,
   ``$__unixEpochTo()``.
3. The PostgreSQL macro engine (``macros.go``): every ``$__name(args)``; an unknown one is an error.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

__all__ = ["MacroError", "QueryContext", "Variable", "expand", "format_interval", "go_float", "parse_interval"]


class MacroError(ValueError):
    """Grafana would refuse the query (an unknown macro, a missing argument, a bad interval)."""


@dataclass(frozen=True)
class Variable:
    """A dashboard variable's current value: one string, or several for a multi-value (or All) selection.

    ``multi`` says whether the variable is multi-value or has All enabled: Grafana's default SQL formatting quotes
    the value of such a variable and leaves a plain single-value one unquoted.
    """

    value: str | Sequence[str]
    multi: bool = False


@dataclass(frozen=True)
class QueryContext:
    """What Grafana knows when it runs a query: the time range, the interval, variables, the TimescaleDB toggle."""

    start: datetime
    end: datetime
    interval: timedelta = timedelta(hours=1)
    variables: Mapping[str, Variable] = field(default_factory=dict)
    timescaledb: bool = True
    """The datasource's ``jsonData.timescaledb``: ``$__timeGroup`` becomes ``time_bucket()``."""

    def __post_init__(self) -> None:
        for moment in (self.start, self.end):
            if moment.tzinfo is None:
                raise ValueError("time range bounds must be timezone-aware")


# ---------------------------------------------------------------------------------------------------- variables

# templateSrv's variable regex: $name, [[name:format]], ${name.fieldPath:format}
_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")
_FORMATS = ("sqlstring", "csv", "singlequote", "doublequote", "raw", "json", "pipe", "glob")


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _format(variable: Variable, fmt: str | None) -> str:
    values = [variable.value] if isinstance(variable.value, str) else list(variable.value)
    if fmt is None:
        # SqlDatasource.interpolateVariable: no format given.
        if isinstance(variable.value, str):
            return _quote_literal(variable.value) if variable.multi else variable.value.replace("'", "''")
        return ",".join(_quote_literal(v) for v in values)
    if fmt not in _FORMATS:
        fmt = "glob"  # an unknown format falls back to glob
    if fmt == "sqlstring":
        return ",".join(_quote_literal(v) for v in values)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt == "json":
        return json.dumps(variable.value if isinstance(variable.value, str) else values)
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "glob":
        return values[0] if len(values) == 1 else "{" + ",".join(values) + "}"
    return values[0] if len(values) == 1 else ",".join(values)  # raw


def _interpolate_variables(sql: str, variables: Mapping[str, Variable]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if match.group(5):
            raise MacroError(f"field paths (${{{name}.{match.group(5)}}}) are not used in SQL queries")
        variable = variables.get(name)
        return match.group(0) if variable is None else _format(variable, fmt)

    return _VARIABLE.sub(replace, sql)


# ----------------------------------------------------------------------------------------------- time helpers

_DATE_UNIT = re.compile(r"^(\d+)([dwMy])$")
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": Decimal("1e-9"), "us": Decimal("1e-6"), "µs": Decimal("1e-6"), "ms": Decimal("1e-3"),
             "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600)}  # fmt: skip


def parse_interval(text: str) -> timedelta:
    """gtime.ParseInterval: ``12d`` / ``1w`` (a number and a date unit), else Go's time.ParseDuration (``5m``,
    ``1h30m``, ``20ms``). Quotes around the interval are dropped first, as the macro engine does.

    Raises:
        MacroError: not an interval, or a calendar unit (``M``, ``y``) whose length depends on the date.
    """
    text = text.strip().strip("'\"")
    date = _DATE_UNIT.match(text)
    if date:
        if date[2] in "My":
            raise MacroError(f"interval {text!r}: months and years are calendar units, not used by otel-margin")
        return timedelta(days=int(date[1]) * (7 if date[2] == "w" else 1))
    seconds = Decimal(0)
    position = 0
    for part in _GO_DURATION_PART.finditer(text):
        if part.start() != position:
            break
        seconds += Decimal(part[1]) * _GO_UNITS[part[2]]
        position = part.end()
    if not text or position != len(text):
        raise MacroError(f"error parsing interval {text!r}")
    return timedelta(seconds=float(seconds))


_FORMAT_UNITS = (
    ("y", timedelta(days=365)),
    ("d", timedelta(days=1)),
    ("h", timedelta(hours=1)),
    ("m", timedelta(minutes=1)),
    ("s", timedelta(seconds=1)),
    ("ms", timedelta(milliseconds=1)),
)


def format_interval(interval: timedelta) -> str:
    """gtime.FormatInterval: the largest whole unit (``1h``, ``10m``, ``30s``, ``100ms``)."""
    for unit, size in _FORMAT_UNITS:
        if interval >= size:
            return f"{interval // size}{unit}"
    return "1ms"


def go_float(value: float) -> str:
    """Go's ``%v`` for a float64 (shortest representation; exponent form from 1e+06 on, or below 1e-04)."""
    if value == 0:
        return "0"
    if math.isnan(value) or math.isinf(value):
        raise MacroError(f"not a finite interval: {value}")
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    point = len(text) + exponent  # digits before the decimal point
    sci = point - 1
    prefix = "-" if sign else ""
    if sci < -4 or sci >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if sci < 0 else '+'}{abs(sci):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{text}"
    if point >= len(text):
        return prefix + text + "0" * (point - len(text))
    return f"{prefix}{text[:point]}.{text[point:]}"


def rfc3339nano(moment: datetime) -> str:
    """Go's RFC3339Nano in UTC: fractional seconds without trailing zeros, ``Z`` for the zone."""
    utc = moment.astimezone(UTC)
    fraction = f"{utc.microsecond:06d}".rstrip("0")
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def _unix(moment: datetime) -> int:
    return math.floor(moment.timestamp())


def _unix_nanos(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


# ---------------------------------------------------------------------------------------------------- globals


def _interpolate_globals(sql: str, ctx: QueryContext) -> str:
    sql = sql.replace("$__interval_ms", str(ctx.interval // timedelta(milliseconds=1)))
    sql = sql.replace("$__interval", format_interval(ctx.interval))
    sql = sql.replace("$__unixEpochFrom()", str(_unix(ctx.start)))
    return sql.replace("$__unixEpochTo()", str(_unix(ctx.end)))


# ----------------------------------------------------------------------------------------------------- macros

_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")


def _column(name: str, args: list[str]) -> str:
    if not args or not args[0]:
        raise MacroError(f"missing time column argument for macro ${name}")
    return args[0]


def _group_args(name: str, args: list[str]) -> float:
    if len(args) < 2:
        raise MacroError(f"macro ${name} needs time column and interval and optional fill value")
    if len(args) == 3 and args[2] not in ("NULL", "previous") and not _is_number(args[2]):
        raise MacroError(f"error parsing fill value {args[2]}")
    return parse_interval(args[1]).total_seconds()


def _macro(name: str, args: list[str], ctx: QueryContext) -> str:
    start, end = rfc3339nano(ctx.start), rfc3339nano(ctx.end)
    if name == "__time":
        return f'{_column(name, args)} AS "time"'
    if name == "__timeEpoch":
        return f'extract(epoch from {_column(name, args)}) as "time"'
    if name == "__timeFilter":
        return f"{_column(name, args)} BETWEEN '{start}' AND '{end}'"
    if name == "__timeFrom":
        return f"'{start}'"
    if name == "__timeTo":
        return f"'{end}'"
    if name in ("__timeGroup", "__timeGroupAlias"):
        seconds = _group_args(name, args)
        if ctx.timescaledb:
            expr = f"time_bucket('{seconds:.3f}s',{args[0]})"
        else:
            expr = f"floor(extract(epoch from {args[0]})/{go_float(seconds)})*{go_float(seconds)}"
        return expr + (' AS "time"' if name == "__timeGroupAlias" else "")
    if name == "__unixEpochFilter":
        column = _column(name, args)
        return f"{column} >= {_unix(ctx.start)} AND {column} <= {_unix(ctx.end)}"
    if name == "__unixEpochNanoFilter":
        column = _column(name, args)
        return f"{column} >= {_unix_nanos(ctx.start)} AND {column} <= {_unix_nanos(ctx.end)}"
    if name == "__unixEpochNanoFrom":
        return str(_unix_nanos(ctx.start))
    if name == "__unixEpochNanoTo":
        return str(_unix_nanos(ctx.end))
    if name in ("__unixEpochGroup", "__unixEpochGroupAlias"):
        step = go_float(_group_args(name, args))
        expr = f"floor(({args[0]})/{step})*{step}"
        return expr + (' AS "time"' if name == "__unixEpochGroupAlias" else "")
    raise MacroError(f"unknown macro {name!r}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _interpolate_macros(sql: str, ctx: QueryContext) -> str:
    original = sql
    out: list[str] = []
    last = 0
    for match in _MACRO.finditer(original):
        name = match.group(1)
        args = [a.strip() for a in match.group(2).split(",")]
        if name == "__timeGroup":
            # pre-5.3 compatibility: "$__timeGroup(...)," (a comma right after the first such call) means Alias
            index = original.find(match.group(0))
            after = index + len(match.group(0))
            if len(original) > after and original[after] == ",":
                name = "__timeGroupAlias"
        out.append(original[last : match.start()])
        out.append(_macro(name, args, ctx))
        last = match.end()
    out.append(original[last:])
    return "".join(out)


def expand(sql: str, ctx: QueryContext, *, variables: bool = True) -> str:
    """The SQL Grafana sends to PostgreSQL for ``sql`` (``variables=False`` for alert queries).

    Raises:
        MacroError: Grafana would refuse the query.
    """
    if variables:
        sql = _interpolate_variables(sql, ctx.variables)
    return _interpolate_macros(_interpolate_globals(sql, ctx), ctx)
