"""Talking to Quarterdeck's MCP server with the official ``mcp`` client: one conversation for either transport."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import yaml
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

__all__ = ["TOOLS", "data", "drive", "error", "http_session", "plan_file"]

TOOLS = {
    "plan", "start_run", "start_goal", "list_runs", "get_run", "watch_run", "task_log", "task_diff",
    "list_approvals", "approve", "reject", "pause_run", "resume_run", "cancel_run", "cancel_task", "retry_task", "say",
}  # fmt: skip


def plan_file(folder: Path) -> Path:
    plan = {
        "name": "mcp-plan",
        "defaults": {"runtime": "scripted"},
        "tasks": [
            {
                "id": "greet",
                "title": "Write a greeting",
                "options": {
                    "actions": [
                        {"say": "Writing the greeting."},
                        {"write": "hello.txt", "content": "hello from mcp\n"},
                    ]
                },
            }
        ],
    }
    path = folder / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


def data(result: CallToolResult) -> dict[str, Any]:
    assert not result.isError, result.content
    assert result.structuredContent is not None
    return result.structuredContent


def error(result: CallToolResult) -> str:
    assert result.isError
    (content,) = result.content
    assert isinstance(content, TextContent)
    return content.text


async def drive(session: ClientSession, plan_path: Path, repo: Path) -> str:
    """The same conversation over either transport: returns the run's id."""
    await session.initialize()
    listed = await session.list_tools()
    assert {t.name for t in listed.tools} == TOOLS
    dag = data(await session.call_tool("plan", {"path": str(plan_path), "repo": str(repo)}))
    assert [t["id"] for t in dag["tasks"]] == ["greet"]
    assert dag["critical_path"] == ["greet"]
    missing = await session.call_tool("plan", {"path": str(plan_path.parent / "nope.yaml"), "repo": str(repo)})
    assert "nope.yaml" in error(missing)
    started = data(await session.call_tool("start_run", {"path": str(plan_path), "repo": str(repo)}))
    run_id = str(started["id"])
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    watched = data(
        await session.call_tool("watch_run", {"run_id": run_id, "timeout_s": 120}, progress_callback=on_progress)
    )
    assert (watched["status"], watched["watch"]) == ("succeeded", "ended"), watched
    assert seen[-1] == 1
    assert [t["status"] for t in watched["tasks"]] == ["succeeded"]
    runs = data(await session.call_tool("list_runs", {}))
    assert run_id in [r["id"] for r in runs["runs"]]
    log = data(await session.call_tool("task_log", {"run_id": run_id, "task_id": "greet"}))
    assert "agent: Writing the greeting." in log["log"]
    diff = data(await session.call_tool("task_diff", {"run_id": run_id, "task_id": "greet"}))
    assert "+hello from mcp" in diff["diff"]
    nobody = await session.call_tool("say", {"run_id": run_id, "task_id": "nope", "message": "hello?"})
    assert "nope" in error(nobody)
    unknown = await session.call_tool("get_run", {"run_id": "r-nobody"})
    assert "r-nobody" in error(unknown)
    return run_id


@contextlib.asynccontextmanager
async def http_session(url: str, key: str) -> AsyncIterator[ClientSession]:
    """A client session over streamable HTTP, sending ``key`` as the bearer credential."""
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(60, read=300)) as client,
        streamable_http_client(url, http_client=client) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        yield session
