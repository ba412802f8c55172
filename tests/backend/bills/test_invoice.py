"""Invoices as CSV (``bills import``): exact amounts, every bad line named, nothing imported until all are right, and
a corrected file replaces only the days that changed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_margin_backend.bills import sync
from otel_margin_backend.bills.invoice import read_invoice
from otel_margin_backend.pipeline.errors import PermanentError
from otel_margin_backend.storage.database import Conn
from tests.backend.cli.test_main import otel_margin

GOOD = """day,model,project,amount,input_tokens,cache_read_tokens,output_tokens,requests
2026-11-01,mistral-large-2411,team-a,12.3456,1000000,0,200000,400
2026-11-01,mistral-small-2503,team-a,0.75,500000,100000,50000,90
2026-11-02,mistral-large-2411,team-a,11.00,900000,0,180000,380
"""


@pytest.fixture
def conn(db_url: str) -> Iterator[Conn]:
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c


def test_an_invoice_is_imported_and_a_corrected_one_replaces_its_changed_days(conn: Conn, tmp_path: Path) -> None:
    path = tmp_path / "mistral-2026-11.csv"
    path.write_text(GOOD)
    first = sync.import_invoice(conn, path, "mistral")
    assert (first.first_day, first.last_day, first.lines) == (date(2026, 11, 1), date(2026, 11, 2), 3)
    total = conn.execute("SELECT sum(amount), sum(input_tokens) FROM bill_lines_latest").fetchone()
    assert total == (Decimal("24.0956"), 2_400_000)
    path.write_text(GOOD.replace("11.00", "10.50"))
    again = sync.import_invoice(conn, path, "mistral")
    assert again.revised == (("csv", date(2026, 11, 2)),)
    assert conn.execute("SELECT sum(amount) FROM bill_lines_latest").fetchone() == (Decimal("23.5956"),)


def test_every_bad_line_is_named_and_nothing_is_imported(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "day,model,amount,input_tokens,cache_read_tokens\n"
        "2026-11-01,m,ten,1,0\n"
        "2026-13-01,m,1,1,0\n"
        "2026-11-02,m,1,10,20\n"
        "2026-11-03,m,,1,0\n"
        "2026-11-04,m,1,-5,0\n"
    )
    with pytest.raises(PermanentError) as caught:
        read_invoice(path)
    assert str(caught.value).splitlines()[1:] == [
        "  line 2: amount: 'ten' is not a number",
        "  line 3: day: '2026-13-01' is not a date (YYYY-MM-DD)",
        "  line 4: input_tokens must include cache_read_tokens and cache_write_tokens",
        "  line 5: missing amount",
        "  line 6: input_tokens: '-5' is not a whole number of at most 15 digits",
    ]


def test_an_unknown_column_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "cols.csv"
    path.write_text("day,amount,tokens\n2026-11-01,1,5\n")
    with pytest.raises(PermanentError, match=r"cols.csv:1: unknown column\(s\) tokens; expected amount, api_key"):
        read_invoice(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.text(max_size=12), min_size=3, max_size=3))
def test_any_cells_give_lines_or_a_line_numbered_error(tmp_path: Path, cells: list[str]) -> None:
    path = tmp_path / "any.csv"
    row = ",".join('"' + c.replace('"', '""') + '"' for c in cells)
    path.write_text(f"day,model,amount\n{row}\n", encoding="utf-8", errors="surrogatepass")
    try:
        lines = read_invoice(path)
    except PermanentError as exc:
        # The bad line named (where its row ends: a quoted cell may hold a line break), by the invoice's checks
        # (line 2: ...) or the text reader (file:2: ...); or the file as a whole.
        said = str(exc)
        assert re.search(r"line \d+: |any\.csv:\d+: |no lines|valid CSV", said), said
    else:
        assert len(lines) == 1 and lines[0].amount == Decimal(cells[2].strip())


def test_the_command_prints_what_changed(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "inv.csv"
    path.write_text(GOOD)
    env = {"OTEL_MARGIN_DATABASE_URL": db_url, "COLUMNS": "80"}
    first = otel_margin("bills", "import", str(path), "--provider", "mistral", env=env)
    assert first.returncode == 0, first.stderr
    said = " ".join(first.stdout.split())  # wrapped at 80 columns
    assert said == (
        "Imported mistral 2026-11-01 to 2026-11-02: 2 stream-day(s) new or revised (3 lines): 2026-11-01, 2026-11-02."
    )
    again = otel_margin("bills", "import", str(path), "--provider", "mistral", env=env)
    assert "nothing changed since the last import" in " ".join(again.stdout.split())
    bad = otel_margin("bills", "import", str(path), "--provider", "Mistral AI", env=env)
    assert bad.returncode == 1 and "use the provider's name as spans carry it" in bad.stderr
