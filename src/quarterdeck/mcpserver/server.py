"""The MCP server (official ``mcp`` SDK, FastMCP): the tools of ``tools.py`` registered once, served over stdio
for the user on this machine (``quarterdeck mcp``) or over streamable HTTP at ``/mcp`` under ``quarterdeck serve``
(``api/mcp_endpoint.py`` mounts it there: the caller proves themselves as to the API, ``Authorization: Bearer
qdk_…`` or an access token).
"""

from __future__ import annotations

import asyncio
import getpass
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.fastmcp import Context, FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings

from quarterdeck.errors import PlanError, QuarterdeckError
from quarterdeck.mcpserver import tools
from quarterdeck.mcpserver.caller import Caller, local_caller

__all__ = ["INSTRUCTIONS", "Resolve", "build_server", "serve_stdio"]

_log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Quarterdeck runs crews of coding agents on git repositories. Check a plan with `plan`, start it with "
    "`start_run` (or have a manager plan a goal with `start_goal`), follow it with `watch_run` / `get_run`, read "
    "a task's `task_log` and `task_diff`, decide `list_approvals` with `approve` / `reject`, and steer with "
    "`pause_run`, `resume_run`, `cancel_run`, `cancel_task` and `retry_task`; talk to a task's agent with `say`."
)

Resolve = Callable[[Context[Any, Any, Any]], Awaitable[Caller]]


async def _call(
    resolve: Resolve, ctx: Context[Any, Any, Any], operation: Callable[..., Awaitable[dict[str, Any]]], **kw: Any
) -> dict[str, Any]:
    """Run one operation for the context's caller; Quarterdeck's errors become tool errors with their message."""
    caller = await resolve(ctx)
    try:
        return await operation(caller, **kw)
    except PlanError as exc:
        raise ToolError("\n".join(str(p) for p in exc.problems) or exc.message) from None
    except QuarterdeckError as exc:
        raise ToolError(exc.message) from None


def build_server(resolve: Resolve, *, http: bool = False) -> FastMCP[Any]:
    """A FastMCP server with every tool; ``resolve`` says who calls (the local user, or an HTTP request's)."""
    server: FastMCP[Any] = FastMCP(
        "quarterdeck",
        instructions=INSTRUCTIONS,
        stateless_http=True,
        streamable_http_path="/mcp",
        # Bearer credentials only (no cookie reaches a tool): a rebinding page cannot borrow the browser's session.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False) if http else None,
    )

    @server.tool()
    async def plan(
        ctx: Context[Any, Any, Any],
        path: str,
        repo: str | None = None,
        agent: str | None = None,
        project_id: str | None = None,
    ) -> dict[str, Any]:
        """Check a plan file or a folder of stories as a run would (runtimes, agent CLIs, keys) and return its
        DAG: tasks, dependency levels, critical path. ``repo`` is the git repository it would run on."""
        return await _call(resolve, ctx, tools.plan, path=path, repo=repo, agent=agent, project_id=project_id)

    @server.tool()
    async def start_run(
        ctx: Context[Any, Any, Any],
        path: str,
        repo: str | None = None,
        agent: str | None = None,
        budget_usd: float | None = None,
        project_id: str | None = None,
    ) -> dict[str, Any]:
        """Start a run of a plan file or a story folder on ``repo``; ``agent`` does the tasks that name none."""
        return await _call(
            resolve,
            ctx,
            tools.start_run,
            path=path,
            repo=repo,
            agent=agent,
            budget_usd=budget_usd,
            project_id=project_id,
        )

    @server.tool()
    async def start_goal(
        ctx: Context[Any, Any, Any],
        goal: str,
        repo: str | None = None,
        approve: bool = True,
        budget_usd: float | None = None,
        project_id: str | None = None,
    ) -> dict[str, Any]:
        """Give a goal to the repository's crew: its manager plans it into a run, which waits for the plan's
        approval (see ``list_approvals``) unless ``approve`` is false."""
        return await _call(
            resolve,
            ctx,
            tools.start_goal,
            goal=goal,
            repo=repo,
            approve=approve,
            budget_usd=budget_usd,
            project_id=project_id,
        )

    @server.tool()
    async def list_runs(ctx: Context[Any, Any, Any], limit: int = 20, status: str | None = None) -> dict[str, Any]:
        """The organisation's newest runs (of one status, when given)."""
        return await _call(resolve, ctx, tools.list_runs, limit=limit, status=status)

    @server.tool()
    async def get_run(ctx: Context[Any, Any, Any], run_id: str) -> dict[str, Any]:
        """A run's status, spend and tasks (each failed task with the last line its checks or agent printed)."""
        return await _call(resolve, ctx, tools.read_run, run_id=run_id)

    @server.tool()
    async def watch_run(ctx: Context[Any, Any, Any], run_id: str, timeout_s: float = 300) -> dict[str, Any]:
        """Wait until the run ends or waits for a person (paused, out of budget, an approval), reporting
        progress as tasks end; after ``timeout_s`` it returns the run as it is (call it again to go on)."""

        async def progress(done: float, total: float, message: str) -> None:
            await ctx.report_progress(done, total, message)

        return await _call(resolve, ctx, tools.watch_run, run_id=run_id, timeout_s=timeout_s, progress=progress)

    @server.tool()
    async def task_log(ctx: Context[Any, Any, Any], run_id: str, task_id: str) -> dict[str, Any]:
        """A task's transcript: what its agent said and ran, what its checks printed, how it ended."""
        return await _call(resolve, ctx, tools.task_log, run_id=run_id, task_id=task_id)

    @server.tool()
    async def task_diff(ctx: Context[Any, Any, Any], run_id: str, task_id: str) -> dict[str, Any]:
        """A task's change as a unified diff (its landed commit, else its newest attempt's)."""
        return await _call(resolve, ctx, tools.task_diff, run_id=run_id, task_id=task_id)

    @server.tool()
    async def list_approvals(ctx: Context[Any, Any, Any], run_id: str | None = None) -> dict[str, Any]:
        """Human gates waiting for a decision: plans, re-plans, merges, budget raises."""
        return await _call(resolve, ctx, tools.list_approvals, run_id=run_id)

    @server.tool()
    async def approve(ctx: Context[Any, Any, Any], approval_id: str, reason: str | None = None) -> dict[str, Any]:
        """Approve a gate: a plan starts running, a re-plan applies, a merge lands, a budget rises."""
        return await _call(resolve, ctx, tools.approve, approval_id=approval_id, reason=reason)

    @server.tool()
    async def reject(ctx: Context[Any, Any, Any], approval_id: str, reason: str | None = None) -> dict[str, Any]:
        """Reject a gate: a plan's run is cancelled, a re-plan dropped, a merge failed, a budget left as it is."""
        return await _call(resolve, ctx, tools.reject, approval_id=approval_id, reason=reason)

    @server.tool()
    async def pause_run(ctx: Context[Any, Any, Any], run_id: str) -> dict[str, Any]:
        """Pause a run: running tasks finish, nothing new starts until ``resume_run``."""
        return await _call(resolve, ctx, tools.pause_run, run_id=run_id)

    @server.tool()
    async def resume_run(ctx: Context[Any, Any, Any], run_id: str) -> dict[str, Any]:
        """Resume a paused run."""
        return await _call(resolve, ctx, tools.resume_run, run_id=run_id)

    @server.tool()
    async def cancel_run(ctx: Context[Any, Any, Any], run_id: str) -> dict[str, Any]:
        """Cancel a run: unfinished tasks are cancelled, running agents stopped."""
        return await _call(resolve, ctx, tools.cancel_run, run_id=run_id)

    @server.tool()
    async def cancel_task(ctx: Context[Any, Any, Any], run_id: str, task_id: str) -> dict[str, Any]:
        """Cancel one task (its agent is stopped); the tasks that depend on it are blocked."""
        return await _call(resolve, ctx, tools.cancel_task, run_id=run_id, task_id=task_id)

    @server.tool()
    async def retry_task(ctx: Context[Any, Any, Any], run_id: str, task_id: str) -> dict[str, Any]:
        """Give a failed, conflicted or cancelled task fresh attempts (its dependants wait again)."""
        return await _call(resolve, ctx, tools.retry_task, run_id=run_id, task_id=task_id)

    @server.tool()
    async def say(ctx: Context[Any, Any, Any], run_id: str, task_id: str, message: str) -> dict[str, Any]:
        """Send a task's agent a follow-up message, as a new turn of its session: after its current turn if it
        runs, as a revision if it succeeded, with its retry if it failed (it is re-queued)."""
        return await _call(resolve, ctx, tools.say, run_id=run_id, task_id=task_id, message=message)

    return server


# --- stdio: the user on this machine -----------------------------------------------------------------------


async def serve_stdio(settings: Any, *, workers: int) -> None:
    """``quarterdeck mcp``: serve the tools on stdin/stdout; with ``workers``, also run the work it starts."""
    from quarterdeck.app import Quarterdeck
    from quarterdeck.security.keyring import KeySettings

    keys = KeySettings().keyring(settings.state_dir)
    async with Quarterdeck(settings) as app:
        try:
            actor = f"mcp:{getpass.getuser()}"
        except (KeyError, OSError):
            actor = "mcp"
        caller = local_caller(app, actor=actor, keys=keys)

        async def resolve(ctx: Context[Any, Any, Any]) -> Caller:
            return caller

        server = build_server(resolve)
        worker = app.worker(slots=workers) if workers else None
        serving = asyncio.create_task(worker.serve()) if worker is not None else None
        try:
            await server.run_stdio_async()
        finally:
            if worker is not None and serving is not None:
                worker.should_exit = True
                worker.wake()
                await serving
