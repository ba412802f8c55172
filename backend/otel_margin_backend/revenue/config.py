"""Configuration of the revenue component: Stripe access, customer mapping and the reporting currency.

Defaults live here and only here; ``README.md`` in this folder repeats them for users. ``RevenueConfig`` is what
the component takes. ``RevenueSettings`` reads the same keys from the environment (``OTEL_MARGIN_*``, plus
Stripe's own ``STRIPE_API_KEY`` / ``STRIPE_WEBHOOK_SECRET``) and is what the backend's ``Settings`` extends.
"""

from __future__ import annotations

import re
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_METADATA_KEY = "customer_id"
DEFAULT_REPORTING_CURRENCY = "USD"
DEFAULT_STRIPE_TIMEOUT_S = 10.0
DEFAULT_STRIPE_RETRIES = 2

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
    stripe_customer_metadata_key: str = Field(default=DEFAULT_METADATA_KEY, min_length=1, max_length=40)
    """Stripe customer metadata key holding the otel-margin customer id. Default: ``customer_id``."""
    stripe_timeout_s: float = Field(default=DEFAULT_STRIPE_TIMEOUT_S, gt=0, le=120)
    """Timeout of one Stripe API request. Default: 10 s."""
    stripe_max_network_retries: int = Field(default=DEFAULT_STRIPE_RETRIES, ge=0, le=10)
    """Retries of a failed Stripe API request (the stripe library's backoff). Default: 2."""
    reporting_currency: str = DEFAULT_REPORTING_CURRENCY
    """ISO 4217 code revenue is converted to with the FX table. Default: USD."""

    @field_validator("reporting_currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        return _currency(value)

    @field_validator("stripe_api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return _base_url(value)


@runtime_checkable
class HasRevenueConfig(Protocol):
    """Settings that can build the revenue config (the backend's ``Settings`` once it extends ``RevenueSettings``)."""

    def revenue_config(self) -> RevenueConfig: ...


class RevenueSettings(BaseSettings):
    """The revenue keys as environment variables (``OTEL_MARGIN_`` prefix; Stripe's own names also work)."""

    model_config = SettingsConfigDict(
        env_prefix="OTEL_MARGIN_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        validate_by_name=True,
    )

    stripe_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_MARGIN_STRIPE_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET")
    )
    """Stripe webhook signing secret (``whsec_...``); ``STRIPE_WEBHOOK_SECRET`` also works. Default: none (the
    webhook answers 503 and books nothing)."""
    stripe_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_MARGIN_STRIPE_API_KEY", "STRIPE_API_KEY")
    )
    """Stripe API key for customer lookups and backfill; ``STRIPE_API_KEY`` also works. Default: none."""
    stripe_api_base: str | None = None
    """Stripe API base URL. Default: none (https://api.stripe.com)."""
    stripe_customer_metadata_key: str = Field(default=DEFAULT_METADATA_KEY, min_length=1, max_length=40)
    """Stripe customer metadata key holding the otel-margin customer id. Default: customer_id."""
    stripe_timeout_s: float = Field(default=DEFAULT_STRIPE_TIMEOUT_S, gt=0, le=120)
    """Timeout of one Stripe API request. Default: 10 s."""
    stripe_max_network_retries: int = Field(default=DEFAULT_STRIPE_RETRIES, ge=0, le=10)
    """Retries of a failed Stripe API request. Default: 2."""
    reporting_currency: str = DEFAULT_REPORTING_CURRENCY
    """Currency revenue is converted to with the FX table (ISO 4217). Default: USD."""

    @field_validator("reporting_currency")
    @classmethod
    def _iso_currency(cls, value: str) -> str:
        return _currency(value)

    @field_validator("stripe_api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return _base_url(value)

    def revenue_config(self) -> RevenueConfig:
        """The revenue component's config.

        Raises:
            pydantic.ValidationError: a value breaks a rule (the error names the key).
        """
        return RevenueConfig(
            stripe_webhook_secret=self.stripe_webhook_secret,
            stripe_api_key=self.stripe_api_key,
            stripe_api_base=self.stripe_api_base,
            stripe_customer_metadata_key=self.stripe_customer_metadata_key,
            stripe_timeout_s=self.stripe_timeout_s,
            stripe_max_network_retries=self.stripe_max_network_retries,
            reporting_currency=self.reporting_currency,
        )
