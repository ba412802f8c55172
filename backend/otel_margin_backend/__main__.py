"""Entry point of the `otel-margin` command.

The command ships with the app-side SDK's distribution, but its dependencies come with the
`backend` extra; say so instead of a traceback when they are missing.
"""

import sys


def main() -> None:
    try:
        from otel_margin_backend.cli import app
    except ImportError as exc:  # pragma: no cover - depends on what is installed
        sys.stderr.write(
            f"otel-margin: the backend's dependencies are not installed ({exc.name} is missing).\n"
            "Install them with: pip install 'otel-margin[backend]'\n"
        )
        raise SystemExit(2) from None
    app()


if __name__ == "__main__":
    main()
