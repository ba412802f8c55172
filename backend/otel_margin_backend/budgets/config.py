"""Configuration of the budgets component: how often budgets are evaluated and where alerts are posted.

Defaults live here and only here. The budgets themselves are data (the budgets file or REST), not config:
see ``definition.py``.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

DASHBOARD_UID = "otel-margin-budgets"
"""The Grafana dashboard that shows budgets; named in every webhook payload."""


def check_http_url(url: str) -> str:
    """Return ``url`` if it is an absolute http(s) URL.

    Args:
        url: The URL to check.

    Returns:
        The URL, unchanged.

    Raises:
        ValueError: it is not one; the message states the rule (never the URL, which may hold a token).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not an http(s) URL; expected e.g. https://hooks.example.com/otel-margin")
    return url


def check_webhook_secret(secret: str) -> str:
    """Return ``secret`` if it is a Standard Webhooks secret: ``whsec_`` and base64 of 24 to 64 random bytes.

    Raises:
        ValueError: it is not one; the message states the rule (never the secret).
    """
    key = secret.removeprefix("whsec_")
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not secret.startswith("whsec_") or not 24 <= len(raw) <= 64:
        raise ValueError("not a Standard Webhooks secret: expected whsec_ and base64 of 24 to 64 random bytes, "
                         "e.g. from: python3 -c 'import base64, secrets; "
                         "print(\"whsec_\" + base64.b64encode(secrets.token_bytes(32)).decode())'")  # fmt: skip
    return secret


class WebhookConfig(BaseModel):
    """Where and how budget alerts are posted (``OTEL_MARGIN_BUDGET_WEBHOOK_URL``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    url: SecretStr | None = None
    """The endpoint that receives one JSON POST per crossing and per resolution; secret, since chat webhooks carry
    a token in the URL. Default: none (alerts are recorded and queued, delivered once a URL is set)."""
    secret: SecretStr | None = None
    """The Standard Webhooks signing secret (``whsec_`` + base64): every POST then carries ``webhook-id``,
    ``webhook-timestamp`` and ``webhook-signature``, which any Standard Webhooks library verifies. Default: none
    (POSTs are unsigned, and ``serve`` says so at start)."""
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    """How long one POST may take before it counts as failed. Default: 10 s."""
    retry_initial_s: float = Field(default=5.0, gt=0)
    """Wait after the first failed attempt; it doubles with each further failure. Default: 5 s."""
    retry_max_s: float = Field(default=900.0, gt=0)
    """Longest wait between attempts (failed deliveries are retried forever). Default: 900 s (15 min)."""
    poll_s: float = Field(default=5.0, gt=0)
    """How often the outbox is checked for notifications queued by other processes (``budgets apply``).
    Default: 5 s."""
    dashboard_url: str | None = None
    """Grafana's base URL, e.g. ``https://grafana.example.com``; payloads then link the budgets dashboard.
    Default: none (payloads name the dashboard uid only)."""

    @field_validator("url", "secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # docker compose passes an unset variable on as "" (``${OTEL_MARGIN_BUDGET_WEBHOOK_URL:-}``)
        return None if value == "" else value

    @field_validator("url")
    @classmethod
    def _http_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_http_url(value.get_secret_value())
        return value

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_webhook_secret(value.get_secret_value())
        return value

    @field_validator("dashboard_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value)


class BudgetsConfig(BaseModel):
    """How ``serve`` runs budgets."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    evaluate_interval_s: float = Field(default=60.0, gt=0)
    """How often every budget is evaluated (thresholds crossed or resolved), which is also how stale the state
    ``GET /v1/budgets/check`` answers from may be. Default: 60 s."""
    webhook: WebhookConfig = Field(default_factory=WebhookConfig)
    """Where and how alerts are posted. Default: ``WebhookConfig()``, which has no URL (alerts are recorded and
    queued, delivered once a URL is set)."""
