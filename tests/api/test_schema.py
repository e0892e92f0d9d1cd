"""Schemathesis over ``/openapi.json`` on both databases: no 5xx, every response as the schema says, every
operation answering 2xx at least once.

A fuzzer that only makes up ids reaches nothing but 404s: eight operations (``POST /runs``, ``/goals``,
approve, login, refresh, pause, resume, task cancel) were never exercised with valid input. So the
test first builds a world over HTTP — a user, a project, a key, a secret, runs with tasks, a goal
planned by a local model server and its approval, a session — with one valid request per operation
(each checked against the schema and required to answer 2xx), then fuzzes every operation with
generated input, half of it aimed at the world's real objects (their ids in the path). The examples
are derandomized and few (CI time stays about a minute per database).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok
from schemathesis.errors import InvalidSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from quarterdeck.api.settings import ApiSettings
from quarterdeck.app import Quarterdeck, accounts
from quarterdeck.crews import gates
from quarterdeck.settings import Settings
from quarterdeck.store import memories
from quarterdeck.store.database import Database
from quarterdeck.store.types import utcnow
from tests.api.conftest import PASSWORD, ThreadServer, plan_object, shell_task
from tests.api.test_goals import PLAN, _crew
from tests.support.llm_servers import AnthropicServer, Reply, Script

#: the goal's plan as its approver edits it (a plan file)
EDITED = {
    "name": "hello",
    "tasks": [
        {
            "id": "hello",
            "title": "Write hello.txt, edited",
            "prompt": "Write hello.txt saying hi.",
            "runtime": "scripted",
            "options": {"actions": [{"write": "hello.txt", "content": "hi\n"}]},
        }
    ],
}

#: endless by design (a live stream): its 2xx is checked by opening it, its events in test_streams.py
STREAM = ("GET", "/api/v1/events")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: generated examples per operation (half of them at real objects); derandomized, so CI sees the same ones
EXAMPLES = 8

Step = tuple[str, str, Callable[[dict[str, Any]], dict[str, Any]]]


def _world_steps(repo: Path) -> list[Step]:
    """One valid request per operation, in an order in which each is valid: (method, path, case fields).

    The fields are made from what earlier answers gave (``w``), and each answer is kept in ``w`` too.
    """
    run_plan = plan_object(shell_task("t1", "true"), shell_task("t2", "true", depends_on=("t1",)), name="fuzz")
    return [
        ("GET", "/healthz", lambda w: {}),
        ("GET", "/readyz", lambda w: {}),
        ("GET", "/metrics", lambda w: {}),
        ("POST", "/api/v1/auth/login", lambda w: {"body": {"email": "admin@fuzz.io", "password": PASSWORD}}),
        ("POST", "/api/v1/auth/refresh", lambda w: {"body": {"refresh_token": w["login"]["refresh_token"]}}),
        ("POST", "/api/v1/auth/logout", lambda w: {"body": {"refresh_token": w["refresh"]["refresh_token"]}}),
        ("GET", "/api/v1/me", lambda w: {}),
        ("POST", "/api/v1/users", lambda w: {"body": {"email": "v@fuzz.io", "name": "V", "password": "x" * 12}}),
        ("GET", "/api/v1/users", lambda w: {}),
        ("GET", "/api/v1/users/{user_id}", lambda w: {"path_parameters": {"user_id": w["user"]["id"]}}),
        (
            "PATCH",
            "/api/v1/users/{user_id}",
            lambda w: {"path_parameters": {"user_id": w["user"]["id"]}, "body": {"name": "Victim"}},
        ),
        ("POST", "/api/v1/projects", lambda w: {"body": {"name": "fuzz", "repo_path": str(repo)}}),
        ("GET", "/api/v1/projects", lambda w: {}),
        ("GET", "/api/v1/projects/{project_id}", lambda w: {"path_parameters": {"project_id": w["project"]["id"]}}),
        (
            "PATCH",
            "/api/v1/projects/{project_id}",
            lambda w: {"path_parameters": {"project_id": w["project"]["id"]}, "body": {"settings": {"k": "v"}}},
        ),
        ("POST", "/api/v1/api-keys", lambda w: {"body": {"name": "fuzz", "scope": "read"}}),
        ("GET", "/api/v1/api-keys", lambda w: {}),
        ("PUT", "/api/v1/secrets/{name}", lambda w: {"path_parameters": {"name": "FUZZ"}, "body": {"value": "v" * 8}}),
        ("GET", "/api/v1/secrets", lambda w: {}),
        # a webhook proves itself by its signature (sent by ``_signed_hook``), with the secret set just above
        ("POST", "/api/v1/hooks/{forge}/{project_id}", lambda w: {}),
        ("POST", "/api/v1/secrets/rotate", lambda w: {}),
        ("POST", "/api/v1/runs", lambda w: {"body": {"plan": run_plan, "project_id": w["project"]["id"]}}),
        ("GET", "/api/v1/runs", lambda w: {"query": {"q": "fuzz"}}),
        ("GET", "/api/v1/runs/{run_id}", lambda w: {"path_parameters": {"run_id": w["run"]["id"]}}),
        ("POST", "/api/v1/runs/{run_id}/pause", lambda w: {"path_parameters": {"run_id": w["run"]["id"]}}),
        ("POST", "/api/v1/runs/{run_id}/resume", lambda w: {"path_parameters": {"run_id": w["run"]["id"]}}),
        (
            "POST",
            "/api/v1/runs/{run_id}/budget",
            lambda w: {"path_parameters": {"run_id": w["run"]["id"]}, "body": {"add_usd": 1.5}},
        ),
        ("GET", "/api/v1/runs/{run_id}/tasks", lambda w: {"path_parameters": {"run_id": w["run"]["id"]}}),
        *[
            (method, f"/api/v1/runs/{{run_id}}/tasks/{{task_id}}{tail}", _task(extra))
            for method, tail, extra in (
                ("GET", "", {}),
                ("GET", "/diff", {}),
                ("GET", "/events", {}),
                ("POST", "/prioritize", {"body": {"priority": 3}}),
                ("POST", "/cancel", {}),
                ("POST", "/retry", {}),
                ("PATCH", "", {"body": {"prompt": "Do t2 again."}}),
                ("POST", "/say", {"body": {"message": "Mind the tests."}}),
            )
        ],
        ("GET", "/api/v1/runs/{run_id}/audit", lambda w: {"path_parameters": {"run_id": w["run"]["id"]}}),
        (
            "GET",
            "/api/v1/runs/{run_id}/tasks/{task_id}/memories",
            lambda w: {"path_parameters": {"run_id": w["run"]["id"], "task_id": "t1"}},
        ),
        ("GET", "/api/v1/memory/search", lambda w: {"query": {"q": "the tests hang", "k": 3}}),
        ("GET", "/api/v1/memory", lambda w: {"query": {"run_id": w["run"]["id"]}}),
        ("GET", "/api/v1/memory/{memory_id}", lambda w: {"path_parameters": {"memory_id": w["memory"]}}),
        ("DELETE", "/api/v1/memory/{memory_id}", lambda w: {"path_parameters": {"memory_id": w["memory"]}}),
        ("DELETE", "/api/v1/memory", lambda w: {"query": {"run_id": w["run"]["id"]}}),
        ("GET", "/api/v1/queue", lambda w: {}),
        ("GET", "/api/v1/costs", lambda w: {"query": {"by": "model"}}),
        ("GET", "/api/v1/analytics", lambda w: {"query": {"by": "runtime", "since": "7d"}}),
        ("GET", "/api/v1/runtimes", lambda w: {}),
        ("GET", "/api/v1/workers", lambda w: {}),
        ("POST", "/api/v1/goals", lambda w: {"body": {"goal": "Say hi", "project_id": w["project"]["id"]}}),
        ("GET", "/api/v1/approvals", lambda w: {"query": {"status": "pending"}}),
        (
            "PUT",
            "/api/v1/approvals/{approval_id}/plan",
            lambda w: {"path_parameters": {"approval_id": w["plan_approval"]}, "body": {"plan": json.dumps(EDITED)}},
        ),
        (
            "POST",
            "/api/v1/approvals/{approval_id}/approve",
            lambda w: {"path_parameters": {"approval_id": w["plan_approval"]}},
        ),
        (
            "POST",
            "/api/v1/approvals/{approval_id}/reject",
            lambda w: {"path_parameters": {"approval_id": w["budget_approval"]}, "body": {"reason": "no"}},
        ),
        ("POST", "/api/v1/runs/{run_id}/cancel", lambda w: {"path_parameters": {"run_id": w["run"]["id"]}}),
        (
            "POST",
            "/api/v1/subscriptions",
            lambda w: {"body": {"scope": "org", "channel": "email", "target": "alerts@fuzz.io"}},
        ),
        ("GET", "/api/v1/subscriptions", lambda w: {}),
        ("GET", "/api/v1/notifications", lambda w: {"query": {"run": w["run"]["id"]}}),
        (
            "DELETE",
            "/api/v1/subscriptions/{subscription_id}",
            lambda w: {"path_parameters": {"subscription_id": w["subscription"]["id"]}},
        ),
        ("DELETE", "/api/v1/secrets/{name}", lambda w: {"path_parameters": {"name": "FUZZ"}}),
        ("DELETE", "/api/v1/api-keys/{key_id}", lambda w: {"path_parameters": {"key_id": w["key"]["id"]}}),
        ("DELETE", "/api/v1/users/{user_id}", lambda w: {"path_parameters": {"user_id": w["user"]["id"]}}),
        ("DELETE", "/api/v1/projects/{project_id}", lambda w: {"path_parameters": {"project_id": w["project"]["id"]}}),
    ]


HOOK = ("POST", "/api/v1/hooks/{forge}/{project_id}")
#: the value ``PUT /api/v1/secrets/FUZZ`` sets, which the repository's ``[forge]`` names as its webhook secret
HOOK_SECRET = "v" * 8


def _forge(repo: Path) -> None:
    (repo / ".quarterdeck").mkdir(exist_ok=True)
    (repo / ".quarterdeck" / "config.toml").write_text(
        '[forge]\nkind = "github"\nrepository = "fuzz/repo"\nwebhook_secret = "FUZZ"\n'
    )


def _signed_hook(base_url: str, project_id: str) -> int:
    """A ping signed with the project's webhook secret: 200."""
    body = b'{"zen": "Keep it logically awesome."}'
    signature = "sha256=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "ping", "X-GitHub-Delivery": "fuzz-1", "X-Hub-Signature-256": signature}
    response = httpx.post(f"{base_url}/api/v1/hooks/github/{project_id}", content=body, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "ignored: ping"
    return response.status_code


def _task(extra: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda w: {"path_parameters": {"run_id": w["run"]["id"], "task_id": "t2"}, **extra}


#: which answer of the world's steps is kept, and under what name
KEEP = {
    ("POST", "/api/v1/auth/login"): "login",
    ("POST", "/api/v1/auth/refresh"): "refresh",
    ("POST", "/api/v1/users"): "user",
    ("POST", "/api/v1/projects"): "project",
    ("POST", "/api/v1/api-keys"): "key",
    ("POST", "/api/v1/runs"): "run",
    ("POST", "/api/v1/goals"): "goal",
    ("POST", "/api/v1/subscriptions"): "subscription",
}


async def _admin(url: str) -> None:
    db = Database(url)
    try:
        await accounts.create_user(
            db, org_id="fuzz", email="admin@fuzz.io", name="Fuzz", role="admin", password=PASSWORD, create_org=True
        )
    finally:
        await db.dispose()


async def _plan_approval(url: str, state_dir: Path, run_id: str) -> str:
    """The goal's plan approval, once a worker's supervisor (here: this process's) planned the goal."""
    async with Quarterdeck(Settings(database_url=url, state_dir=state_dir, poll_max_s=0.05)) as app:
        view = await app.run_until_done(run_id, worker=app.worker(slots=1, run_id=run_id), tick_s=0.05)
        (approval,) = await app.pending_approvals(run_id, org_id=view.run.org_id)
        return approval.id


async def _budget_approval(url: str, run_id: str) -> str:
    """A pending approval to reject (a goal's plan approval is the one approved)."""
    db = Database(url)
    try:
        async with db.transaction() as conn:
            approval = await gates.request(
                conn, org_id="fuzz", kind="budget", payload={"add_usd": 1}, requested_by="manager", run_id=run_id
            )
        return approval.id
    finally:
        await db.dispose()


async def _lesson(url: str, run_id: str) -> str:
    """A lesson of the organisation's (memory is off in the world's runs: none would be left otherwise)."""
    db = Database(url)
    try:
        async with db.transaction() as conn:
            new = memories.NewMemory(
                "fuzz", "/r", run_id, "t1", "a lesson", "succeeded", "the tests hang without redis", (), "test",
                struct.pack("<384f", *([1.0] + [0.0] * 383)),
            )  # fmt: skip
            return (await memories.create_memory(conn, new, now=utcnow())).id
    finally:
        await db.dispose()


def _valid(
    result: Ok[schemathesis.APIOperation[Any, Any, Any, Any]] | Err[InvalidSchema],
) -> schemathesis.APIOperation[Any, Any, Any, Any]:
    """The operation, or the schema's own error: every operation of ours must be valid."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


def _fuzz(operation: Any, real: dict[str, str], base_url: str, headers: dict[str, str], codes: set[int]) -> None:
    """Generated cases of one operation, half of them with the path naming real objects."""

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), aimed=st.booleans())
    def check(case: schemathesis.Case[Any], aimed: bool) -> None:
        if aimed and case.path_parameters:
            case.path_parameters = {k: real.get(k, v) for k, v in case.path_parameters.items()}
        response = case.call(base_url=base_url, headers=headers, timeout=60)
        case.validate_response(response, checks=CHECKS)
        codes.add(response.status_code)

    check()


def test_the_api_conforms_to_its_schema_and_every_operation_answers_2xx(
    database_url: str, tmp_path: Path, repo: Path, api_settings: ApiSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A generated relative path (".") must not name a real repository: POST /goals would ask a real model.
    monkeypatch.chdir(tmp_path)
    app_settings = Settings(database_url=database_url, state_dir=tmp_path / "state")
    plan = Reply.text(json.dumps(PLAN))
    with AnthropicServer(Script(*[plan] * 20)) as manager, ThreadServer(app_settings, api_settings) as server:
        _crew(repo, manager.url)
        _forge(repo)
        asyncio.run(_admin(database_url))
        login = httpx.post(
            f"{server.base_url}/api/v1/auth/login", json={"email": "admin@fuzz.io", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
        operations = {(op.method.upper(), op.path): op for op in map(_valid, schema.get_all_operations())}
        assert len(operations) >= 45
        answered: dict[tuple[str, str], set[int]] = {key: set() for key in operations}

        # 1. the world: one valid request per operation, each a 2xx that matches the schema
        world: dict[str, Any] = {}
        for method, path, fields in _world_steps(repo):
            if (method, path) == ("PUT", "/api/v1/approvals/{approval_id}/plan"):
                world["budget_approval"] = asyncio.run(_budget_approval(database_url, world["run"]["id"]))
                run_id = world["goal"]["run"]["id"]
                world["plan_approval"] = asyncio.run(_plan_approval(database_url, tmp_path / "state", run_id))
            if (method, path) == ("GET", "/api/v1/memory/{memory_id}"):
                world["memory"] = asyncio.run(_lesson(database_url, world["run"]["id"]))
            if (method, path) == HOOK:
                answered[HOOK].add(_signed_hook(server.base_url, world["project"]["id"]))
                continue
            given_fields = fields(world)
            if "body" in given_fields:
                given_fields["media_type"] = "application/json"
            case = operations[(method, path)].Case(**given_fields)
            response = case.call(base_url=server.base_url, headers=headers, timeout=60)
            case.validate_response(response, checks=CHECKS)
            assert 200 <= response.status_code < 300, f"{method} {path}: {response.status_code} {response.text[:300]}"
            answered[(method, path)].add(response.status_code)
            if (method, path) in KEEP:
                world[KEEP[(method, path)]] = response.json()
        with httpx.stream("GET", f"{server.base_url}{STREAM[1]}", headers=headers, timeout=30) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            answered[STREAM].add(stream.status_code)
        unreached = sorted(key for key, codes in answered.items() if not any(200 <= c < 300 for c in codes))
        assert not unreached, f"operations never answering 2xx: {unreached}"

        # 2. the fuzz: generated input, half of it naming the world's objects
        real = {
            "run_id": world["run"]["id"],
            "task_id": "t1",
            "project_id": world["project"]["id"],
            "user_id": world["user"]["id"],
            "key_id": world["key"]["id"],
            "approval_id": world["budget_approval"],
            "name": "FUZZ",
        }
        for (method, path), operation in operations.items():
            if (method, path) == STREAM:
                continue

            _fuzz(operation, real, server.base_url, headers, answered[(method, path)])
        # the fuzz reached the server: every operation answered it
        assert all(len(codes) >= 1 for codes in answered.values())
