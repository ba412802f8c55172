"""The budgets file and REST body: exact values, defaults, and errors that name the line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from otel_margin_backend.budgets.definition import (
    EXAMPLE_FILE,
    BudgetConfig,
    LimitConfig,
    ThresholdsConfig,
    load_file,
    parse_body,
    parse_file,
)
from otel_margin_backend.budgets.errors import BudgetFileError

TESTDATA = Path(__file__).with_name("testdata")

BAD_FILES = {
    "bad_amount.yaml": ["6: budgets[0].limit.amount: Input should be greater than 0"],
    "bad_currency.yaml": [
        "7: budgets[0].limit.currency: currency 'usd' is not an ISO 4217 code in capitals, e.g. USD or EUR"
    ],
    "bad_duplicate_name.yaml": ["6: budgets[1]: budget 'image-generation' is already defined by budgets[0]"],
    "bad_missing_limit.yaml": ["6: budgets[1].limit: missing key 'limit'"],
    "bad_name.yaml": [
        "3: budgets[0].name: name 'image generation': use 1 to 100 letters, digits, '_', '.' or '-', "
        "starting with a letter or digit"
    ],
    "bad_reserved_name.yaml": [
        "3: budgets[0].name: name 'check' is reserved (GET /v1/budgets/check is the budget check): choose another"
    ],
    "bad_period.yaml": ["4: budgets[0].period: Input should be 'month' or 'day'"],
    "bad_scope.yaml": [
        "6: budgets[0].scope.feature: String should have at least 1 character",
        "7: budgets[0].scope.team: unknown key 'team'",
    ],
    "bad_thresholds.yaml": ["7: budgets[0].thresholds: warning_percent (90) must be below critical_percent (80)"],
    "bad_two_limits.yaml": ["5: budgets[0].limit: give exactly one of 'amount' or 'percent_of_revenue'"],
    "bad_unknown_key.yaml": [
        "3: budgets[0].limit: missing key 'limit'",
        "5: budgets[0].limt: unknown key 'limt'",
    ],
    "bad_yaml.yaml": [
        "6: invalid YAML: expected ',' or '}', but got '<stream end>' (while parsing a flow mapping from line 5)"
    ],
}


def test_every_bad_file_has_a_case() -> None:
    assert sorted(p.name for p in TESTDATA.glob("bad_*.yaml")) == sorted(BAD_FILES)


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_name_the_line(name: str) -> None:
    path = TESTDATA / name
    with pytest.raises(BudgetFileError) as caught:
        load_file(path)
    assert str(caught.value).splitlines() == [f"{path}:{line}" for line in BAD_FILES[name]]


def test_a_missing_file_is_one_line() -> None:
    with pytest.raises(BudgetFileError) as caught:
        load_file(TESTDATA / "nope.yaml")
    assert str(caught.value) == f"{TESTDATA / 'nope.yaml'}:1: cannot read the file: No such file or directory"


def test_the_example_file_loads_with_exact_values() -> None:
    config = load_file(EXAMPLE_FILE)
    by_name = {b.name: b for b in config.budgets}
    assert list(by_name) == ["image-generation", "acme-ai-share", "acme-summaries-daily", "gpt-4o-monthly"]
    image = by_name["image-generation"]
    assert image.scope.as_dict() == {"feature": "image_generation"}
    assert image.limit == LimitConfig(amount=Decimal(600), currency="USD")
    assert image.thresholds.by_severity() == {"warning": 75, "critical": 90, "exceeded": 100}
    daily = by_name["acme-summaries-daily"]
    assert daily.limit.amount == Decimal("25.50") and str(daily.limit.amount) == "25.50"
    assert daily.thresholds == ThresholdsConfig(warning_percent=None, critical_percent=Decimal(80))
    assert by_name["acme-ai-share"].limit.percent_of_revenue == Decimal(30)


def test_decimals_are_read_from_the_source_text() -> None:
    config = parse_file(
        "budgets:\n  - {name: a, period: day, limit: {amount: 0.1}, thresholds: {warning_percent: 33.3}}"
    )
    budget = config.budgets[0]
    assert budget.limit.amount == Decimal("0.1")
    assert budget.thresholds.warning_percent == Decimal("33.3")


def test_an_empty_file_has_no_budgets() -> None:
    assert parse_file("").budgets == ()


def test_a_rest_body_takes_the_name_from_the_url() -> None:
    budget = parse_body("daily", {"period": "day", "limit": {"amount": Decimal("12.34")}})
    assert budget == BudgetConfig(name="daily", period="day", limit=LimitConfig(amount=Decimal("12.34")))
    assert budget.as_json() == {
        "name": "daily",
        "description": "",
        "scope": {},
        "period": "day",
        "limit": {"amount": "12.34", "currency": "USD"},
        "thresholds": {"warning_percent": "75", "critical_percent": "90", "exceeded_percent": "100"},
    }


def test_a_rest_body_with_another_name_is_refused() -> None:
    with pytest.raises(BudgetFileError) as caught:
        parse_body("daily", {"name": "weekly", "period": "day", "limit": {"amount": 1}})
    assert str(caught.value) == "body:1: name: the body names 'weekly', the URL 'daily'"


def test_a_rest_body_error_names_the_key() -> None:
    with pytest.raises(BudgetFileError) as caught:
        parse_body("daily", {"period": "day", "limit": {"percent_of_revenue": 0}})
    assert [(p.path, p.message) for p in caught.value.problems] == [
        ("limit.percent_of_revenue", "Input should be greater than 0")
    ]


def test_only_the_description_can_change_without_resetting_alerts() -> None:
    base = BudgetConfig(name="a", period="month", limit=LimitConfig(amount=Decimal(600)))
    assert base.measures_same_as(base.model_copy(update={"description": "new words"}))
    assert not base.measures_same_as(base.model_copy(update={"limit": LimitConfig(amount=Decimal(700))}))
