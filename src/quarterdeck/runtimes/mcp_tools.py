"""The api-agent's tools from external MCP servers (``[mcp.servers.<name>]``), through the official ``mcp`` SDK.

Each configured server is connected at the start of an attempt and closed at its end (also on cancel or
timeout). Its tools are offered to the model as ``mcp__<server>__<tool>`` (sanitised to what every provider
accepts), with the server's JSON schema; a call goes to the server with ``call_tool`` and its text content is
the tool result, a failure a tool error (never a crash of the loop).

A stdio server is a process the project starts, so it runs like every other step process: through the
attempt's sandbox (``sandbox.wrap``), in the task's worktree, with the step's clean environment, its whole
process tree ended with the attempt. It is launched here (not by the SDK's ``stdio_client``, which adds the
worker's own variables) and the SDK's ``ClientSession`` speaks over its stdin/stdout.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import subprocess
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
from anyio.abc import Process
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp import ClientSession, types
from mcp.shared.message import SessionMessage

from quarterdeck import sandbox
from quarterdeck.llm.messages import ToolSpec
from quarterdeck.runtimes import process
from quarterdeck.runtimes.tools import ToolOutcome
from quarterdeck.workspaces.mcp_config import McpServer

__all__ = ["PREFIX", "McpError", "McpTools", "tool_name"]

PREFIX = "mcp__"
#: the longest tool name every provider takes (OpenAI: 64; Anthropic: 128)
_MAX_NAME = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
#: how long connecting to a server (start, initialise, list its tools) may take
_CONNECT_S = 30.0


#: what the SDK's ``ClientSession`` reads from and writes to
_Streams = tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]


def tool_name(server: str, tool: str) -> str:
    """``mcp__<server>__<tool>``, with what a provider refuses in a tool name replaced by ``_``."""
    return _UNSAFE.sub("_", f"{PREFIX}{server}__{tool}")[:_MAX_NAME]


class McpTools:
    """The tools of the attempt's MCP servers; ``open`` connects them all for the block it guards."""

    def __init__(self) -> None:
        self._specs: list[ToolSpec] = []
        #: offered name → (session, the server's own tool name, timeout)
        self._routes: dict[str, tuple[ClientSession, str, float]] = {}

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, servers: Mapping[str, McpServer], *, workdir: Path, env: Mapping[str, str], grace_s: float = 5.0
    ) -> AsyncIterator[McpTools]:
        """Connect every server (in name order); an unreachable one fails the block with ``McpError``."""
        tools = cls()
        # Closed before anything propagates: the transports' task groups would wrap the block's exceptions.
        stack = contextlib.AsyncExitStack()
        failure: McpError | None = None
        for name in sorted(servers):
            server = servers[name]
            stderr: list[str] = []
            try:
                if server.command is not None:
                    streams = await stack.enter_async_context(
                        _stdio(server, workdir=workdir, env=env, grace_s=grace_s, stderr=stderr)
                    )
                else:
                    streams = await stack.enter_async_context(_http(server))
                session = await stack.enter_async_context(ClientSession(*streams))
                with anyio.fail_after(_CONNECT_S):
                    await session.initialize()
                    listed = await session.list_tools()
            except Exception as exc:  # the SDK raises many kinds: each is this server's failure
                await anyio.sleep(0.05)  # (a moment for the last of a dead server's stderr)
                said = "".join(stderr).strip()[-1000:]
                failure = McpError(
                    f"MCP server {name!r} ({_where(server)}): {_reason(exc)}" + (f"; it said: {said}" if said else "")
                )
                break
            for tool in listed.tools:
                tools._add(name, server, session, tool)
        try:
            if failure is not None:
                raise failure
            yield tools
        finally:
            await stack.aclose()  # (each stdio server's own ending is shielded from cancellation)

    def _add(self, server: str, config: McpServer, session: ClientSession, tool: types.Tool) -> None:
        name = tool_name(server, tool.name)
        if name in self._routes:
            return  # two tools that sanitise alike: the first one keeps the name
        self._routes[name] = (session, tool.name, config.timeout_s)
        schema = dict(tool.inputSchema) if tool.inputSchema else {"type": "object", "properties": {}}
        description = (tool.description or tool.name).strip()
        self._specs.append(ToolSpec(name=name, description=f"[MCP {server}] {description}", parameters=schema))

    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(self._specs)

    def owns(self, name: str) -> bool:
        return name in self._routes

    async def call(self, name: str, arguments: Mapping[str, Any] | str) -> ToolOutcome:
        """Forward one call; a server's error, a timeout or a lost connection is a tool error."""
        session, tool, timeout = self._routes[name]
        if isinstance(arguments, str):
            return ToolOutcome(f"the arguments of {name} are not a JSON object: {arguments[:200]!r}", is_error=True)
        try:
            result = await session.call_tool(tool, dict(arguments), read_timeout_seconds=timedelta(seconds=timeout))
        except Exception as exc:  # the connection, a timeout, a protocol error: the model hears of it
            return ToolOutcome(f"{name} failed: {_reason(exc)}", is_error=True)
        parts = [block.text for block in result.content if isinstance(block, types.TextContent)]
        others = len(result.content) - len(parts)
        if others:
            parts.append(f"[{others} non-text content block(s) not shown]")
        if not parts and result.structuredContent is not None:
            parts.append(str(result.structuredContent))
        return ToolOutcome("\n".join(parts) or "(no output)", is_error=result.isError)


class McpError(Exception):
    """A configured MCP server could not be connected."""


def _where(server: McpServer) -> str:
    return server.url or " ".join([server.command or "", *server.args]).strip()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        return _reason(exc.exceptions[0])
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


@contextlib.asynccontextmanager
async def _http(
    server: McpServer,
) -> AsyncIterator[_Streams]:
    from mcp.client.streamable_http import streamable_http_client

    assert server.url is not None
    timeout = httpx.Timeout(server.timeout_s, read=max(server.timeout_s, 300.0))
    async with (
        httpx.AsyncClient(headers=dict(server.headers), timeout=timeout, follow_redirects=True) as client,
        streamable_http_client(server.url, http_client=client) as (read, write, _),
    ):
        yield read, write


@contextlib.asynccontextmanager
async def _stdio(
    server: McpServer, *, workdir: Path, env: Mapping[str, str], grace_s: float, stderr: list[str]
) -> AsyncIterator[_Streams]:
    """Start the server confined like a step's process; its JSON-RPC lines as the SDK's streams."""
    assert server.command is not None
    argv = [server.command, *server.args]
    environ = {**env, **server.env}
    cwd = workdir
    confined = await sandbox.wrap(argv, environ, cwd)
    if confined is not None:
        argv, environ, cwd = confined.argv, confined.env, confined.cwd
    tag = secrets.token_hex(8)
    proc: Process | None = None
    try:
        proc = await anyio.open_process(
            argv,
            cwd=cwd,
            env={**environ, process.TAG_ENV: tag},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        read_in, read_out = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        write_in, write_out = anyio.create_memory_object_stream[SessionMessage](0)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_pump_out, proc, read_in)
            tg.start_soon(_pump_in, proc, write_out)
            tg.start_soon(_pump_err, proc, stderr)
            try:
                yield read_out, write_in
            finally:
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            if proc is not None:
                await process.kill_tree(proc.pid, tag, grace_s)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            if confined is not None:
                await confined.close(proc.returncode if proc is not None else None)


async def _pump_out(proc: Process, sink: MemoryObjectSendStream[SessionMessage | Exception]) -> None:
    """The server's stdout, a JSON-RPC message a line, into the session."""
    assert proc.stdout is not None
    buffer = b""
    async with sink:
        with contextlib.suppress(anyio.ClosedResourceError, anyio.EndOfStream, anyio.BrokenResourceError):
            async for chunk in proc.stdout:
                *lines, buffer = (buffer + chunk).split(b"\n")
                for line in lines:
                    if not line.strip():
                        continue
                    try:
                        message = types.JSONRPCMessage.model_validate_json(line)
                    except ValueError as exc:
                        await sink.send(exc)
                        continue
                    await sink.send(SessionMessage(message))


async def _pump_in(proc: Process, source: MemoryObjectReceiveStream[SessionMessage]) -> None:
    """The session's messages to the server's stdin, a line each."""
    assert proc.stdin is not None
    async with source:
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            async for message in source:
                line = message.message.model_dump_json(by_alias=True, exclude_none=True) + "\n"
                await proc.stdin.send(line.encode())


async def _pump_err(proc: Process, kept: list[str]) -> None:
    """The server's stderr: its last lines are kept for the error of a server that fails to connect."""
    assert proc.stderr is not None
    with contextlib.suppress(anyio.ClosedResourceError, anyio.EndOfStream, anyio.BrokenResourceError):
        async for chunk in proc.stderr:
            kept.append(chunk.decode(errors="replace"))
            while len(kept) > 1 and sum(map(len, kept)) > 4000:
                kept.pop(0)
