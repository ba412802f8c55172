"""Entry point of the `otel-margin` command.

The command ships with the server's distribution, otel-margin-server, whose own dependencies it imports; if
one is missing anyway (a partial or broken install), say what to install instead of a traceback. What the
optional parts need (the embedded PostgreSQL, `grafana push`, the demo) is checked where they start.
"""

import os
import sys


def main() -> None:
    """Run the ``otel-margin`` command, or say which extra to install when the server's dependencies are missing."""
    # grpcio's fork handlers log a line whenever a subprocess starts (the embedded PostgreSQL's pg_ctl);
    # nothing here forks with live gRPC state, so they are not needed.
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    if sys.argv[1:] in (["--version"], ["version"]):
        # Answered before the CLI's imports (the price data alone takes a second to load).
        from otel_margin_backend import __version__

        sys.stdout.write(f"otel-margin {__version__}\n")
        return
    try:
        from otel_margin_backend.cli.main import app
    except ImportError as exc:  # pragma: no cover - depends on what is installed
        sys.stderr.write(
            f"error: {exc.name} is not installed, and the otel-margin server needs it: "
            "pip install 'otel-margin-server'\n"
        )
        raise SystemExit(2) from None
    app()


if __name__ == "__main__":
    main()
