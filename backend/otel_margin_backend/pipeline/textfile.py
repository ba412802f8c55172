"""Reading a file a user points a command at (budgets, price overrides, CSV imports, replay samples), safely.

Every such command reads through ``read_text``: a file that cannot be read, is binary (a NUL byte), is not
UTF-8, or is larger than any real input is one ``PermanentError`` line naming the file and the line, and never
quoting what the file holds (a command pointed at an environment file must not print its secrets).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from otel_margin_backend.pipeline.errors import PermanentError

MAX_FILE_BYTES: Final = 256 * 1_048_576
"""Largest file read (a year of daily CSV rows is a few MiB); more is the wrong file (or ``/dev/zero``)."""
_BOM = b"\xef\xbb\xbf"


class TextFileError(PermanentError):
    """A user's file is not text a command can read: ``path:line: reason`` (the format of every file error)."""

    def __init__(self, path: str | Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = str(path)
        self.line = line
        self.reason = reason


def read_text(path: str | Path, *, what: str = "file") -> str:
    """The UTF-8 text of a user's file (a leading byte-order mark dropped).

    Args:
        path: The file.
        what: What it should hold, for the message ("budgets file", "CSV file").

    Returns:
        Its text.

    Raises:
        TextFileError: it cannot be read, is over 256 MiB, holds a NUL byte, or is not UTF-8; the message names
            the file and the line, never its content.
    """
    try:
        with Path(path).open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise TextFileError(path, 1, f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise TextFileError(path, 1, f"the file is over {MAX_FILE_BYTES // 1_048_576} MiB: not a {what}")
    data = data.removeprefix(_BOM)
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise TextFileError(path, line, f"a NUL byte: this is a binary file, not a {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TextFileError(path, line, f"not UTF-8 text (byte {exc.start}: {exc.reason})") from None
