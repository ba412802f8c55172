"""The result account: reasons deduplicated, counted, most frequent first, ready for OTLP partial success."""

from __future__ import annotations

from otel_margin_backend.normalize import NormalizeResult


def test_reasons_are_deduplicated_and_ordered() -> None:
    result = NormalizeResult()
    for reason in ["b problem", "a problem", "b problem", "c problem", "b problem", "a problem"]:
        result.reject(reason)
    assert result.rejected == 6
    assert result.rejection_counts == {"b problem": 3, "a problem": 2, "c problem": 1}
    assert result.reasons == [
        "3 spans rejected: b problem",
        "2 spans rejected: a problem",
        "1 span rejected: c problem",
    ]
    assert result.error_message == (
        "3 spans rejected: b problem; 2 spans rejected: a problem; 1 span rejected: c problem"
    )


def test_nothing_rejected() -> None:
    result = NormalizeResult()
    assert (result.rejected, result.reasons, result.error_message) == (0, [], "")
