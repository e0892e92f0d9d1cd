"""Live events over real HTTP: SSE and WebSocket deliver a run started through the API, resume without gaps."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import websockets

from tests.api.conftest import LiveServer, shell_task


async def _sse_events(response: httpx.Response, *, until: str) -> list[dict[str, Any]]:
    """Parse SSE frames until an event of type ``until``; each frame's id and event must match its data."""
    events: list[dict[str, Any]] = []
    frame: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "data" in frame:
                event = json.loads(frame["data"])
                assert frame["id"] == str(event["id"])
                assert frame["event"] == event["type"]
                events.append(event)
                if event["type"] == until:
                    return events
            frame = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            frame[key] = value
    raise AssertionError(f"the stream ended before {until}: {events}")


async def test_sse_delivers_a_run_and_resumes_after_last_event_id(live: LiveServer, repo: Path) -> None:
    api = live.api
    member = await api.user("acme", "member")
    rival = await api.user("rival", "member")
    async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as client:
        rival_stream = client.stream("GET", "/api/v1/events", headers=rival)
        async with rival_stream as rival_response:
            run = await api.start_run(member, repo, shell_task("one", "true"), shell_task("two", "true"))
            async with client.stream("GET", "/api/v1/events", params={"run_id": run["id"]}, headers=member) as sse:
                assert sse.headers["content-type"].startswith("text/event-stream")
                live_events = await asyncio.wait_for(_sse_events(sse, until="run.finished"), 60)
            # the rival's stream sees its own run only: start one and read up to its end
            theirs = await api.start_run(rival, repo, shell_task("x", "true"))
            rival_events = await asyncio.wait_for(_sse_events(rival_response, until="run.finished"), 60)
        assert {e["run_id"] for e in rival_events} == {theirs["id"]}

        ids = [e["id"] for e in live_events]
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)
        assert {"run.created", "task.succeeded", "run.finished"} <= {e["type"] for e in live_events}
        # Reconnect as an EventSource does: everything after the given id, nothing before, nothing twice.
        middle = live_events[len(live_events) // 2]
        headers = {**member, "Last-Event-ID": str(middle["id"])}
        async with client.stream("GET", "/api/v1/events", params={"run_id": run["id"]}, headers=headers) as resumed:
            rest = await asyncio.wait_for(_sse_events(resumed, until="run.finished"), 30)
        assert [e["id"] for e in rest] == [i for i in ids if i > middle["id"]]
        typed = await client.get("/api/v1/events", params={"run_id": "r-unknown"}, headers=member)
        assert typed.status_code == 404


async def test_websocket_delivers_a_run_with_filters_and_resume(live: LiveServer, repo: Path) -> None:
    api = live.api
    member = await api.user("acme", "member")
    token = member["Authorization"].removeprefix("Bearer ")
    run = await api.start_run(member, repo, shell_task("one", "true"), shell_task("two", "true", depends_on=("one",)))
    url = f"{live.ws_url}/api/v1/stream?run_id={run['id']}&access_token={token}"

    async def collect(socket: Any, until: str) -> list[dict[str, Any]]:
        got = []
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), 60))
            if message.get("type") == "ping":
                continue
            got.append(message)
            if message["type"] == until:
                return got

    async with websockets.connect(url) as socket:
        everything = await collect(socket, "run.finished")
    assert {e["run_id"] for e in everything} == {run["id"]}
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids)

    after = ids[1]
    typed_url = f"{url}&types=task.succeeded,run.finished&after={after}"
    async with websockets.connect(typed_url, additional_headers=member) as socket:
        filtered = await collect(socket, "run.finished")
    expected = [e["id"] for e in everything if e["id"] > after and e["type"] in ("task.succeeded", "run.finished")]
    assert [e["id"] for e in filtered] == expected

    async with websockets.connect(f"{live.ws_url}/api/v1/stream") as socket:
        await socket.wait_closed()
    assert socket.close_code == 4401


async def test_a_stream_after_latest_skips_the_history(live: LiveServer, repo: Path) -> None:
    api = live.api
    member = await api.user("acme", "member")
    async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as client:
        earlier = await api.start_run(member, repo, shell_task("old", "true"))
        async with client.stream("GET", "/api/v1/events", params={"run_id": earlier["id"]}, headers=member) as sse:
            await asyncio.wait_for(_sse_events(sse, until="run.finished"), 60)
        async with client.stream("GET", "/api/v1/events", params={"after": "latest"}, headers=member) as sse:
            later = await api.start_run(member, repo, shell_task("new", "true"))
            events = await asyncio.wait_for(_sse_events(sse, until="run.finished"), 60)
        assert {e["run_id"] for e in events} == {later["id"]}
        assert events[0]["type"] == "run.created"
        bad = await client.get("/api/v1/events", params={"after": "soon"}, headers=member)
        assert bad.status_code == 422
