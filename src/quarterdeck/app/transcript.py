"""A task's events as a readable transcript: what the agent said and ran, what its checks printed, how it ended.

Shared by ``quarterdeck logs`` and the MCP server's ``task_log`` tool (one reading of the events for both)."""

from __future__ import annotations

from typing import Any

from quarterdeck.store.records import EventRecord

__all__ = ["TRANSCRIPT_EVENTS", "activity_line", "lines"]

#: the events a transcript shows (the others are bookkeeping: leases, readiness, costs)
TRANSCRIPT_EVENTS = (
    "task.claimed",
    "workspace.ready",
    "setup.result",
    "agent.session",
    "agent.message",
    "agent.tool",
    "agent.output",
    "agent.notice",
    "agent.retry",
    "agent.result",
    "result.empty",
    "commit.created",
    "verify.result",
    "revision.requested",
    "merge.done",
    "merge.conflict",
    "task.succeeded",
    "task.failed",
    "task.blocked",
    "task.cancelled",
    "task.requeued",
)


def activity_line(event_type: str, payload: dict[str, Any]) -> str | None:
    """What an agent event says about what the task is doing now, in a few words (None: nothing new)."""
    if event_type == "agent.tool":
        tool_input = payload.get("input")
        if isinstance(tool_input, list):
            detail = " ".join(str(part) for part in tool_input)
        elif isinstance(tool_input, dict):
            detail = str(tool_input.get("path") or tool_input.get("command") or tool_input.get("cmd") or "")
        else:
            detail = str(tool_input or "")
        return f"{payload.get('tool', 'tool')} {detail}".strip()
    if event_type == "verify.result":
        return f"verify: {payload.get('command')} → {payload.get('exit_code')}"
    if event_type in ("merge.done", "merge.conflict", "revision.requested", "commit.created"):
        return event_type.replace(".", " ")
    return None


def _indented(text: str, prefix: str = "    ") -> list[str]:
    return [prefix + line for line in text.rstrip("\n").splitlines()]


def lines(event: EventRecord) -> list[str]:
    """How one event reads in a transcript (empty: it says nothing worth a line)."""
    p: dict[str, Any] = event.payload
    kind = event.type
    if kind == "agent.message":
        return [
            f"agent: {line}" if i == 0 else f"       {line}"
            for i, line in enumerate(str(p.get("text", "")).splitlines())
        ]
    if kind == "agent.tool":
        return [f"$ {activity_line(kind, p)}"]
    if kind == "agent.output":
        return _indented(str(p.get("text", "")))
    if kind in ("verify.result", "setup.result"):
        what = "check" if kind == "verify.result" else "setup"
        head = f"{what}: {p.get('command')} → exit {p.get('exit_code')}"
        return [head, *_indented(str(p.get("output") or ""))]
    if kind == "agent.session":
        return [f"session {p.get('session_id')} ({p.get('model') or 'default model'})"]
    if kind == "agent.result":
        said = p.get("summary") if p.get("ok") else p.get("error")
        return [f"agent {'finished' if p.get('ok') else 'failed'}" + (f": {said}" if said else "")]
    if kind in ("agent.notice", "agent.retry"):
        return [f"{kind}: {p.get('text') or p.get('error') or ''}".rstrip(": ")]
    if kind == "task.failed":  # its first line: what it quotes of the output is printed above
        first = str(p.get("error") or "").strip().splitlines()
        return [f"task failed: {first[0]}" if first else "task failed"]
    if kind == "merge.conflict":
        return [f"merge conflict: {', '.join(map(str, p.get('paths') or []))}"]
    if kind == "commit.created":
        return [f"commit {str(p.get('sha') or p.get('commit') or '')[:12]}"]
    return [kind.replace(".", " ")]
