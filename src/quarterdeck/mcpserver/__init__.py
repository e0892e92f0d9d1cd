"""The MCP server: Quarterdeck's use cases as tools for a user's own agent (Claude Code, Codex, Cursor …),
over stdio (``quarterdeck mcp``) and streamable HTTP (``/mcp`` under ``quarterdeck serve``)."""

from __future__ import annotations
