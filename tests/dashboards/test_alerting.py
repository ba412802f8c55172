"""The test evaluator follows Grafana's alerting semantics: frames to series, reduce modes, thresholds, templates."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from tests.dashboards.alerting import FrameError, reduce_values, render_template, threshold, to_series

T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)


def test_long_rows_become_one_series_per_label_set_and_value_column() -> None:
    rows = [(T0, "acme", 1, 10.0), (T0, "beta", 2, None), (T1, "acme", 3, 30.0)]
    series = to_series(["time", "customer", "calls", "cost"], rows, ["customer"])
    by_key = {(s.name, s.labels["customer"]): [v for _, v in s.points] for s in series}
    assert by_key == {("calls", "acme"): [1, 3], ("cost", "acme"): [10.0, 30.0], ("calls", "beta"): [2],
                      ("cost", "beta"): [None]}  # fmt: skip


def test_epoch_seconds_are_times_too() -> None:
    (series,) = to_series(["time", "v"], [(T0.timestamp(), 1)])
    assert series.points[0][0] == T0


def test_frames_grafana_refuses() -> None:
    with pytest.raises(FrameError, match="no column named 'time'"):
        to_series(["day", "v"], [(T0, 1)])
    with pytest.raises(FrameError, match="sorted ascending by time"):
        to_series(["time", "v"], [(T1, 1), (T0, 2)])
    with pytest.raises(FrameError, match="boolean"):
        to_series(["time", "v"], [(T0, True)])
    assert to_series(["time", "v"], []) == []


@pytest.mark.parametrize(
    ("values", "reducer", "mode", "expected"),
    [
        ([1.0, 5.0, 3.0], "last", "", 3.0),
        ([1.0, 5.0, 3.0], "max", "", 5.0),
        ([1.0, 5.0, 3.0], "min", "", 1.0),
        ([1.0, 5.0, 3.0], "mean", "", 3.0),
        ([1.0, 5.0, 3.0], "sum", "", 9.0),
        ([1.0, None, 3.0], "count", "", 3.0),
        ([1.0, None], "last", "dropNN", 1.0),
        ([1.0, None], "mean", "replaceNN", 0.5),
        ([None], "sum", "dropNN", 0.0),
        ([None], "count", "dropNN", 0.0),
    ],
)
def test_reducers(values: list[float | None], reducer: str, mode: str, expected: float) -> None:
    assert reduce_values(values, reducer, mode) == expected


@pytest.mark.parametrize(("reducer", "mode"), [("last", ""), ("max", ""), ("mean", "dropNN"), ("last", "dropNN")])
def test_nulls_and_empty_series_reduce_to_nan(reducer: str, mode: str) -> None:
    assert math.isnan(reduce_values([None] if mode else [1.0, None], reducer, mode))


@pytest.mark.parametrize(
    ("value", "evaluator", "fires"),
    [
        (5.0, {"type": "gt", "params": [4]}, True),
        (4.0, {"type": "gt", "params": [4]}, False),
        (-0.01, {"type": "lt", "params": [0]}, True),
        (0.0, {"type": "lt", "params": [0]}, False),
        (10.0, {"type": "outside_range", "params": [-10, 10]}, False),
        (10.5, {"type": "outside_range", "params": [-10, 10]}, True),
        (-20.0, {"type": "outside_range", "params": [-10, 10]}, True),
        (5.0, {"type": "within_range", "params": [0, 10]}, True),
        (10.0, {"type": "within_range", "params": [0, 10]}, False),
        (math.nan, {"type": "lt", "params": [90]}, False),
    ],
)
def test_thresholds(value: float, evaluator: dict[str, object], fires: bool) -> None:
    assert threshold(value, evaluator) is fires


def test_templates() -> None:
    labels, values = {"customer": "acme"}, {"B": 1234.5, "C": 1.0}
    assert render_template("{{ $labels.customer }}: {{ humanize $values.B.Value }}", labels, values) == "acme: 1.234k"
    assert render_template("{{ $values.B.Value }}", labels, values) == "1234.5"
    assert render_template("{{ $labels.missing }}", labels, values) == ""
    with pytest.raises(ValueError, match="unsupported template"):
        render_template("{{ .Labels.customer }}", labels, values)
