"""Configuration of the revenue component: Stripe access, customer mapping and the reporting currency.

Defaults live here and only here; ``README.md`` in this folder repeats them for users. ``Settings`` composes
``RevenueConfig`` and reads its keys from the environment (``OTEL_MARGIN_STRIPE_API_KEY`` …, and Stripe's own
``STRIPE_API_KEY`` / ``STRIPE_WEBHOOK_SECRET``).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _currency(value: str) -> str:
    code = value.strip().upper()
    if not _CURRENCY.match(code):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code (three letters, e.g. USD)")
    return code


def _base_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{value!r} is not an http(s) URL; expected e.g. https://api.stripe.com")
    return value.rstrip("/")


class RevenueConfig(BaseModel):
    """How revenue is received from Stripe, attributed to customers and reported."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    stripe_webhook_secret: SecretStr | None = None
    """The webhook endpoint's signing secret (``whsec_...``). Default: none, which makes ``/v1/stripe/webhook``
    answer 503 to every delivery (nothing unsigned is ever booked; Stripe retries for three days)."""
    stripe_api_key: SecretStr | None = None
    """Stripe secret or restricted key (read access to customers, invoices, invoice payments, charges, refunds,
    credit notes, disputes). Default: none: webhooks still book, but customer metadata is only what payloads carry,
    invoices with more than 10 lines cannot be booked, and ``stripe backfill`` cannot run."""
    stripe_api_base: str | None = None
    """Base URL of the Stripe API. Default: none (Stripe's own, https://api.stripe.com). Tests point it at a
    local server."""
    stripe_customer_metadata_key: str = Field(default="customer_id", min_length=1, max_length=40)
    """Stripe customer metadata key holding the otel-margin customer id. Default: ``customer_id``."""
    stripe_timeout_s: float = Field(default=10.0, gt=0, le=120)
    """Timeout of one Stripe API request. Default: 10 s."""
    stripe_max_network_retries: int = Field(default=2, ge=0, le=10)
    """Retries of a failed Stripe API request (the stripe library's backoff). Default: 2."""
    reporting_currency: str = "USD"
    """ISO 4217 code revenue is converted to with the FX table. Default: USD."""

    @field_validator("reporting_currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        return _currency(value)

    @field_validator("stripe_api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return _base_url(value)
