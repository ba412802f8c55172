"""The OpenTelemetry Collector configs in collector-config/: well formed, wired up, and doing what they say.

No otelcol-contrib binary is available from a package registry on the test machines, so
``otelcol-contrib validate`` cannot run. These tests check what it would (every pipeline's components defined,
references resolved, ``${env:...}`` syntax) plus what it would not: the OTTL filter keeps model calls of every
convention the backend reads and drops the rest, and the customer mapping never overwrites a customer.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_margin_backend.normalize import conventions
from tests.deploy import ottl
from tests.support.spans import chat_attrs

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "collector-config"
CONFIGS = ["gateway.yaml", "agent.yaml", "fanout.yaml"]

TOP_LEVEL = {"receivers", "processors", "exporters", "extensions", "connectors", "service"}
SECTIONS = {"receivers": "receivers", "processors": "processors", "exporters": "exporters"}
# Component types these configs may use: all are in the otelcol-contrib 0.144 distribution that
# docker-compose.yml pins (filter, transform and file_storage are contrib-only).
KNOWN_TYPES = {
    "receivers": {"otlp"},
    "processors": {"memory_limiter", "filter", "transform", "attributes", "batch"},
    "exporters": {"otlp_grpc"},
    "extensions": {"health_check", "file_storage"},
}
COMPONENT_ID = re.compile(r"^(?P<type>[a-z][a-z0-9_]*)(?:/(?P<name>[A-Za-z0-9_.-]+))?$")
PIPELINE_ID = re.compile(r"^(?P<signal>traces|metrics|logs)(?:/[A-Za-z0-9_.-]+)?$")
# The collector's substitution: ${env:NAME} or ${env:NAME:-default}. Bare $NAME is deprecated and ${NAME} alone is
# ambiguous across versions, so neither is allowed.
ENV_REF = re.compile(r"\$\{env:(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")

SHARED_PROCESSORS = ["filter/genai", "transform/customer", "attributes/drop_content"]


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((CONFIG_DIR / name).read_text())
    assert isinstance(data, dict), f"{name}: the top level must be a mapping"
    return data


def walk_strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in walk_strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in walk_strings(value)]
    return []


def filter_conditions(config: dict[str, Any]) -> list[str]:
    conditions = config["processors"]["filter/genai"]["traces"]["span"]
    assert isinstance(conditions, list)
    return [str(c) for c in conditions]


def transform_statements(config: dict[str, Any]) -> list[str]:
    groups = config["processors"]["transform/customer"]["trace_statements"]
    assert [g["context"] for g in groups] == ["span"]
    return [str(s) for g in groups for s in g["statements"]]


def is_dropped(config: dict[str, Any], span: ottl.Span) -> bool:
    """The filter processor drops a span when any condition matches."""
    return any(ottl.condition(text)(span) for text in filter_conditions(config))


def customer_after_transform(config: dict[str, Any], span: ottl.Span) -> object:
    for text in transform_statements(config):
        ottl.statement(text)(span)
    return span.attributes.get("customer.id")


@pytest.mark.parametrize("name", CONFIGS)
def test_every_pipeline_component_is_defined_and_every_definition_is_used(name: str) -> None:
    config = load(name)
    assert set(config) <= TOP_LEVEL, f"{name}: unknown top-level keys {set(config) - TOP_LEVEL}"
    service = config["service"]
    pipelines = service["pipelines"]
    assert pipelines, f"{name}: no pipelines"
    used: dict[str, set[str]] = {section: set() for section in [*SECTIONS, "extensions"]}
    for pipeline_id, pipeline in pipelines.items():
        assert PIPELINE_ID.match(pipeline_id), f"{name}: bad pipeline id {pipeline_id!r}"
        assert set(pipeline) <= {"receivers", "processors", "exporters"}, f"{name}: {pipeline_id} has unknown keys"
        assert pipeline.get("receivers"), f"{name}: {pipeline_id} has no receivers"
        assert pipeline.get("exporters"), f"{name}: {pipeline_id} has no exporters"
        for key, section in SECTIONS.items():
            ids = pipeline.get(key, [])
            assert len(ids) == len(set(ids)), f"{name}: {pipeline_id} lists a {key[:-1]} twice"
            for component in ids:
                assert component in (config.get(section) or {}), (
                    f"{name}: pipeline {pipeline_id} uses {section[:-1]} {component!r}, which is not defined"
                )
                used[section].add(component)
    for extension in service.get("extensions", []):
        assert extension in (config.get("extensions") or {}), f"{name}: extension {extension!r} is not defined"
        used["extensions"].add(extension)
    for section, ids in used.items():
        defined = set(config.get(section) or {})
        assert defined == ids, f"{name}: {section} defined but never used: {sorted(defined - ids)}"
        for component in defined:
            match = COMPONENT_ID.match(component)
            assert match, f"{name}: bad component id {component!r}"
            assert match["type"] in KNOWN_TYPES[section], f"{name}: {section} type {match['type']!r} is unexpected"


@pytest.mark.parametrize("name", CONFIGS)
def test_processors_are_in_the_recommended_order(name: str) -> None:
    for pipeline_id, pipeline in load(name)["service"]["pipelines"].items():
        processors = pipeline["processors"]
        assert processors[0] == "memory_limiter", f"{name}: {pipeline_id} must start with memory_limiter"
        assert processors[-1] == "batch", f"{name}: {pipeline_id} must end with batch"
        if "filter/genai" in processors:
            # Filter before mapping: the transform only runs on spans that will be sent.
            assert processors.index("filter/genai") < processors.index("transform/customer")


@pytest.mark.parametrize("name", CONFIGS)
def test_environment_references_use_the_collector_syntax_and_are_documented(name: str) -> None:
    text = (CONFIG_DIR / name).read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    readme = (CONFIG_DIR / "README.md").read_text()
    refs = list(ENV_REF.finditer(body))
    assert refs, f"{name}: expected ${{env:...}} references (the ingest token at least)"
    leftover = ENV_REF.sub("", body)
    assert "$" not in leftover, (
        f"{name}: a $ outside ${{env:NAME}} / ${{env:NAME:-default}}: {leftover[leftover.index('$') :][:60]!r}"
    )
    header = "\n".join(itertools.takewhile(lambda line: line.startswith("#") or not line, text.splitlines()))
    for ref in refs:
        assert f"`{ref['name']}`" in readme, f"{name}: {ref['name']} is not documented in collector-config/README.md"
        assert re.search(rf"#\s+{ref['name']}\s", header), f"{name}: {ref['name']} is not listed in the header comment"


@pytest.mark.parametrize("name", CONFIGS)
def test_the_otel_margin_exporter_authenticates_retries_forever_and_queues(name: str) -> None:
    config = load(name)
    exporter = config["exporters"]["otlp_grpc/otel_margin"]
    assert exporter["endpoint"] == "${env:OTEL_MARGIN_ENDPOINT:-otel-margin:4317}"
    assert exporter["headers"] == {"authorization": "Bearer ${env:OTEL_MARGIN_INGEST_TOKEN}"}
    assert exporter["compression"] == "gzip"
    retry = exporter["retry_on_failure"]
    assert retry["enabled"] is True
    assert retry["max_elapsed_time"] == 0, "acknowledged spans must never be dropped for taking too long"
    queue = exporter["sending_queue"]
    assert queue["enabled"] is True
    assert isinstance(queue["queue_size"], int) and queue["queue_size"] > 0
    if name == "agent.yaml":
        assert "storage" not in queue  # a sidecar has no persistent disk
        return
    storage = queue["storage"]
    assert storage == "file_storage/otel_margin"
    assert storage in config["service"]["extensions"]
    assert config["extensions"][storage]["directory"] == "${env:OTEL_MARGIN_QUEUE_DIR:-/var/lib/otelcol/file_storage}"


@pytest.mark.parametrize(
    ("name", "host"), [("gateway.yaml", "0.0.0.0"), ("fanout.yaml", "0.0.0.0"), ("agent.yaml", "127.0.0.1")]
)
def test_receivers_listen_on_the_standard_otlp_ports(name: str, host: str) -> None:
    protocols = load(name)["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == f"{host}:4317"
    assert protocols["http"]["endpoint"] == f"{host}:4318"
    assert load(name)["extensions"]["health_check"]["endpoint"] == f"{host}:13133"


def test_the_genai_filter_and_customer_mapping_are_the_same_everywhere() -> None:
    gateway = load("gateway.yaml")
    for name in CONFIGS[1:]:
        other = load(name)
        for processor in SHARED_PROCESSORS:
            assert other["processors"][processor] == gateway["processors"][processor], (
                f"{name}: {processor} differs from gateway.yaml; keep the copies identical"
            )


@pytest.mark.parametrize("name", CONFIGS)
def test_every_ottl_condition_and_statement_parses(name: str) -> None:
    config = load(name)
    assert config["processors"]["filter/genai"]["error_mode"] == "ignore"
    assert config["processors"]["transform/customer"]["error_mode"] == "ignore"
    for text in filter_conditions(config):
        ottl.condition(text)
    for text in transform_statements(config):
        ottl.statement(text)


def test_the_filter_names_every_model_call_marker_the_backend_reads() -> None:
    # Kept in step with backend/otel_margin_backend/normalize/conventions.py: a span carrying any of these is a
    # model call the backend can price, so the collector must let it through.
    markers = {
        conventions.OPERATION_KEY,
        conventions.REQUEST_TYPE_KEY,
        conventions.RAW_USAGE_KEY,
        *conventions.INPUT_TOKEN_KEYS,
        *conventions.OUTPUT_TOKEN_KEYS,
        *conventions.TOTAL_TOKEN_KEYS,
        *conventions.REQUEST_MODEL_KEYS,
        *conventions.RESPONSE_MODEL_KEYS,
        *conventions.COST_KEYS,
    }
    config = load("gateway.yaml")
    named = set().union(*(ottl.attribute_keys(text) for text in filter_conditions(config)))
    assert markers - named == set(), "the filter would drop spans the backend prices"
    for key in sorted(markers):
        assert not is_dropped(config, ottl.Span(name="span", attributes={key: 1})), key


FILTER_CASES = [
    ("current OTel GenAI chat", ottl.Span(name="chat gpt-4o", attributes=dict(chat_attrs())), False),
    (
        "OpenLLMetry <= 0.47",
        ottl.Span(
            name="openai.chat",
            attributes={"llm.request.type": "chat", "gen_ai.usage.prompt_tokens": 10, "gen_ai.system": "openai"},
        ),
        False,
    ),
    (
        "OpenInference LLM span",
        ottl.Span(
            name="ChatCompletion",
            attributes={"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.token_count.prompt": 5},
        ),
        False,
    ),
    ("embeddings", ottl.Span(name="embeddings", attributes={"gen_ai.operation.name": "embeddings"}), False),
    (
        "HTTP server span with a customer",
        ottl.Span(name="GET /chat", attributes={"http.route": "/chat", "customer.id": "acct_1"}),
        True,
    ),
    ("database span", ottl.Span(name="SELECT", attributes={"db.system": "postgresql"}), True),
    (
        "provider name alone (an agent framework's span)",
        ottl.Span(name="agent", attributes={"gen_ai.system": "openai"}),
        True,
    ),
    ("model attribute only on the resource", ottl.Span(name="x", resource={"gen_ai.request.model": "gpt-4o"}), True),
]


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize(("case", "span", "dropped"), FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
def test_the_filter_keeps_model_calls_and_drops_everything_else(
    name: str, case: str, span: ottl.Span, dropped: bool
) -> None:
    assert is_dropped(load(name), span) is dropped, case


TRANSFORM_CASES = [
    ("span tenant.id", ottl.Span(attributes={"tenant.id": "t_1"}), "t_1"),
    ("resource tenant.id", ottl.Span(resource={"tenant.id": "t_2"}), "t_2"),
    ("span app.account_id", ottl.Span(attributes={"app.account_id": "a_1"}), "a_1"),
    ("resource app.account_id", ottl.Span(resource={"app.account_id": "a_2"}), "a_2"),
    (
        "span tenant.id before resource tenant.id",
        ottl.Span(attributes={"tenant.id": "s"}, resource={"tenant.id": "r"}),
        "s",
    ),
    ("tenant.id before app.account_id", ottl.Span(attributes={"tenant.id": "t", "app.account_id": "a"}), "t"),
    ("span customer.id is kept", ottl.Span(attributes={"customer.id": "c", "tenant.id": "t"}), "c"),
    # The backend reads the resource's customer.id when the span has none: do not shadow it.
    (
        "resource customer.id is not shadowed",
        ottl.Span(attributes={"tenant.id": "t"}, resource={"customer.id": "c"}),
        None,
    ),
    ("nothing to map", ottl.Span(attributes={"user.id": "u"}), None),
]


@pytest.mark.parametrize(("case", "span", "customer"), TRANSFORM_CASES, ids=[c[0] for c in TRANSFORM_CASES])
def test_the_customer_mapping_fills_customer_id_only_when_absent(
    case: str, span: ottl.Span, customer: str | None
) -> None:
    assert customer_after_transform(load("gateway.yaml"), span) == customer, case


def test_fanout_sends_every_span_to_the_existing_backend_and_genai_spans_to_otel_margin() -> None:
    config = load("fanout.yaml")
    pipelines = config["service"]["pipelines"]
    existing = pipelines["traces/existing"]
    margin = pipelines["traces/otel_margin"]
    assert existing["receivers"] == margin["receivers"] == ["otlp"], "both pipelines must share the receiver"
    assert existing["exporters"] == ["otlp_grpc/existing"]
    assert margin["exporters"] == ["otlp_grpc/otel_margin"]
    assert not {"filter/genai", "transform/customer"} & set(existing["processors"]), (
        "the existing backend must keep every span, unmodified"
    )
    assert config["exporters"]["otlp_grpc/existing"]["endpoint"] == "${env:EXISTING_TRACES_OTLP_ENDPOINT:-tempo:4317}"


def test_no_secret_is_written_into_a_config() -> None:
    for name in CONFIGS:
        for value in walk_strings(load(name)):
            if "Bearer" in value:
                assert value == "Bearer ${env:OTEL_MARGIN_INGEST_TOKEN}", f"{name}: a literal token in {value!r}"


def test_the_readme_presents_every_config() -> None:
    readme = (CONFIG_DIR / "README.md").read_text()
    on_disk = sorted(p.name for p in CONFIG_DIR.glob("*.yaml"))
    assert on_disk == sorted(CONFIGS)
    for name in CONFIGS:
        assert f"[`{name}`]({name})" in readme


CONTENT_KEYS = [
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",  # OTel GenAI
    "gen_ai.prompt.0.content", "gen_ai.prompt.0.role", "gen_ai.completion.0.content", "gen_ai.prompt",  # OpenLLMetry
    "llm.prompts.0", "llm.input_messages.0.message.content", "llm.output_messages.0.message.content",  # OpenInference
    "input.value", "output.value",
    "ai.prompt", "ai.prompt.messages", "ai.response.text", "ai.response.object", "ai.response.toolCalls",  # Vercel
]  # fmt: skip


@pytest.mark.parametrize("name", CONFIGS)
def test_prompt_and_completion_content_is_dropped_and_every_marker_kept(name: str) -> None:
    config = load(name)
    [action] = config["processors"]["attributes/drop_content"]["actions"]
    assert action["action"] == "delete"
    # RE2's end of text, \z ("$" would be read as an environment reference), is Python's \Z; otherwise the two agree.
    pattern = re.compile(action["pattern"].replace("\\z", "\\Z"))
    assert action["pattern"].endswith("\\z")
    assert [key for key in CONTENT_KEYS if not pattern.match(key)] == []
    markers = {
        conventions.OPERATION_KEY, conventions.REQUEST_TYPE_KEY, conventions.RAW_USAGE_KEY,
        *conventions.INPUT_TOKEN_KEYS, *conventions.OUTPUT_TOKEN_KEYS, *conventions.TOTAL_TOKEN_KEYS,
        *conventions.REQUEST_MODEL_KEYS, *conventions.RESPONSE_MODEL_KEYS, *conventions.COST_KEYS,
        "customer.id", "feature.name", "gen_ai.response.id", "server.address",
    }  # fmt: skip
    assert sorted(key for key in markers if pattern.match(key)) == []
    for pipeline_id, pipeline in config["service"]["pipelines"].items():
        if "filter/genai" in pipeline["processors"]:
            assert pipeline["processors"][-2:] == ["attributes/drop_content", "batch"], pipeline_id
