"""``quarterdeck mcp``: the MCP server on stdin/stdout, for a user's own agent (Claude Code, Codex, Cursor)."""

from __future__ import annotations

import asyncio

import click

from quarterdeck.settings import Settings

__all__ = ["mcp"]


@click.command()
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=1,
    show_default=True,
    help="Worker slots in this process for the runs it starts (0: leave them to `quarterdeck worker` or `serve`).",
)
def mcp(workers: int) -> None:
    """Serve Quarterdeck's tools to an MCP client over stdio (plan, run, watch, logs, diffs, approvals, steering)."""
    from quarterdeck.mcpserver.server import serve_stdio

    asyncio.run(serve_stdio(Settings(), workers=workers))
