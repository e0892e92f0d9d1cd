"""Log records through the standard ``logging`` module: as text (the default) or as one JSON object a line.

Either way every record carries the ids of the work it belongs to (``context``: run, task, attempt, worker,
request) and, while a span is current, the trace's and span's ids, so a line found in a log store leads to
the run, the task and the trace. JSON lines are written by ``python-json-logger``; the record factory that
``security.redaction`` installs redacts each message, its arguments and its traceback as the record is made,
and the JSON formatter redacts every other field (``extra=``) before it is written, so no secret this process
opened is ever in a line.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal, TextIO

from quarterdeck.observability import context, tracing
from quarterdeck.security import redaction

__all__ = ["IdsFilter", "LogFormat", "configure_logging", "json_enabled"]

LogFormat = Literal["text", "json"]

#: text lines: the ids appear after the message, only those that are set
_TEXT = "%(levelname)s %(name)s: %(message)s%(ids)s"
_json = False


class IdsFilter(logging.Filter):
    """Puts the bound ids (and the current trace's) on each record: ``record.ids`` for text, fields for JSON."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids: dict[str, str] = dict(context.current())  # (an attempt binds its run's trace_id too)
        if tracing.enabled() and (trace := tracing.trace_id()) is not None:
            ids["trace_id"] = trace
            span = tracing.span_id()
            if span is not None:
                ids["span_id"] = span
        for name, value in ids.items():
            setattr(record, name, value)
        record.ids = (" [" + " ".join(f"{k}={v}" for k, v in ids.items()) + "]") if ids else ""
        record.id_names = tuple(ids)
        return True


def configure_logging(level: int, fmt: LogFormat = "text", stream: TextIO | None = None) -> None:
    """Log to ``stream`` (stderr) at ``level``, as text or JSON lines, every record with its ids."""
    global _json
    redaction.install_log_redaction()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(IdsFilter())
    if fmt == "json":
        from quarterdeck.observability.json_lines import JsonLines  # (python-json-logger: loaded only for JSON)

        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter(_TEXT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    _json = fmt == "json"


def json_enabled() -> bool:
    """Whether this process logs JSON lines (a server then leaves its access log to them)."""
    return _json
