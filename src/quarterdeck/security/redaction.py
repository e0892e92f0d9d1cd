"""Secret values never leave the process: whatever is recorded passes through the redactor first.

Every secret value this process opens (an organisation's agent secrets before a step runs, a
secret set or read through the API) is ``remember``-ed here. The store's write path (events, task
and attempt errors, checkpoints, audit messages, verdicts, approvals) calls ``redact`` on what it
writes, so an error, an output chunk or an event payload is redacted when it is *recorded*, not by
each caller; what the API serves is read from those rows (a diff, read from git, is redacted as it
is served) and log records are redacted as they are made (``install_log_redaction``).

Redacting a value of another organisation is harmless, so one process-wide set serves all of them:
an organisation's secret is hidden wherever it appears.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

__all__ = ["HIDDEN", "Redactor", "forget_all", "install_log_redaction", "redact", "remember"]

HIDDEN = "[secret]"
#: shorter values are too likely to occur by chance (in a word, a number) to be replaced everywhere;
#: a secret that short is no secret worth the name (a provider key or token is far longer)
_SHORTEST = 8
_T = TypeVar("_T")


class Redactor:
    """Replaces every known secret value in strings, lists and dicts (event payloads)."""

    def __init__(self, values: Mapping[str, str] | Iterable[str] | None = None) -> None:
        found = values.values() if isinstance(values, Mapping) else (values or ())
        secrets = sorted({v for v in found if len(v) >= _SHORTEST}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, secrets))) if secrets else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, value: _T) -> _T:
        if self._pattern is None:
            return value
        return self._apply(value)  # type: ignore[no-any-return]

    def _apply(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._pattern.sub(HIDDEN, value) if self._pattern is not None else value
        if isinstance(value, dict):
            return {self._apply(k): self._apply(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._apply(v) for v in value]
        return value


class _Known:
    """The secret values this process has opened."""

    def __init__(self) -> None:
        self._values: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self.redactor = Redactor()

    def remember(self, values: Iterable[str]) -> None:
        new = {v for v in values if len(v) >= _SHORTEST} - self._values
        if not new:
            return
        with self._lock:
            self._values = self._values | new
            self.redactor = Redactor(self._values)

    def forget_all(self) -> None:
        with self._lock:
            self._values = frozenset()
            self.redactor = Redactor()


_KNOWN = _Known()


def remember(values: Iterable[str]) -> None:
    """From now on, ``values`` are redacted from everything this process records or logs."""
    _KNOWN.remember(values)


def forget_all() -> None:
    """Forget every remembered value (a test suite starts each test from none)."""
    _KNOWN.forget_all()


def redact(value: _T) -> _T:
    """``value`` (a string, or a JSON-like dict or list) with every remembered secret replaced by ``[secret]``."""
    return _KNOWN.redactor(value)


_installed = False
_exceptions = logging.Formatter()


def install_log_redaction() -> None:
    """Make every log record of the process redacted as it is made (its message, arguments and traceback)."""
    global _installed
    if _installed:
        return
    _installed = True
    make = logging.getLogRecordFactory()

    def redacted(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        redactor = _KNOWN.redactor
        if not redactor:
            return record
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = redactor(str(record.msg))  # a malformed call: logged as written, never unredacted
        record.msg, record.args = redactor(message), None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redactor(_exceptions.formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(redacted)
