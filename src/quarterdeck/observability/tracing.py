"""Traces of runs: one trace per run, OpenTelemetry spans for each step; off, and free, unless turned on.

Tracing is on when ``QUARTERDECK_OTEL_ENDPOINT`` or the SDK's own ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``…_TRACES_ENDPOINT``) is set and ``OTEL_SDK_DISABLED`` is not ``true``. Off, every helper here returns at
once (a shared no-op context manager) and the SDK is never imported.

The span tree of a run::

    quarterdeck.run                      submitting the plan (API request span above it, when submitted there)
    ├── quarterdeck.plan                 checking the plan against the runtimes and the repository
    └── quarterdeck.task <id>            a task from its first claim to its end, whoever ran it
        └── quarterdeck.attempt          one attempt, in the worker process that claimed it
            ├── quarterdeck.agent        the agent's process (GenAI attributes: model, tokens, cost)
            │   └── chat <model>         each model call the router makes (API agents)
            ├── quarterdeck.verify       each verification command
            ├── quarterdeck.review       the reviewer, and quarterdeck.approval: the wait for a person
            └── quarterdeck.merge        landing on the integration branch

The run's W3C ``traceparent`` is stored with the run; any worker, on any machine, continues that trace.
A task's span id is derived from the trace and the task's id, so each attempt names its parent without
another row, and the process that records the task's end emits the task's span with that id. Agent
processes get the attempt's context as ``TRACEPARENT`` in their environment.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.trace import Span

    from quarterdeck.observability.otel import Tracing
    from quarterdeck.settings import Settings

__all__ = [
    "configure",
    "enabled",
    "end_task",
    "failed",
    "flush",
    "install",
    "run_traceparent",
    "set_usage",
    "shutdown",
    "span",
    "span_id",
    "task_traceparent",
    "trace_id",
    "traceparent",
]

_tracing: Tracing | None = None
_OFF: AbstractContextManager[None] = contextlib.nullcontext()


def enabled() -> bool:
    return _tracing is not None


def configure(settings: Settings) -> bool:
    """Turn tracing on if the settings or the environment ask for it (once per process); whether it is on."""
    if _tracing is not None:
        return True
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    asked = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not settings.otel_endpoint and not asked:
        return False
    from quarterdeck.observability import otel

    install(otel.otlp_processor(settings.otel_endpoint))
    return True


def install(processor: SpanProcessor) -> None:
    """Trace through ``processor`` from now on (``configure`` installs the OTLP exporter's)."""
    global _tracing
    from quarterdeck.observability import otel

    if _tracing is not None:
        _tracing.shutdown()
    _tracing = otel.Tracing(processor)


def shutdown() -> None:
    """Flush what is queued and turn tracing off."""
    global _tracing
    if _tracing is not None:
        _tracing.shutdown()
    _tracing = None


def flush() -> None:
    if _tracing is not None:
        _tracing.flush()


def span(
    name: str,
    attributes: Mapping[str, Any] | None = None,
    *,
    parent: str | None = None,
    server: bool = False,
) -> AbstractContextManager[Span | None]:
    """A span around the block, a child of the current one (or of ``parent``, a W3C traceparent).

    Off, the shared no-op context manager (its value is None). An exception leaving the block is recorded
    on the span and marks it failed."""
    if _tracing is None:
        return _OFF
    return _tracing.span(name, attributes, parent, server)


def traceparent() -> str | None:
    """The current span's W3C traceparent (None when off or outside any span)."""
    return None if _tracing is None else _tracing.current_traceparent()


def trace_id() -> str | None:
    """The current trace's id, 32 hex digits (None when off or outside any span)."""
    return None if _tracing is None else _tracing.trace_id()


def span_id() -> str | None:
    """The current span's id, 16 hex digits (None when off or outside any span)."""
    return None if _tracing is None else _tracing.span_id()


def run_traceparent(run_id: str, stored: str | None) -> str:
    """The run's trace context: the one stored with it, else one derived from its id (submitted untraced)."""
    if stored:
        return stored
    from quarterdeck.observability import otel

    return otel.derived_traceparent(run_id)


def task_traceparent(run_traceparent: str, task_id: str) -> str:
    """The context of a task's span, which every attempt of the task is a child of."""
    from quarterdeck.observability import otel

    return otel.task_traceparent(run_traceparent, task_id)


def end_task(
    run_traceparent: str, task_id: str, *, started: datetime, attributes: Mapping[str, Any], error: str | None
) -> None:
    """Emit the span of a task that ended (succeeded, or failed for good), from ``started`` to now."""
    if _tracing is None:
        return
    _tracing.end_span_with_id(
        f"quarterdeck.task {task_id}",
        task_traceparent(run_traceparent, task_id),
        run_traceparent,
        start_ns=int(started.timestamp() * 1e9),
        attributes=attributes,
        error=error,
    )


def set_usage(
    span: Span | None,
    *,
    provider: str,
    model: str | None,
    input_tokens: int,
    output_tokens: int,
    cost_usd: float,
    response_id: str | None = None,
) -> None:
    """The GenAI semantic-convention attributes of a model call (or of an agent's calls, added up)."""
    if span is None:
        return
    attributes: dict[str, Any] = {
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
        "quarterdeck.cost_usd": cost_usd,
    }
    if model:
        attributes["gen_ai.response.model"] = model
    if response_id:
        attributes["gen_ai.response.id"] = response_id
    span.set_attributes(attributes)


def failed(span: Span | None, message: str) -> None:
    """Mark ``span`` failed with ``message`` (an outcome that is not an exception)."""
    if span is not None and _tracing is not None:
        _tracing.set_error(span, message)
