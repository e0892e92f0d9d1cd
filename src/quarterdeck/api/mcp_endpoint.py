"""The MCP server at ``/mcp`` under ``quarterdeck serve`` (streamable HTTP): the caller proves themselves as to the
API (``Authorization: Bearer qdk_…`` or an access token), then the tools of ``mcpserver/`` serve them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from mcp.server.fastmcp import Context
from mcp.server.fastmcp.exceptions import ToolError
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from quarterdeck.api import auth, repos
from quarterdeck.api.errors import ApiError, Unauthorized, error_response
from quarterdeck.mcpserver.caller import Caller
from quarterdeck.mcpserver.server import build_server

__all__ = ["McpEndpoint", "http_caller", "install"]

#: where the caller of an HTTP request is put by ``McpEndpoint`` (in the request's ``scope["state"]``)
_CALLER = "quarterdeck_caller"


async def http_caller(ctx: Context[Any, Any, Any]) -> Caller:
    """The caller ``McpEndpoint`` authenticated for this request."""
    request = ctx.request_context.request
    caller = request.scope.get("state", {}).get(_CALLER) if isinstance(request, Request) else None
    if not isinstance(caller, Caller):  # pragma: no cover - McpEndpoint sets it on every request
        raise ToolError("not authenticated")
    return caller


class McpEndpoint:
    """The ``/mcp`` route: authenticates the request as the API does, then hands it to the MCP server."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        svc = scope["app"].state.services
        connection = HTTPConnection(scope)
        try:
            if not connection.headers.get("authorization"):
                raise Unauthorized("the MCP endpoint needs 'Authorization: Bearer <API key or access token>'")
            principal = await auth.authenticate(svc, connection)
        except ApiError as exc:
            await error_response(exc.status, exc.code, exc.message, headers=exc.headers)(scope, receive, send)
            return

        async def repository(repo: str | None, project_id: str | None) -> Path | str:
            from quarterdeck.app import repository as app_repository

            return app_repository(await repos.run_repository(svc, principal.org_id, repo, project_id))

        def check_plan_path(path: str, repo: Path | str) -> None:
            repos.check_plan_path(svc, path, str(repo))

        caller = Caller(
            app=svc.quarterdeck,
            org_id=principal.org_id,
            actor=principal.actor,
            can_steer=principal.role.allows(auth.Role.MEMBER),
            keys=svc.keys,
            repository=repository,
            check_plan_path=check_plan_path,
        )
        scope.setdefault("state", {})[_CALLER] = caller
        await self.inner(scope, receive, send)


def install(app: Any) -> Callable[[], contextlib.AbstractAsyncContextManager[None]]:
    """Add the ``/mcp`` route to a FastAPI app; returns what the app's lifespan must run (the session manager)."""
    from starlette.routing import Route

    server = build_server(http_caller, http=True)
    inner = server.streamable_http_app()
    app.router.routes.append(Route("/mcp", endpoint=McpEndpoint(inner), methods=["GET", "POST", "DELETE"]))

    @contextlib.asynccontextmanager
    async def running() -> AsyncIterator[None]:
        # The session manager's task group must be left by the task that entered it: it gets a task of its own,
        # whichever tasks enter and leave the app's lifespan (a test's fixture may use two).
        started, stop = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with server.session_manager.run():
                started.set()
                await stop.wait()

        holder = asyncio.create_task(hold(), name="quarterdeck-mcp-sessions")
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({holder, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if holder.done():
            holder.result()  # it could not start: say why
        try:
            yield
        finally:
            stop.set()
            await holder

    return running
