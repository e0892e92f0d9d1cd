"""``[mcp.servers.<name>]`` of ``.quarterdeck/config.toml``: external MCP servers whose tools the api-agent uses.

```toml
[mcp.servers.facts]                  # a stdio server: a process started in the task's sandbox
command = "python"
args = ["tools/facts_server.py"]
env = { FACTS_LANG = "en" }

[mcp.servers.docs]                   # a streamable HTTP server
url = "https://mcp.example.com/mcp"
headers = { X-Team = "core" }
```
"""

from __future__ import annotations

import re
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["McpConfig", "McpServer"]

#: server names become part of tool names (``mcp__<server>__<tool>``): kept to what every provider accepts
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class McpServer(BaseModel):
    """One external MCP server: ``command`` (+ ``args``, ``env``) for stdio, or ``url`` (+ ``headers``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: str | None = Field(default=None, min_length=1)
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    #: the longest a tool call of this server may take
    timeout_s: float = Field(default=60.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return url

    @model_validator(mode="after")
    def _one_transport(self) -> Self:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of `command` (a stdio server) or `url` (a streamable HTTP server)")
        if self.url is not None and (self.args or self.env):
            raise ValueError("`args` and `env` are for a stdio server (`command`), not a `url`")
        if self.command is not None and self.headers:
            raise ValueError("`headers` are for a streamable HTTP server (`url`), not a `command`")
        return self


class McpConfig(BaseModel):
    """The ``[mcp]`` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    servers: dict[str, McpServer] = Field(default_factory=dict)

    @field_validator("servers")
    @classmethod
    def _names(cls, servers: dict[str, McpServer]) -> dict[str, McpServer]:
        for name in servers:
            if not _NAME.match(name):
                raise ValueError(f"server name {name!r} must be 1-32 letters, digits, '_' or '-'")
        return servers
