"""The CSV reader revenue's imports use (``pipeline/csvfile.py``, shared with the bills' invoice import)."""

from otel_margin_backend.pipeline.csvfile import EXTRA_CELLS, CsvRow, read_csv

__all__ = ["EXTRA_CELLS", "CsvRow", "read_csv"]
