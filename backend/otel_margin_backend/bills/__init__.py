"""What the providers billed, and how much of it otel-margin saw, priced right and attributed to a customer.

See ``README.md`` in this folder. The commands are in ``cli/bills.py``; the service mounts ``routes.routes(...)`` and
runs ``job.BillSyncJob``. This module imports only the config, so ``settings.py`` can compose ``BillsConfig``.
"""

from otel_margin_backend.bills.config import BillsConfig

__all__ = ["BillsConfig"]
