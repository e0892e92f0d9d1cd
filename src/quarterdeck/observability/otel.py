"""OpenTelemetry itself: the tracer provider, the exporter and W3C trace context. Imported only when tracing is on.

``tracing`` is the engine's door to this module; nothing else imports it, so a process that does not trace
never loads the SDK.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from quarterdeck.security import redaction

__all__ = ["Tracing", "derived_traceparent", "otlp_processor", "task_traceparent"]

_PROPAGATOR = TraceContextTextMapPropagator()
#: a span id chosen ahead (a task's span, ended by whichever process records the task's end)
_forced_span_id: ContextVar[int | None] = ContextVar("quarterdeck_forced_span_id", default=None)


class _Ids(RandomIdGenerator):
    """Random ids, except a span id chosen ahead (``Tracing.end_span_with_id``)."""

    def generate_span_id(self) -> int:
        forced = _forced_span_id.get()
        return forced if forced is not None else super().generate_span_id()


def otlp_processor(endpoint: str | None) -> SpanProcessor:
    """Batch export over OTLP/HTTP (protobuf): to ``endpoint`` (a base URL; ``/v1/traces`` is added),
    else where the ``OTEL_EXPORTER_OTLP_*`` variables say."""
    if endpoint is None:
        return BatchSpanProcessor(OTLPSpanExporter())
    url = endpoint.rstrip("/")
    if not url.endswith("/v1/traces"):
        url += "/v1/traces"
    return BatchSpanProcessor(OTLPSpanExporter(endpoint=url))


def _hash64(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256(":".join(parts).encode()).digest()[:8], "big") or 1


def derived_traceparent(run_id: str) -> str:
    """The run's trace context when none was stored with it (submitted while tracing was off)."""
    digest = hashlib.sha256(f"quarterdeck-run:{run_id}".encode()).hexdigest()
    return f"00-{digest[:32]}-{_hash64('run', run_id):016x}-01"


def task_traceparent(run_traceparent: str, task_id: str) -> str:
    """The context of the task's span: a child of the run's, with an id every process derives alike."""
    trace_id = run_traceparent.split("-")[1]
    return f"00-{trace_id}-{_hash64(trace_id, task_id):016x}-01"


class Tracing:
    """A tracer provider and its tracer; ``shutdown`` flushes what is queued."""

    def __init__(self, processor: SpanProcessor) -> None:
        resource = Resource.create(
            {
                "service.name": os.environ.get("OTEL_SERVICE_NAME") or "quarterdeck",
                "host.name": socket.gethostname(),
                "process.pid": os.getpid(),
            }
        )
        self.provider = TracerProvider(resource=resource, id_generator=_Ids())
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("quarterdeck")

    def shutdown(self) -> None:
        self.provider.shutdown()

    def flush(self) -> bool:
        return self.provider.force_flush()

    @staticmethod
    def context_of(traceparent: str) -> Context:
        return _PROPAGATOR.extract({"traceparent": traceparent})

    @staticmethod
    def current_traceparent() -> str | None:
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        return carrier.get("traceparent")

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        attributes: Mapping[str, Any] | None,
        parent: str | None,
        server: bool = False,
    ) -> Iterator[Span]:
        """A current span; an exception leaving it marks it failed with its (redacted) message."""
        context = self.context_of(parent) if parent else None
        with self.tracer.start_as_current_span(
            name,
            context=context,
            kind=SpanKind.SERVER if server else SpanKind.INTERNAL,
            attributes=redaction.redact(dict(attributes)) if attributes else None,
            record_exception=False,  # its message and traceback could hold a secret: ours below is redacted
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except BaseException as exc:
                span.set_attribute("error.type", type(exc).__name__)
                self.set_error(span, f"{type(exc).__name__}: {exc}")
                raise

    def end_span_with_id(
        self,
        name: str,
        traceparent: str,
        parent: str,
        *,
        start_ns: int,
        attributes: Mapping[str, Any],
        error: str | None,
    ) -> None:
        """Record a span whose context (``traceparent``) was handed out before it ended (a task's)."""
        token = _forced_span_id.set(int(traceparent.split("-")[2], 16))
        try:
            span = self.tracer.start_span(
                name,
                context=self.context_of(parent),
                start_time=start_ns,
                attributes=redaction.redact(dict(attributes)),
            )
        finally:
            _forced_span_id.reset(token)
        if error is not None:
            self.set_error(span, error)
        span.end()

    @staticmethod
    def current_span() -> Span:
        return trace.get_current_span()

    @staticmethod
    def trace_id() -> str | None:
        context = trace.get_current_span().get_span_context()
        return f"{context.trace_id:032x}" if context.is_valid else None

    @staticmethod
    def span_id() -> str | None:
        context = trace.get_current_span().get_span_context()
        return f"{context.span_id:016x}" if context.is_valid else None

    @staticmethod
    def set_error(span: Span, message: str) -> None:
        span.set_status(Status(StatusCode.ERROR, redaction.redact(message)[:500]))
