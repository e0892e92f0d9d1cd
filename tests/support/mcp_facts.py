"""A tiny external MCP server (FastMCP) for the api-agent's tests: ``lookup`` answers a fixed fact, ``explode``
raises. Run as a script: ``python mcp_facts.py`` (stdio) or ``python mcp_facts.py http PORT`` (streamable HTTP).

Tests copy it into the task's repository (a stdio server runs in the task's sandbox, which sees only the
worktree), as a project keeps its own MCP servers.
"""

from __future__ import annotations

import os
import sys

from mcp.server.fastmcp import FastMCP

FACT = "The Quarterdeck was the ship's command deck."

server = FastMCP("facts")


@server.tool()
def lookup(term: str) -> str:
    """Look a term up; answers a one-line fact."""
    return f"{term}: {FACT} (lang={os.environ.get('FACTS_LANG', '?')})"


@server.tool()
def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(f"exploded: {reason}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "http":
        server.settings.host = "127.0.0.1"
        server.settings.port = int(sys.argv[2])
        server.run("streamable-http")
    else:
        server.run("stdio")
