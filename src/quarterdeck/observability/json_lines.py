"""JSON log lines (python-json-logger): time, level, logger, message, the work's ids, ``extra=`` fields; redacted."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from quarterdeck.security import redaction

__all__ = ["JsonLines"]


class JsonLines(JsonFormatter):
    """One JSON object a line: time, level, logger, message, the ids, any ``extra=`` fields; all redacted."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False,
            reserved_attrs=_RESERVED,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def process_log_record(self, log_record: dict[str, Any]) -> dict[str, Any]:
        return redaction.redact(log_record)


#: the LogRecord attributes that are not fields of a JSON line (python-json-logger's list, less what we keep)
_RESERVED = [
    "args",
    "created",
    "exc_info",
    "exc_text",
    "filename",
    "funcName",
    "levelno",
    "lineno",
    "module",
    "msecs",
    "msg",
    "pathname",
    "process",
    "processName",
    "relativeCreated",
    "stack_info",
    "thread",
    "threadName",
    "taskName",
    # the ``IdsFilter``'s text rendering: in a JSON line the ids are fields of their own
    "ids",
    "id_names",
]
