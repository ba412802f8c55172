"""What the receivers count and log about each request: spans in, spans out, and oversize refusals.

One place for the three receivers, so a span is counted the same way whichever protocol carried it. A request
refused for its size is logged (once, with its size and the limit) and counted before it is answered: the
client is told why, and an operator sees it without asking the client.
"""

from __future__ import annotations

import logging

from otel_margin_backend.pipeline.consumer import Accepted
from otel_margin_backend.pipeline.metrics import Metrics
from otel_margin_backend.web.status import TooLarge, classify

log = logging.getLogger("otel_margin_backend.receivers")


def accepted(metrics: Metrics, receiver: str, received: int, result: Accepted) -> None:
    """Count a request whose valid part is durable: every span received, stored or rejected alone."""
    labels = {"receiver": receiver}
    metrics.spans_received.add(received, labels)
    metrics.spans_accepted.add(result.stored, labels)
    if result.rejected:
        metrics.spans_rejected.add(result.rejected, {"receiver": receiver, "reason": "invalid"})


def failed(metrics: Metrics, receiver: str, received: int, exc: BaseException) -> None:
    """Count the spans of a decoded request refused whole, by the answer's code (``unavailable`` …)."""
    if received:
        metrics.spans_received.add(received, {"receiver": receiver})
        reason = classify(exc).grpc_code.name.lower()
        metrics.spans_rejected.add(received, {"receiver": receiver, "reason": reason})


def oversize(metrics: Metrics, receiver: str, size_bytes: int | None, limit_bytes: int, exc: TooLarge) -> None:
    """Log and count a request refused for its size (``size_bytes`` as far as it was read, when known)."""
    metrics.oversize.add(1, {"receiver": receiver})
    log.warning(
        "request refused: over the size limit",
        extra={"receiver": receiver, "size_bytes": size_bytes, "limit_bytes": limit_bytes, "reason": str(exc)},
    )


def too_large(size_bytes: int, limit_bytes: int, setting: str) -> TooLarge:
    """The refusal of a message of ``size_bytes`` over ``limit_bytes``: what it was, and what to change."""
    return TooLarge(
        f"message of {size_bytes:,} bytes is over the backend's {limit_bytes:,}-byte limit: send smaller "
        f"batches (the Collector's send_batch_max_size) or raise {setting}"
    )
