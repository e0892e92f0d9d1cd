"""Live events: Server-Sent Events at ``/events`` and a WebSocket at ``/stream``, resumable without gaps."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from quarterdeck.api import streams
from quarterdeck.api.auth import Principal, Viewer, authenticate
from quarterdeck.api.errors import ApiError, Forbidden
from quarterdeck.api.routes import v1_router
from quarterdeck.api.services import Services, Svc
from quarterdeck.app import EventRecord
from quarterdeck.app import events as event_log
from quarterdeck.errors import InputError, NotFound, QuarterdeckError

__all__ = ["KEEPALIVE_S", "router"]

router = v1_router("events")

#: an idle stream sends a comment (SSE) or a ping message (WebSocket) this often
KEEPALIVE_S = 15.0

RunFilter = Annotated[str | None, Query(max_length=32, description="Only this run's events.")]
TaskFilter = Annotated[str | None, Query(max_length=64, description="Only this task's events.")]
TypeFilter = Annotated[str | None, Query(max_length=1000, description="Comma-separated event types.")]
After = Annotated[
    int | Literal["latest"],
    Query(description="Start after this event id (history first, then live); `latest`: only what happens from now."),
]


async def _start(svc: Services, after: int | Literal["latest"], resume: int = 0) -> int:
    """The event id a stream starts after (``Last-Event-ID`` wins when it is further on)."""
    if after == "latest":
        after = await event_log.read_last_event_id(svc.db)
    elif after < 0:
        raise InputError("after must be an event id (0 or more) or 'latest'")
    return max(after, resume)


async def _sse(events: AsyncIterator[list[EventRecord]], request: Request, svc: Services) -> AsyncIterator[str]:
    yield "retry: 2000\n\n"
    frame = svc.frames.sse
    async for item in streams.with_keepalive(events, KEEPALIVE_S, until=svc.stopping):
        if isinstance(item, streams.Keepalive):
            if await request.is_disconnected():
                return
            yield ": keepalive\n\n"
            continue
        yield "".join([frame(event) for event in item])  # one write for whatever was ready


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"description": "An endless text/event-stream.", "content": {"text/event-stream": {}}}},
)
async def event_stream(
    request: Request,
    principal: Viewer,
    svc: Svc,
    run_id: RunFilter = None,
    task_id: TaskFilter = None,
    types: TypeFilter = None,
    after: After = 0,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
) -> StreamingResponse:
    """Events as Server-Sent Events: ``id:`` is the event id, ``event:`` its type, ``data:`` the event as JSON.

    A reconnecting EventSource sends ``Last-Event-ID``, and the stream resumes right after it.
    """
    resume = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    await streams.check_run(svc, principal, run_id)  # a foreign or unknown run is a 404, not an empty stream
    events = streams.follow(
        svc,
        principal,
        run_id=run_id,
        task_id=task_id,
        types=streams.parse_types(types),
        after_id=await _start(svc, after, resume),
    )
    return StreamingResponse(
        _sse(events, request, svc),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


_PING = json.dumps({"type": "ping"})


def _cross_site(websocket: WebSocket, svc: Services) -> bool:
    """A cookie-authenticated socket opened by a page of another site (cross-site WebSocket hijacking)."""
    origin = websocket.headers.get("origin")
    if not origin:
        return False
    if origin in svc.api.cors_origins:
        return False
    return urlsplit(origin).netloc != websocket.headers.get("host", "")


@router.websocket("/stream")
async def websocket_stream(
    websocket: WebSocket,
    svc: Svc,
    run_id: RunFilter = None,
    task_id: TaskFilter = None,
    types: TypeFilter = None,
    after: After = 0,
    batch: Annotated[
        bool, Query(description="Send what is ready at once as one JSON array per message, not one event each.")
    ] = False,
) -> None:
    """Events over a WebSocket, one JSON event per message (``{"type": "ping"}`` when idle).

    With ``batch=true`` each message is a JSON array of the events that were ready at once (a client
    that is behind catches up in a few messages instead of one per event); pings stay objects.

    Authenticates by ``Authorization: Bearer``, ``?access_token=``, or the session cookie (same origin only).
    Closes with 4401 (not authenticated), 4403 (not allowed) or 4404 (unknown run).
    """
    await websocket.accept()
    try:
        principal: Principal = await authenticate(svc, websocket, query_token=True)
        by_cookie = not websocket.headers.get("authorization") and not websocket.query_params.get("access_token")
        if by_cookie and _cross_site(websocket, svc):
            raise Forbidden("a cookie-authenticated stream must come from this site")
        await streams.check_run(svc, principal, run_id)
        after_id = await _start(svc, after)
    except QuarterdeckError as exc:
        code = 4404 if isinstance(exc, NotFound) else 4000 + (exc.status if isinstance(exc, ApiError) else 400)
        await websocket.close(code=code, reason=exc.message[:120])
        return

    events = streams.follow(
        svc,
        principal,
        run_id=run_id,
        task_id=task_id,
        types=streams.parse_types(types),
        after_id=after_id,
    )

    encode = svc.frames.json

    async def send() -> None:
        async for item in streams.with_keepalive(events, KEEPALIVE_S, until=svc.stopping):
            if isinstance(item, streams.Keepalive):
                await websocket.send_text(_PING)
            elif batch:
                await websocket.send_text("[" + ",".join([encode(event) for event in item]) + "]")
            else:
                for event in item:
                    await websocket.send_text(encode(event))

    async def receive() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    sender = asyncio.create_task(send())
    receiver = asyncio.create_task(receive())
    done, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await task
    for task in done:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            task.result()
    if svc.stopping.is_set():
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await websocket.close(code=1001, reason="the server is shutting down")
