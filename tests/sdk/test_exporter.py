"""Exporter settings: endpoint, protocol and token from arguments, otel-margin's and OTel's variables, defaults."""

from __future__ import annotations

import logging

import pytest

from otel_margin._exporter import ExporterSettings, resolve_settings
from tests.sdk.scripts import OTEL_VARIABLES


@pytest.fixture(autouse=True)
def no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_a_local_otel_margin_over_otlp_http_without_a_token() -> None:
    assert resolve_settings(None, None, None) == ExporterSettings("http/protobuf", "http://localhost:4318/v1/traces")
    assert resolve_settings(None, None, "grpc") == ExporterSettings("grpc", "http://localhost:4317")


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("http://margin.internal:4318", "http://margin.internal:4318/v1/traces"),
        ("https://margin.example.com/", "https://margin.example.com/v1/traces"),
        ("https://gateway.example.com/otel", "https://gateway.example.com/otel/v1/traces"),
        ("http://margin.internal:4318/v1/traces", "http://margin.internal:4318/v1/traces"),
    ],
)
def test_an_endpoint_argument_is_a_base_url_for_otlp_http(endpoint: str, expected: str) -> None:
    assert resolve_settings(endpoint, None, None).endpoint == expected


def test_the_grpc_endpoint_is_used_as_given() -> None:
    assert (
        resolve_settings("https://margin.example.com:4317", None, "grpc").endpoint == "https://margin.example.com:4317"
    )


def test_endpoint_precedence_argument_then_otel_margin_then_otel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert resolve_settings(None, None, None).endpoint == "http://collector:4318/v1/traces"

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces-collector:4318/custom/path")
    assert resolve_settings(None, None, None).endpoint == "http://traces-collector:4318/custom/path"

    monkeypatch.setenv("OTEL_MARGIN_ENDPOINT", "http://margin:4318")
    assert resolve_settings(None, None, None).endpoint == "http://margin:4318/v1/traces"

    assert resolve_settings("http://argument:4318", None, None).endpoint == "http://argument:4318/v1/traces"


def test_a_bad_endpoint_variable_is_logged_and_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_MARGIN_ENDPOINT", "margin:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    with caplog.at_level(logging.WARNING, logger="otel_margin"):
        assert resolve_settings(None, None, None).endpoint == "http://collector:4318/v1/traces"
    assert caplog.messages == ["OTEL_MARGIN_ENDPOINT='margin:4318' is not an http:// or https:// URL; ignoring it"]


def test_protocol_from_the_otel_variables_and_an_unsupported_one_falls_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    assert resolve_settings(None, None, None) == ExporterSettings("grpc", "http://localhost:4317")

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json")
    with caplog.at_level(logging.WARNING, logger="otel_margin"):
        assert resolve_settings(None, None, None).protocol == "http/protobuf"
    assert caplog.messages == [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL='http/json' is not supported (use http/protobuf or grpc); "
        "using http/protobuf"
    ]


def test_token_from_argument_or_variable_sent_as_bearer_over_the_otlp_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_MARGIN_INGEST_TOKEN", " tok_env \n")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "X-Tenant=blue,Authorization=Basic%20abc")

    assert resolve_settings(None, None, None).headers() == {"x-tenant": "blue", "authorization": "Bearer tok_env"}
    assert resolve_settings(None, "tok_arg", None).headers() == {"x-tenant": "blue", "authorization": "Bearer tok_arg"}
    # "" turns the token off; the exporter then reads the OTLP header variables itself
    assert resolve_settings(None, "", None).headers() is None


def test_the_token_stays_out_of_reprs() -> None:
    settings = resolve_settings(None, "tok_secret", None)
    assert "tok_secret" not in repr(settings)
    assert repr(settings) == "ExporterSettings(protocol='http/protobuf', endpoint='http://localhost:4318/v1/traces')"
