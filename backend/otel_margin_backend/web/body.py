"""Reading request bodies against a size cap, without buffering more than the cap."""

from __future__ import annotations

from starlette.requests import Request

from otel_margin_backend.web.status import TooLarge

MAX_BODY_BYTES = 20 * 1_048_576
"""The OTLP-recommended 20 MiB limit, applied after decompression."""


async def read_body(request: Request, limit_bytes: int) -> bytes:
    """The raw body, refusing to buffer more than the limit (plus slack for gzip's framing)."""
    cap = limit_bytes + 65_536
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise TooLarge(f"request body is over the {limit_bytes // 1_048_576} MiB limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise TooLarge(f"request body is over the {limit_bytes // 1_048_576} MiB limit")
        chunks.append(chunk)
    return b"".join(chunks)
