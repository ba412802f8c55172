"""Entry point of the `otel-margin` command.

The command ships with the app-side SDK's distribution, but its dependencies come with the
`backend` extra; say so instead of a traceback when they are missing.
"""

import os
import sys


def main() -> None:
    # grpcio's fork handlers log a line whenever a subprocess starts (the embedded PostgreSQL's pg_ctl);
    # nothing here forks with live gRPC state, so they are not needed.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    try:
        from otel_margin_backend.cli.main import app
    except ImportError as exc:  # pragma: no cover - depends on what is installed
        sys.stderr.write(
            f"otel-margin: the backend's dependencies are not installed ({exc.name} is missing).\n"
            "Install them with: pip install 'otel-margin[backend]'\n"
        )
        raise SystemExit(2) from None
    app()


if __name__ == "__main__":
    main()
