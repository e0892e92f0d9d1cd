"""Log records as text or JSON lines: the work's ids on each, secrets never in them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from quarterdeck.observability import context, logs
from quarterdeck.security import redaction

SECRET = "ghp_planted0123456789abcdefXYZ"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    yield out
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_a_json_line_carries_the_ids_and_never_a_secret(stream: io.StringIO) -> None:
    logs.configure_logging(logging.INFO, "json", stream)
    redaction.remember([SECRET])
    log = logging.getLogger("quarterdeck.test")
    with context.bind(run_id="r1", task_id="t1", attempt_id="a1", worker_id="w1", request_id="q1"):
        try:
            raise RuntimeError(f"refused {SECRET}")
        except RuntimeError:
            log.exception("calling with %s", SECRET, extra={"header": f"Bearer {SECRET}", "count": 3})
    log.warning("outside any work")
    text = stream.getvalue()
    assert SECRET not in text
    first, second = (json.loads(line) for line in text.splitlines() if line.startswith("{"))
    assert first["message"] == "calling with [secret]"
    assert first["header"] == "Bearer [secret]"
    assert first["count"] == 3
    assert "RuntimeError: refused [secret]" in first["exc_info"]
    assert {k: first[k] for k in context.IDS} == {
        "run_id": "r1",
        "task_id": "t1",
        "attempt_id": "a1",
        "worker_id": "w1",
        "request_id": "q1",
    }
    assert first["level"] == "ERROR"
    assert first["logger"] == "quarterdeck.test"
    assert first["time"].endswith("+00:00")
    assert not set(context.IDS) & set(second)


def test_text_lines_stay_as_they_were_with_the_ids_after_the_message(stream: io.StringIO) -> None:
    logs.configure_logging(logging.INFO, "text", stream)
    log = logging.getLogger("quarterdeck.test")
    log.info("plain")
    with context.bind(run_id="r1", task_id="t1"):
        log.info("in a task")
    assert stream.getvalue().splitlines() == [
        "INFO quarterdeck.test: plain",
        "INFO quarterdeck.test: in a task [run_id=r1 task_id=t1]",
    ]
