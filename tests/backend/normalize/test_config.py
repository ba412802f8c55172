"""The stage configuration: documented defaults, frozen, unknown keys and bad values refused with the key named."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from otel_margin_backend.normalize import NormalizeConfig


def test_defaults() -> None:
    config = NormalizeConfig()
    assert config.customer_keys == (
        "customer.id",
        "enduser.id",
        "user.id",
        "traceloop.association.properties.customer_id",
        "gen_ai.user",
        # Vercel AI SDK
        "ai.telemetry.metadata.customer_id",
        "ai.settings.context.customer_id",
        "ai.telemetry.metadata.userId",
    )
    assert config.feature_keys == (
        "feature.name",
        "traceloop.association.properties.feature",
        "traceloop.workflow.name",
        # Vercel AI SDK
        "ai.telemetry.metadata.feature",
        "ai.settings.context.feature",
        "ai.telemetry.functionId",
    )
    assert config.environment_keys == ("deployment.environment.name", "deployment.environment")
    assert config.strict_customer is False
    assert config.strict_token_counts is True
    assert config.token_estimate_factor == Decimal("1.1")


def test_every_field_documents_its_default() -> None:
    for name, field in NormalizeConfig.model_fields.items():
        assert field.description is not None, name
        assert "Default" in field.description, name


def test_frozen() -> None:
    config = NormalizeConfig()
    with pytest.raises(ValidationError, match="Instance is frozen"):
        config.strict_customer = True


def test_unknown_key_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        NormalizeConfig.model_validate({"strict_customers": True})
    errors = caught.value.errors()
    assert [(e["loc"], e["type"]) for e in errors] == [(("strict_customers",), "extra_forbidden")]


def test_factor_from_yaml_string_is_exact() -> None:
    assert NormalizeConfig.model_validate({"token_estimate_factor": "1.25"}).token_estimate_factor == Decimal("1.25")


@pytest.mark.parametrize("factor", ["0", "-1", "10.5"])
def test_factor_bounds(factor: str) -> None:
    with pytest.raises(ValidationError) as caught:
        NormalizeConfig.model_validate({"token_estimate_factor": factor})
    assert caught.value.errors()[0]["loc"] == ("token_estimate_factor",)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (["customer.id", "customer.id"], "Value error, lists an attribute name more than once"),
        (["customer.id", ""], "Value error, attribute name '' is empty or has surrounding spaces"),
        ([" tenant.id"], "Value error, attribute name ' tenant.id' is empty or has surrounding spaces"),
    ],
)
def test_key_lists_are_checked(keys: list[str], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        NormalizeConfig.model_validate({"customer_keys": keys})
    error = caught.value.errors()[0]
    assert (error["loc"], error["msg"]) == (("customer_keys",), message)


def test_empty_key_list_means_never_look() -> None:
    assert NormalizeConfig(customer_keys=()).customer_keys == ()
