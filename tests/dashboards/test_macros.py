"""The test expander reproduces Grafana's documented PostgreSQL macro and variable expansions (R4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.dashboards.macros import MacroError, QueryContext, Variable, expand, format_interval, go_float

FROM = datetime(2018, 4, 12, 18, 0, tzinfo=UTC)
TO = datetime(2018, 4, 12, 18, 5, tzinfo=UTC)


def ctx(*, timescaledb: bool = False, **variables: Variable) -> QueryContext:
    return QueryContext(start=FROM, end=TO, interval=timedelta(minutes=5), variables=variables,
                        timescaledb=timescaledb)  # fmt: skip


@pytest.mark.parametrize(
    ("sql", "expanded"),
    [
        ("WHERE $__timeFilter(time_column)",
         "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"),
        ("SELECT $__timeFrom(), $__timeTo()", "SELECT '2018-04-12T18:00:00Z', '2018-04-12T18:05:00Z'"),
        ("SELECT $__time(time_column)", 'SELECT time_column AS "time"'),
        ("SELECT $__timeEpoch(time_column)", 'SELECT extract(epoch from time_column) as "time"'),
        ("GROUP BY $__timeGroup(time_column,'5m')", "GROUP BY floor(extract(epoch from time_column)/300)*300"),
        ("GROUP BY $__timeGroup( time_column , '5m' )", "GROUP BY floor(extract(epoch from time_column)/300)*300"),
        ("SELECT $__timeGroupAlias(time_column,'5m')",
         'SELECT floor(extract(epoch from time_column)/300)*300 AS "time"'),
        ("GROUP BY $__timeGroup(time_column,'12d')",
         "GROUP BY floor(extract(epoch from time_column)/1.0368e+06)*1.0368e+06"),
        ("GROUP BY $__timeGroup(time_column, '5m', NULL)", "GROUP BY floor(extract(epoch from time_column)/300)*300"),
        # pre-5.3 compatibility: a comma right after the macro makes it the Alias form
        ("SELECT $__timeGroup(time_column,'5m'), value", 'SELECT floor(extract(epoch from time_column)/300)*300 '
                                                          'AS "time", value'),
        ("WHERE $__unixEpochFilter(t)", "WHERE t >= 1523556000 AND t <= 1523556300"),
        ("WHERE $__unixEpochNanoFilter(t)", "WHERE t >= 1523556000000000000 AND t <= 1523556300000000000"),
        ("SELECT $__unixEpochNanoFrom(), $__unixEpochNanoTo()", "SELECT 1523556000000000000, 1523556300000000000"),
        ("SELECT $__unixEpochGroupAlias(t,'5m')", 'SELECT floor((t)/300)*300 AS "time"'),
        ("SELECT $__unixEpochFrom(), $__unixEpochTo()", "SELECT 1523556000, 1523556300"),
        ("SELECT '$__interval', $__interval_ms", "SELECT '5m', 300000"),
        ("SELECT $__timeGroupAlias(t, $__interval)", 'SELECT floor(extract(epoch from t)/300)*300 AS "time"'),
    ],
)  # fmt: skip
def test_macros_expand_as_grafana_does_without_timescaledb(sql: str, expanded: str) -> None:
    assert expand(sql, ctx()) == expanded


@pytest.mark.parametrize(
    ("sql", "expanded"),
    [
        ("$__timeGroup(time_column,'5m')", "time_bucket('300.000s',time_column)"),
        ("$__timeGroup(time_column,'12d')", "time_bucket('1036800.000s',time_column)"),
        ("$__timeGroup(time_column,'20ms')", "time_bucket('0.020s',time_column)"),
        ("$__timeGroupAlias(time_column,5m)", "time_bucket('300.000s',time_column) AS \"time\""),
        ("$__timeGroupAlias(bucket, $__interval)", "time_bucket('300.000s',bucket) AS \"time\""),
    ],
)
def test_time_group_becomes_time_bucket_with_the_timescaledb_toggle(sql: str, expanded: str) -> None:
    assert expand(sql, ctx(timescaledb=True)) == expanded


def test_fractional_seconds_are_kept_in_rfc3339nano() -> None:
    half = QueryContext(start=datetime(2018, 4, 12, 7, 0, 0, 500000, tzinfo=UTC), end=TO)
    assert expand("$__timeFrom()", half) == "'2018-04-12T07:00:00.5Z'"


def test_unknown_macros_and_bad_intervals_are_errors() -> None:
    with pytest.raises(MacroError, match="unknown macro"):
        expand("SELECT $__nope(x)", ctx())
    with pytest.raises(MacroError, match="interval"):
        expand("SELECT $__timeGroup(x, 'soon')", ctx())
    with pytest.raises(MacroError, match="needs time column and interval"):
        expand("SELECT $__timeGroup(x)", ctx())


@pytest.mark.parametrize(
    ("text", "variable", "expanded"),
    [
        ("IN (${v:sqlstring})", Variable(["test'1", "test2"], multi=True), "IN ('test''1','test2')"),
        ("= ${v:sqlstring}", Variable("O'Brien"), "= 'O''Brien'"),
        ("${v:csv}", Variable(["test1", "test2"], multi=True), "test1,test2"),
        ("${v:singlequote}", Variable(["test'1", "test2"], multi=True), "'test\\'1','test2'"),
        ("${v:doublequote}", Variable(["test1", "test2"], multi=True), '"test1","test2"'),
        ("${v:pipe}", Variable(["a", "b"], multi=True), "a|b"),
        ("${v:raw}", Variable("a'b"), "a'b"),
        ("${v:nonsense}", Variable(["a", "b"], multi=True), "{a,b}"),  # an unknown format falls back to glob
        # without a format: a plain single-value variable is escaped but not quoted; multi-value ones are quoted
        ("'$v'", Variable("O'Brien"), "'O''Brien'"),
        ("$v", Variable("acme", multi=True), "'acme'"),
        ("${v}", Variable(["a", "b'c"], multi=True), "'a','b''c'"),
        ("[[v]]", Variable("x"), "x"),
        ("[[v:sqlstring]]", Variable("x"), "'x'"),
    ],
)
def test_template_variables_format_as_documented(text: str, variable: Variable, expanded: str) -> None:
    assert expand(text, ctx(v=variable)) == expanded


def test_macros_and_unknown_names_survive_variable_interpolation() -> None:
    sql = "SELECT $unknown, ${customer:sqlstring} WHERE $__timeFilter(t)"
    assert expand(sql, ctx(customer=Variable("acme"))) == (
        "SELECT $unknown, 'acme' WHERE t BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"
    )


def test_alert_queries_get_no_variable_interpolation() -> None:
    assert expand("SELECT '$v'", ctx(v=Variable("x")), variables=False) == "SELECT '$v'"


@pytest.mark.parametrize(
    ("value", "text"),
    [(300.0, "300"), (0.02, "0.02"), (1036800.0, "1.0368e+06"), (86400.0, "86400"), (0.00001, "1e-05"),
     (604800.0, "604800"), (1e6, "1e+06")],
)  # fmt: skip
def test_go_float_formatting(value: float, text: str) -> None:
    assert go_float(value) == text


@pytest.mark.parametrize(
    ("interval", "text"),
    [(timedelta(hours=1), "1h"), (timedelta(minutes=90), "1h"), (timedelta(days=2), "2d"),
     (timedelta(seconds=30), "30s"), (timedelta(milliseconds=100), "100ms"), (timedelta(0), "1ms")],
)  # fmt: skip
def test_interval_formatting(interval: timedelta, text: str) -> None:
    assert format_interval(interval) == text
