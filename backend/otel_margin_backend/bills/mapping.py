"""Where a provider's projects, workspaces and API keys run: the bills mapping file.

Set ``OTEL_MARGIN_BILLS_MAPPING_FILE`` to its path:

```yaml
openai:
  projects:
    proj_4xYcP1: checkout                 # the service its calls carry on spans (service.name)
    proj_9Qe2Lm: {service: search, environment: production}
  api_keys:
    key_aBc123: batch-worker              # an API key's mapping wins over its project's
anthropic:
  workspaces:                             # Anthropic's name for projects
    wrkspc_01JwQ: support-bot
```

The reconciliation compares each mapped project's billed tokens with the spans of its service, so a gap names the
service that lacks instrumentation. The file is loaded into ``bill_mappings`` (replacing what was there) by every
``bills sync`` and ``bills reconcile`` and when ``serve`` starts; without a file the table is left as it is.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.pipeline.textfile import read_text
from otel_margin_backend.storage.database import Conn

_NAME = r"^[^\x00]{1,200}$"


class ServiceTarget(BaseModel):
    """The service (and optionally environment) a project or API key's calls run in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str = Field(pattern=_NAME)
    environment: str | None = Field(default=None, pattern=_NAME)


Target = str | ServiceTarget


class ProviderMapping(BaseModel):
    """One provider's projects (or workspaces) and API keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    projects: dict[str, Target] = Field(default_factory=dict)
    workspaces: dict[str, Target] = Field(default_factory=dict)
    api_keys: dict[str, Target] = Field(default_factory=dict)


def load_mapping(path: Path) -> list[tuple[str, str, str, str, str | None]]:
    """The file's mappings as (provider, kind, external id, service, environment) rows.

    Raises:
        PermanentError: the file is not valid YAML or not in the documented shape (the message names the key).
    """
    text = read_text(path, what="bills mapping file")
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise PermanentError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise PermanentError(f"{path}: expected providers at the top (openai:, anthropic:, ...)")
    rows: list[tuple[str, str, str, str, str | None]] = []
    for provider, body in doc.items():
        try:
            mapping = ProviderMapping.model_validate(body or {})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in (provider, *first["loc"]))
            raise PermanentError(f"{path}: {where}: {first['msg']}") from None
        for kind, entries in (("project", mapping.projects), ("project", mapping.workspaces),
                              ("api_key", mapping.api_keys)):  # fmt: skip
            for external_id, target in entries.items():
                t = ServiceTarget(service=target) if isinstance(target, str) else target
                rows.append((str(provider), kind, str(external_id), t.service, t.environment))
    return rows


def apply_mapping_file(conn: Conn, path: Path | None) -> int | None:
    """Replace ``bill_mappings`` with the file's mappings (nothing without a file).

    Returns:
        How many mappings the file holds, or None without a file.
    """
    if path is None:
        return None
    rows = load_mapping(path)
    with conn.transaction():
        conn.execute("DELETE FROM bill_mappings")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO bill_mappings (provider, kind, external_id, service, environment)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                rows,
            )
    return len(rows)
