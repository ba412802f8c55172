"""Per-event outcomes of a write: new, redelivered, redelivered with other numbers, folded, replacing."""

from __future__ import annotations

from otel_margin_backend.storage.writer import RowOutcome, WriteResult
from tests.backend.storage.test_calls import detailed, sparse
from tests.backend.storage.test_writer import mismatched, totals
from tests.support.events import event, run, write


def test_a_new_batch_reports_no_outcomes_and_every_event_is_stored(db_url: str) -> None:
    result = run(write(db_url, [event(1), event(2)]))
    assert result == WriteResult(inserted=2, duplicates=0)
    assert result.outcomes == ()  # the fast path reads nothing back
    assert [result.outcome(i) for i in range(2)] == [RowOutcome.STORED, RowOutcome.STORED]


def test_redeliveries_are_told_apart_from_new_rows_and_compared_with_the_stored_row(db_url: str) -> None:
    run(write(db_url, [event(1), event(2)]))
    batch = [
        event(3),  # new
        event(1),  # stored already, same numbers
        event(2, output_tokens=999),  # stored already, other numbers: the stored row stays
        event(3),  # repeated in the batch, same numbers
        event(3, customer="acct_2"),  # repeated in the batch, other customer
        event(4, output_tokens=7),  # new
    ]
    result = run(write(db_url, batch))
    assert result == WriteResult(inserted=2, duplicates=4)
    assert result.outcomes == (
        RowOutcome.STORED,
        RowOutcome.REDELIVERED,
        RowOutcome.DIFFERS,
        RowOutcome.REDELIVERED,
        RowOutcome.DIFFERS,
        RowOutcome.STORED,
    )
    raw, rolled = totals(db_url)
    assert raw == rolled
    assert raw[:3] == (4, 4000, 607)  # event 2 kept its 200 output tokens
    assert mismatched(db_url) == []


def test_spans_folded_or_replacing_by_call_arbitration_are_reported(db_url: str) -> None:
    assert run(write(db_url, [sparse(1)])).outcomes == ()
    replacing = run(write(db_url, [detailed(1)]))
    assert (replacing.inserted, replacing.duplicates, replacing.replaced) == (1, 0, 1)
    assert replacing.outcomes == (RowOutcome.REPLACED,)
    again = run(write(db_url, [sparse(1), detailed(1), sparse(2), detailed(2)]))
    assert (again.inserted, again.duplicates, again.replaced) == (1, 3, 0)
    assert again.outcomes == (RowOutcome.FOLDED, RowOutcome.REDELIVERED, RowOutcome.FOLDED, RowOutcome.STORED)
    changed = detailed(1)
    changed.output_tokens = 181
    assert run(write(db_url, [changed])).outcomes == (RowOutcome.DIFFERS,)
    assert totals(db_url)[0][:3] == (2, 10500, 360)
    assert mismatched(db_url) == []
