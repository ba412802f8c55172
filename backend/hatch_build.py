"""Ship the generated dashboards and alert rules in the otel-margin-server wheel.

They live in the repository's ``dashboards/`` folder, one level above this project in a checkout, and inside
the sdist (which force-includes them). Force-including a fixed ``../dashboards`` path would break a wheel built
from the sdist, so this hook picks whichever of the two exists. An editable install needs no copy:
``default_assets_dir()`` reads the checkout's ``dashboards/`` folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ASSETS = "otel_margin_backend/grafana/assets"
FILES = ("json", "provisioning/alerting/rules.yaml")


class DashboardsHook(BuildHookInterface):
    """Force-include ``dashboards/json`` and the alert rules under ``otel_margin_backend/grafana/assets``."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Add the dashboards and alert rules to the wheel (editable installs read the checkout)."""
        if version == "editable":
            return
        root = Path(self.root)
        found = [d for d in (root.parent / "dashboards", root / "dashboards") if (d / "json").is_dir()]
        if not found:
            raise FileNotFoundError(f"no dashboards/json beside or inside {root}: build from the repository")
        for name in FILES:
            build_data["force_include"][str(found[0] / name)] = f"{ASSETS}/{name}"
