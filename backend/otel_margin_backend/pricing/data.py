"""genai-prices data snapshots: the bundled one, or a ``data.json`` the sync job fetched.

A snapshot is a validated list of providers plus a version string that identifies it. The bundled
data is named after the installed package (``genai-prices 0.2.3``); a file is named by a hash of
its bytes, so the same file always yields the same ``price_version`` and a re-priced history can
say exactly which data priced it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import genai_prices
from genai_prices.data import providers as _bundled_providers
from genai_prices.types import Provider, _providers_from_raw  # private: see load_providers
from pydantic import ValidationError

from otel_margin_backend.pricing.errors import PriceDataError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PriceData:
    """A validated genai-prices snapshot."""

    providers: tuple[Provider, ...]
    """The providers and their models (treat as read-only)."""
    version: str
    """Identifies the snapshot; recorded as ``price_version`` on every event."""

    @classmethod
    def bundled(cls) -> PriceData:
        """The data shipped inside the installed genai-prices package.

        Returns:
            The snapshot, versioned ``"genai-prices <package version>"``.
        """
        return cls(tuple(_bundled_providers), f"genai-prices {genai_prices.__version__}")

    @classmethod
    def from_json_file(cls, path: str | Path, *, version: str | None = None) -> PriceData:
        """A genai-prices ``data.json`` (v2: a JSON list of providers) on disk.

        Args:
            path: The file.
            version: The identifier to record; default: a hash of the file's bytes.

        Returns:
            The snapshot.

        Raises:
            PriceDataError: the file is unreadable or not valid genai-prices data.
        """
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise PriceDataError(f"{path}: cannot read price data: {exc.strerror or exc}") from None
        return cls.from_json_bytes(raw, version=version, source=str(path))

    @classmethod
    def from_json_bytes(cls, raw: bytes, *, version: str | None = None, source: str = "<price data>") -> PriceData:
        """A genai-prices ``data.json`` given as bytes.

        Args:
            raw: The JSON document.
            version: The identifier to record; default ``"genai-prices data sha256:<12 hex digits>"``.
            source: Name used in error messages.

        Returns:
            The snapshot.

        Raises:
            PriceDataError: the bytes are not valid genai-prices data.
        """
        digest = hashlib.sha256(raw).hexdigest()[:12]
        return cls(tuple(load_providers(raw, source=source)), version or f"genai-prices data sha256:{digest}")


def load_providers(raw: bytes | str, *, source: str = "<price data>") -> list[Provider]:
    """Validate a genai-prices ``data.json`` (v2) into providers.

    Uses ``genai_prices.types._providers_from_raw``: private, but it is the validator genai-prices'
    own ``UpdatePrices.fetch`` applies to downloaded data (genai-prices is pinned, see README).
    Warnings it raises for keys this version does not know (newer data) are logged, and those keys
    ignored, as genai-prices itself does.

    Args:
        raw: The JSON document.
        source: Name used in error messages.

    Returns:
        The providers.

    Raises:
        PriceDataError: not JSON, not a list of providers, or a provider does not validate.
    """
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        raise PriceDataError(f"{source}: price data is not JSON: {exc}") from None
    if not isinstance(payload, list) or not payload:
        raise PriceDataError(f"{source}: price data must be a non-empty JSON list of providers")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            providers = _providers_from_raw(payload)
        except (ValidationError, ValueError, TypeError) as exc:
            raise PriceDataError(f"{source}: price data does not validate: {exc}") from None
    for warning in caught:
        log.warning("%s: %s", source, warning.message)
    return providers
