"""The API under test: the real app over ASGI (most tests) or a real uvicorn server on a free port (streams)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from quarterdeck.api.app import create_app
from quarterdeck.api.services import Services
from quarterdeck.api.settings import ApiSettings
from quarterdeck.app import accounts
from quarterdeck.settings import Settings

SECRET_KEY = "test-secret-key-" + "k" * 32
PASSWORD = "correct horse battery"


def plan_object(*tasks: dict[str, Any], name: str = "api-plan") -> dict[str, Any]:
    return {"name": name, "tasks": list(tasks)}


def shell_task(task_id: str, script: str, *, depends_on: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "id": task_id,
        "title": task_id.title(),
        "runtime": "shell",
        "options": {"script": script},
        "depends_on": list(depends_on),
    }


@dataclass
class Api:
    """The app, an HTTP client on it, and helpers to make signed-in users of any organisation."""

    app: FastAPI
    client: httpx.AsyncClient

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    async def user(self, org: str, role: str, *, email: str | None = None) -> dict[str, str]:
        """A new user of ``org`` with ``role``, signed in: the bearer headers."""
        email = email or f"{role}-{org}@example.com"
        await accounts.create_user(
            self.services.db,
            org_id=org,
            email=email,
            name=f"{role} of {org}",
            role=role,
            password=PASSWORD,
            create_org=True,
        )
        response = await self.client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code == 200, response.text
        self.client.cookies.clear()  # bearer only, unless a test wants the cookies
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def start_run(self, headers: dict[str, str], repo: Path, *tasks: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/runs", headers=headers, json={"plan": plan_object(*tasks), "repo": str(repo)}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def wait_for_run(self, headers: dict[str, str], run_id: str, *, within_s: float = 60) -> dict[str, Any]:
        """Poll the run until it ends (the app's worker runs it); fail with its detail on timeout."""
        deadline = asyncio.get_running_loop().time() + within_s
        while True:
            detail: dict[str, Any] = (await self.client.get(f"/api/v1/runs/{run_id}", headers=headers)).json()
            if detail["status"] in ("succeeded", "failed", "cancelled"):
                return detail
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"run {run_id} did not end in {within_s} s: {detail}")
            await asyncio.sleep(0.05)


@pytest.fixture
def api_settings(tmp_path: Path) -> ApiSettings:
    # The temporary directory is a root for raw repository paths (runs name a bare ``repo`` there);
    # tests/api/test_repositories.py checks the default, which allows none.
    roots = [tmp_path, Path(tempfile.gettempdir())]
    return ApiSettings(secret_key=SECRET_KEY, login_rate_limit=5, rate_limit_window_s=60, repo_roots=roots)


@contextlib.asynccontextmanager
async def running_app(
    settings: Settings, api_settings: ApiSettings, *, worker_slots: int = 0
) -> AsyncIterator[FastAPI]:
    app = create_app(settings, api_settings=api_settings, worker_slots=worker_slots)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def api(settings: Settings, api_settings: ApiSettings) -> AsyncIterator[Api]:
    """The app on both databases, with an in-process worker of two slots, over ASGI."""
    async with running_app(settings, api_settings, worker_slots=2) as app:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(app, client)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """A real uvicorn server in this event loop, for what ASGI transports cannot do (streaming, WebSocket)."""

    api: Api
    base_url: str

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://")


class QuietServer(uvicorn.Server):
    """uvicorn that leaves the signal handlers alone: pytest keeps its own."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` (its lifespan already running) on a free loopback port until the block ends."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = QuietServer(config)
    task = asyncio.create_task(server.serve())
    deadline = asyncio.get_running_loop().time() + 20
    while not server.started:
        if task.done():
            task.result()
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("uvicorn did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


@pytest.fixture
async def live(api: Api) -> AsyncIterator[LiveServer]:
    async with serving(api.app) as base_url:
        yield LiveServer(api, base_url)


class ThreadServer:
    """The app served by uvicorn in a thread with its own event loop, for synchronous clients (Schemathesis, bench)."""

    def __init__(self, settings: Settings, api_settings: ApiSettings, *, worker_slots: int = 0) -> None:
        import threading

        self.app = create_app(settings, api_settings=api_settings, worker_slots=worker_slots)
        self.port = free_port()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, lifespan="on", log_level="warning")
        self.server = QuietServer(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ThreadServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError("uvicorn did not start")
            self.thread.join(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)
