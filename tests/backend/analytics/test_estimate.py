"""The estimate CSV: what a spreadsheet exports is read exactly, and a bad file is a line-numbered error, never a
traceback (hypothesis over the reader)."""

from __future__ import annotations

import csv
import io
import re
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otel_margin_backend.analytics.estimate import EstimateError, EstimateLine, read_estimate
from otel_margin_backend.analytics.verify import parse_tolerance
from otel_margin_backend.pipeline.errors import PermanentError

SECRET = "sk_live_51Hh2ZZsecretvalue"


def _file(tmp_path: Path, content: str | bytes, name: str = "estimate.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _problems(path: Path, currency: str = "USD") -> list[str]:
    with pytest.raises(EstimateError) as caught:
        read_estimate(path, currency)
    return [p.removeprefix(f"{path} ").removeprefix(f"{path}: ") for p in caught.value.problems]


def test_a_spreadsheet_export_is_read_exactly(tmp_path: Path) -> None:
    # Excel's "CSV UTF-8": a byte-order mark, CRLF, its own header words, a currency format, quoted cells.
    text = ("\ufeffCustomer ID,Expected cost (USD),Revenue,Notes,Margin %\r\n"
            'plexo-health,$264.00,233.25,"canary, week 1",-13.2\r\n'
            "helix-robotics, 127.00 ,134.29,,\r\n"
            ",,,,\r\n"
            "\r\n"
            "acme,4435,,,\r\n")  # fmt: skip
    estimate = read_estimate(_file(tmp_path, text))
    assert estimate.lines == (
        EstimateLine(2, "plexo-health", Decimal("264.00"), Decimal("233.25"), Decimal("-30.75")),
        EstimateLine(3, "helix-robotics", Decimal("127.00"), Decimal("134.29"), Decimal("7.29")),
        EstimateLine(6, "acme", Decimal("4435"), None, None),
    )
    assert estimate.ignored_columns == ("Notes", "Margin %")


def test_a_margin_column_wins_and_negative_amounts_read_either_way(tmp_path: Path) -> None:
    text = "customer,expected_cost_usd,expected_revenue,margin\na,10.00,12.00,2.50\nb,10,8,-$2.00\nc,5,,$-1\n"
    lines = read_estimate(_file(tmp_path, text)).lines
    assert [(x.cost, x.revenue, x.margin) for x in lines] == [
        (Decimal("10.00"), Decimal("12.00"), Decimal("2.50")),
        (Decimal("10"), Decimal("8"), Decimal("-2.00")),
        (Decimal("5"), None, Decimal("-1")),
    ]


def test_every_bad_line_is_reported_with_its_number(tmp_path: Path) -> None:
    text = ("customer_id,cost,revenue\n"
            "plexo-health,277.20,233.25\n"
            "helix-robotics,127.31,\n"
            "acme,abc,\n"
            ",5,\n"
            "northwind,-1,1e3\n"
            "plexo-health,1,\n"
            'wide,"1,234.50",\n'
            "extra,1,2,3\n"
            "nocost,,5\n"
            '"multi\nline",x,\n'
            "after,1,\n"
            "bad,1,\n")  # fmt: skip
    assert _problems(_file(tmp_path, text)) == [
        "line 4: cost 'abc' is not a number; write it like 1234.50",
        "line 5: customer_id is empty",
        "line 6: revenue '1e3' is not a number; write it like 1234.50; cost '-1' is negative",
        "line 7: customer_id 'plexo-health' repeats line 2",
        "line 8: cost '1,234.50' is not a number; write it like 1234.50 (a dot for decimals, no thousands separators)",
        "line 9: 4 cells, but the header names 3 columns",
        "line 10: cost is empty",
        "line 11: cost 'x' is not a number; write it like 1234.50",  # the line the row starts on
    ]


def test_header_problems_name_the_column_and_what_to_write(tmp_path: Path) -> None:
    assert _problems(_file(tmp_path, "plexo-health,277.20\n")) == [
        "line 1: no customer_id or cost column (found plexo-health, column 2); the first line must name the "
        "columns: customer_id,cost and optionally revenue or margin"
    ]
    assert _problems(_file(tmp_path, "customer_id,cost_eur\na,1\n")) == [
        "line 1: column 'cost_eur' is in EUR; give amounts in USD, the reporting currency (they are not converted)"
    ]
    assert read_estimate(_file(tmp_path, "customer_id,cost_eur\na,1\n"), "EUR").lines[0].cost == Decimal(1)
    assert _problems(_file(tmp_path, "customer_id,cost,Cost (USD)\na,1,1\n")) == [
        "line 1: two cost columns (2 and 3); keep one"
    ]
    assert _problems(_file(tmp_path, "")) == [
        "line 1: the first line must name the columns: customer_id,cost[,revenue]"
    ]
    assert _problems(_file(tmp_path, "customer_id,cost\n\n,,\n")) == [
        "no customers; add one line per customer under the header"
    ]


def test_the_wrong_file_is_never_quoted(tmp_path: Path) -> None:
    env = _file(tmp_path, f"STRIPE_API_KEY={SECRET}\nOTEL_MARGIN_INGEST_TOKEN=tok\n")
    (problem,) = _problems(env)
    assert SECRET not in problem and problem.startswith("line 1: no customer_id or cost column (found column 1)")
    long_cell = _file(tmp_path, f"customer_id,cost\na,{SECRET}\n")
    (problem,) = _problems(long_cell)
    assert SECRET not in problem and problem.startswith("line 2: cost 'sk_live_51Hh2ZZs…' is not")


def test_a_binary_or_non_utf8_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match=r"estimate.csv:2: a NUL byte: this is a binary file"):
        read_estimate(_file(tmp_path, b"customer_id,cost\na,\x00\x01"))
    with pytest.raises(PermanentError, match=r"estimate.csv:2: not UTF-8 text"):
        read_estimate(_file(tmp_path, b"customer_id,cost\n\xff\xfe,1\n"))
    with pytest.raises(PermanentError, match=r"cannot read the file"):
        read_estimate(tmp_path / "missing.csv")


@pytest.mark.parametrize(("text", "percent"), [("5%", "5"), ("5", "5"), (" 5 % ", "5"), ("2.5%", "2.5"), ("0", "0"),
                                                ("100%", "100")])  # fmt: skip
def test_tolerance_as_percent_or_number(text: str, percent: str) -> None:
    assert parse_tolerance(text) == Decimal(percent)


@pytest.mark.parametrize("text", ["abc", "-5%", "101", "5%%", "0.05.1", "", "1e1"])
def test_a_bad_tolerance_says_what_to_give(text: str) -> None:
    with pytest.raises(PermanentError, match=re.escape("give a percentage from 0 to 100, like 5% or 2.5")):
        parse_tolerance(text)


# Hypothesis: any file is an estimate or a list of line-numbered problems (or one textfile error), never a traceback.
_CELLS = st.one_of(st.text(max_size=12), st.sampled_from(["277.20", "-1", "$5", "1,5", "", " ", '"', "\r", "\n"]))
_HEADER = st.lists(st.sampled_from(["customer_id", "cost", "revenue", "margin", "Cost (USD)", "notes", "cost_eur",
                                    "customer", "%", ""]), max_size=5)  # fmt: skip


def _check_any(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "estimate.csv"
        path.write_bytes(content)
        try:
            estimate = read_estimate(path)
        except EstimateError as exc:
            assert exc.problems and all(
                p.startswith(f"{path} line ") or p.startswith(f"{path}: ") for p in exc.problems
            )
            return
        except PermanentError as exc:
            assert str(exc).startswith(f"{path}:")
            return
        assert estimate.lines and all(line.cost >= 0 and line.customer for line in estimate.lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=_HEADER, rows=st.lists(st.lists(_CELLS, max_size=6), max_size=6), crlf=st.booleans(), bom=st.booleans())
def test_any_table_of_cells_is_read_or_refused_line_by_line(header: list[str], rows: list[list[str]], crlf: bool,
                                                            bom: bool) -> None:  # fmt: skip
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n" if crlf else "\n").writerows([header, *rows])
    _check_any(("\ufeff" if bom else "").encode() + out.getvalue().encode())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_are_read_or_refused(content: bytes) -> None:
    _check_any(content)


_CUSTOMERS = (
    st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=20).map(str.strip).filter(bool)
)
_AMOUNTS = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_CUSTOMERS, st.tuples(_AMOUNTS, st.none() | _AMOUNTS), min_size=1, max_size=8), st.booleans())
def test_what_a_spreadsheet_writes_reads_back_exactly(sheet: dict[str, tuple[Decimal, Decimal | None]],
                                                      crlf: bool) -> None:  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(["customer_id", "cost", "revenue"])
    for customer, (cost, revenue) in sheet.items():
        writer.writerow([customer, str(cost), "" if revenue is None else str(revenue)])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "estimate.csv"
        path.write_bytes(b"\xef\xbb\xbf" + out.getvalue().encode())
        lines = read_estimate(path).lines
    assert {x.customer: (x.cost, x.revenue) for x in lines} == sheet
    assert [x.line for x in lines] == list(range(2, len(sheet) + 2))
