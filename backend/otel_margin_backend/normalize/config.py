"""Configuration of the normalization stage: where to find customer, feature and environment, and how strict to be.

Defaults live here and only here; ``README.md`` in this folder repeats them for users.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from otel_margin_backend.pipeline.limits import TimeWindow

DEFAULT_CUSTOMER_KEYS = (
    # Keys that name the customer on purpose come first, then each library's own customer or end-user mechanism,
    # then the OpenAI `user` request parameter as each instrumentation records it (often a person, not the account).
    "customer.id",  # otel_margin.customer() (baggage), or set by hand
    "enduser.id",  # OTel semantic conventions
    "user.id",  # OTel semantic conventions; OpenInference using_user() / using_attributes(user_id=)
    "traceloop.association.properties.customer_id",  # Traceloop.set_association_properties({"customer_id": ...})
    "traceloop.association.properties.user_id",  # the same, with the key Traceloop's docs use
    # Vercel AI SDK (Node): what its own options put on its spans.
    "ai.telemetry.metadata.customer_id",  # ai <= 6: experimental_telemetry: {metadata: {customer_id}}
    "ai.settings.context.customer_id",  # ai 7 (@ai-sdk/otel): runtimeContext.customer_id + includeRuntimeContext
    "ai.telemetry.metadata.userId",  # ai <= 6: the metadata key Langfuse's AI SDK guide uses for the user
    "metadata.user_api_key_end_user_id",  # LiteLLM's OTel callback: the proxy's end user (`user` sent to it)
    "gen_ai.user",  # OpenAI `user`: OpenLLMetry >= 0.55
    "gen_ai.request.user",  # OpenAI `user`: OpenLIT
    "llm.user",  # OpenAI `user`: LiteLLM's OTel callback, OpenLLMetry <= 0.54
)
DEFAULT_FEATURE_KEYS = (
    "feature.name",
    "traceloop.association.properties.feature",
    "traceloop.workflow.name",
    # Vercel AI SDK (Node)
    "ai.telemetry.metadata.feature",  # ai <= 6: experimental_telemetry: {metadata: {feature}}
    "ai.settings.context.feature",  # ai 7 (@ai-sdk/otel): runtimeContext.feature + includeRuntimeContext
    "ai.telemetry.functionId",  # telemetry.functionId, on every ai.* span (ai 7: LegacyOpenTelemetry only)
)
DEFAULT_ENVIRONMENT_KEYS = ("deployment.environment.name", "deployment.environment")


class NormalizeConfig(BaseModel):
    """How spans become usage events. Every key list is searched in order, span attributes before resource ones."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    customer_keys: tuple[str, ...] = DEFAULT_CUSTOMER_KEYS
    """Attributes naming the paying customer, most trusted first. Default: ``customer.id``, ``enduser.id``,
    ``user.id``, ``traceloop.association.properties.customer_id``, ``traceloop.association.properties.user_id``,
    the Vercel AI SDK's ``ai.telemetry.metadata.customer_id``, ``ai.settings.context.customer_id``,
    ``ai.telemetry.metadata.userId``, then ``metadata.user_api_key_end_user_id``, ``gen_ai.user``,
    ``gen_ai.request.user``, ``llm.user``."""
    feature_keys: tuple[str, ...] = DEFAULT_FEATURE_KEYS
    """Attributes naming the product feature. Default: ``feature.name``,
    ``traceloop.association.properties.feature``, ``traceloop.workflow.name``, then the Vercel AI SDK's
    ``ai.telemetry.metadata.feature``, ``ai.settings.context.feature``, ``ai.telemetry.functionId``. When none is
    set the feature is the trace's root span name (or the service's local root span name), else ``(none)``."""
    environment_keys: tuple[str, ...] = DEFAULT_ENVIRONMENT_KEYS
    """Attributes naming the deployment environment. Default: ``deployment.environment.name``,
    ``deployment.environment``."""
    strict_customer: bool = False
    """Reject model calls that carry no customer (reported to the client as partial success). Default: false, which
    books them to the ``(unattributed)`` customer."""
    strict_token_counts: bool = True
    """Never estimate tokens: a model call without token counts is stored as ``missing_usage``. Default: true. When
    false, counts are estimated from the prompt and completion text on the span and flagged as estimated."""
    token_estimate_factor: Decimal = Field(default=Decimal("1.1"), gt=0, le=10)
    """Safety margin applied to estimated token counts (the product is rounded up). Default: 1.1."""
    max_past_days: int = Field(default=1825, ge=1, le=36_500)
    """Oldest accepted start of a call (spans and REST items), in days before the receiving server's clock; an
    older one is rejected with its reason (``docs/limits.md``). Default: 1825 (5 years)."""
    max_future_minutes: int = Field(default=60, ge=1, le=10_080)
    """Latest accepted start of a call, in minutes after the receiving server's clock (clock skew). Default: 60."""

    @property
    def window(self) -> TimeWindow:
        """The accepted start times around the server's clock, for the normalizer and the REST receiver."""
        return TimeWindow(timedelta(days=self.max_past_days), timedelta(minutes=self.max_future_minutes))

    @field_validator("customer_keys", "feature_keys", "environment_keys")
    @classmethod
    def _keys_are_usable(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        for key in keys:
            if not key or key != key.strip():
                raise ValueError(f"attribute name {key!r} is empty or has surrounding spaces")
        if len(set(keys)) != len(keys):
            raise ValueError("lists an attribute name more than once")
        return keys
