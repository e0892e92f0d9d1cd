"""Spans in one process: a model call's GenAI attributes, secrets kept out, and nothing loaded when tracing is off.

(The whole run's tree, across processes and through a real OTLP receiver, is tests/acceptance/test_tracing.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from quarterdeck.llm.endpoint import Endpoint
from quarterdeck.llm.messages import Message, Request
from quarterdeck.llm.router import Router
from quarterdeck.observability import tracing
from quarterdeck.security import redaction
from tests.support.llm_servers import AnthropicServer, Reply, Script


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.install(SimpleSpanProcessor(exporter))
    yield exporter
    tracing.shutdown()


async def test_a_model_call_is_a_span_with_the_genai_attributes(exported: InMemorySpanExporter) -> None:
    with AnthropicServer(Script(Reply.text("hello"))) as server:
        router = Router([Endpoint(model="claude-haiku-4-5", base_url=server.url)], environ={"ANTHROPIC_API_KEY": "k"})
        with tracing.span("quarterdeck.agent"):
            call = await router.complete(Request(model="any", messages=(Message.user("Say hello."),)))
    spans = {s.name: s for s in exported.get_finished_spans()}
    chat = spans["chat claude-haiku-4-5"]
    assert chat.parent is not None
    assert chat.parent.span_id == spans["quarterdeck.agent"].context.span_id
    attributes = dict(chat.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert attributes["gen_ai.request.model"] == "claude-haiku-4-5"
    assert attributes["gen_ai.usage.input_tokens"] == 1000
    assert attributes["gen_ai.usage.input_tokens"] == call.tokens.input + call.tokens.cache_read
    assert attributes["gen_ai.usage.output_tokens"] == call.tokens.output
    assert attributes["quarterdeck.cost_usd"] == pytest.approx(call.cost_usd)
    assert call.cost_usd > 0


def test_secrets_never_leave_in_a_span(exported: InMemorySpanExporter) -> None:
    secret = "sk-planted-0123456789abcdef"
    redaction.remember([secret])
    with pytest.raises(RuntimeError), tracing.span("quarterdeck.verify", {"quarterdeck.command": f"curl -H {secret}"}):
        raise RuntimeError(f"the server said no to {secret}")
    (span,) = exported.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["quarterdeck.command"] == "curl -H [secret]"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "RuntimeError: the server said no to [secret]"
    assert not span.events  # no exception event: its traceback is not redacted


def test_a_task_span_has_the_id_its_attempts_name_as_parent(exported: InMemorySpanExporter) -> None:
    run = tracing.run_traceparent("r1", None)
    assert run == tracing.run_traceparent("r1", None)  # every process derives the same
    parent = tracing.task_traceparent(run, "t1")
    with tracing.span("quarterdeck.attempt", parent=parent):
        pass
    tracing.end_task(run, "t1", started=datetime.now(UTC), attributes={"quarterdeck.task.id": "t1"}, error="boom")
    attempt, task = exported.get_finished_spans()
    assert attempt.parent is not None
    assert task.context is not None
    assert attempt.parent.span_id == task.context.span_id
    assert task.parent is not None
    assert f"{task.parent.span_id:016x}" == run.split("-")[2]
    assert task.status.status_code is StatusCode.ERROR


def test_off_by_default_the_sdk_is_never_loaded() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "QUARTERDECK_OTEL"))}
    code = (
        "import sys\n"
        "from quarterdeck.app import Quarterdeck\n"
        "from quarterdeck.engine import attempt\n"
        "from quarterdeck.observability import tracing\n"
        "from quarterdeck.settings import Settings\n"
        "Quarterdeck(Settings())\n"
        "with tracing.span('x') as span:\n"
        "    assert span is None\n"
        "assert tracing.traceparent() is None and not tracing.enabled()\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
