"""Configuration of access: the named tokens beside the default admin token.

Defaults live here and only here; ``Settings`` composes this model (``OTEL_MARGIN_TOKENS``,
``OTEL_MARGIN_TOKENS_FILE``). The default admin token and the switch that turns every check off stay in
``receivers/config.py`` (``OTEL_MARGIN_INGEST_TOKEN``, ``OTEL_MARGIN_INGEST_AUTH``), the names users have set.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr


class AccessConfig(BaseModel):
    """Named tokens with a scope each (``web/auth.py``; docs/security.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    tokens: SecretStr | None = None
    """Named tokens, comma-separated ``name:scope:token`` (or ``name:scope:sha256:<hex>``), scope ``ingest``,
    ``read`` or ``admin``; e.g. ``collector:ingest:<token>,finance:read:<token>``. Default: none."""
    tokens_file: Path | None = None
    """A file of named tokens, one ``name:scope:sha256:<hex>`` a line (``#`` comments); digests only, never a
    token in clear. Read at start. Default: none."""
