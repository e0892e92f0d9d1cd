"""Each request has an id (the caller's, when it is a plain token) and, with tracing on, a server span that
continues the caller's trace: a run submitted over HTTP is part of it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from quarterdeck.observability import tracing
from tests.api.conftest import Api, plan_object, shell_task
from tests.api.test_goals import MODEL, PLAN, _crew, _wait_for
from tests.support.llm_servers import AnthropicServer, Reply, Script

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.install(SimpleSpanProcessor(exporter))
    yield exporter
    tracing.shutdown()


async def test_a_plain_request_id_is_kept_and_anything_else_replaced(api: Api) -> None:
    kept = await api.client.get("/healthz", headers={"X-Request-ID": "deploy-42.a:b"})
    assert kept.headers["x-request-id"] == "deploy-42.a:b"
    replaced = await api.client.get("/healthz", headers={"X-Request-ID": "evil id; rm -rf"})
    assert replaced.headers["x-request-id"] != "evil id; rm -rf"
    assert len(replaced.headers["x-request-id"]) == 16
    made = await api.client.get("/healthz")
    assert made.headers["x-request-id"] != replaced.headers["x-request-id"]


async def test_a_run_submitted_over_http_continues_the_callers_trace(
    api: Api, repo: Path, exported: InMemorySpanExporter
) -> None:
    member = await api.user("acme", "member")
    response = await api.client.post(
        "/api/v1/runs",
        headers={**member, "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"},
        json={"plan": plan_object(shell_task("one", "echo 1 > one.txt")), "repo": str(repo)},
    )
    assert response.status_code == 201, response.text
    spans = exported.get_finished_spans()
    request = next(s for s in spans if s.name == "POST /api/v1/runs")
    run = next(s for s in spans if s.name == "quarterdeck.run")
    assert request.context is not None
    assert request.parent is not None
    assert f"{request.parent.span_id:016x}" == CALLER_SPAN
    assert f"{request.context.trace_id:032x}" == CALLER_TRACE
    assert run.parent is not None
    assert run.parent.span_id == request.context.span_id
    assert dict(request.attributes or {})["http.response.status_code"] == 201


async def test_a_goal_is_one_trace_from_the_request_to_the_managers_model_call(
    api: Api, repo: Path, exported: InMemorySpanExporter
) -> None:
    member = await api.user("acme", "member")
    with AnthropicServer(Script(Reply.text(json.dumps(PLAN)))) as manager:
        _crew(repo, manager.url)
        response = await api.client.post("/api/v1/goals", json={"goal": "Say hi", "repo": str(repo)}, headers=member)
        assert response.status_code == 202, response.text
        # the worker process's supervisor plans it, under the run's trace context
        await _wait_for(api, member, response.json()["run"]["id"], "waiting", "failed")
    spans = {s.name: s for s in exported.get_finished_spans()}
    goal, run, planning, chat = (
        spans["quarterdeck.goal"],
        spans["quarterdeck.run"],
        spans["quarterdeck.manager.plan"],
        spans[f"chat {MODEL}"],
    )
    assert goal.context is not None
    assert run.context is not None
    assert planning.context is not None
    assert run.parent is not None
    assert run.parent.span_id == goal.context.span_id
    assert planning.parent is not None
    assert planning.parent.span_id == run.context.span_id
    assert planning.context.trace_id == goal.context.trace_id
    assert chat.parent is not None
    assert chat.parent.span_id == planning.context.span_id
    assert dict(chat.attributes or {})["gen_ai.usage.output_tokens"] == 100
    assert goal.parent is not None
    assert goal.parent.span_id == spans["POST /api/v1/goals"].context.span_id
