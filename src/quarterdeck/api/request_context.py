"""Each request's id (``X-Request-ID``), bound for its log records, and its span when tracing is on.

A caller's ``X-Request-ID`` is kept when it is a plain token (letters, digits, ``.-_:``, at most 64), else one
is made; the response says which. With tracing on, the request is a server span, a child of the caller's
``traceparent`` if it sent one, so a run submitted through the API is part of the caller's trace.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from quarterdeck.observability import context, tracing

__all__ = ["RequestContext"]

_TOKEN = re.compile(rb"[A-Za-z0-9._:\-]{1,64}")


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = traceparent = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value
            elif name == b"traceparent":
                traceparent = value
        request_id = given.decode() if given is not None and _TOKEN.fullmatch(given) else secrets.token_hex(8)
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        with context.bind(request_id=request_id):
            if not tracing.enabled():
                await self.app(scope, receive, send_with_id)
                return
            await self._traced(scope, receive, send_with_id, traceparent)

    async def _traced(self, scope: Scope, receive: Receive, send: Send, traceparent: bytes | None) -> None:
        method = scope.get("method", "WEBSOCKET")
        status: dict[str, Any] = {}

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        attributes = {"http.request.method": method, "url.path": scope["path"]}
        parent = traceparent.decode("latin-1") if traceparent is not None else None
        with tracing.span(method, attributes, parent=parent, server=True) as span:
            await self.app(scope, receive, send_status)
            if span is not None:
                route = getattr(scope.get("route"), "path", None)
                if route is not None:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                if "code" in status:
                    span.set_attribute("http.response.status_code", status["code"])
                    if status["code"] >= 500:
                        tracing.failed(span, f"HTTP {status['code']}")
