"""Many requests at once on the embedded SQLite default: the reads share the pool's connections."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

from quarterdeck.api.settings import ApiSettings
from quarterdeck.settings import Settings
from tests.api.conftest import Api, running_app, shell_task


async def test_concurrent_reads_do_not_open_a_connection_each(
    tmp_path: Path, api_settings: ApiSettings, repo: Path
) -> None:
    async with running_app(Settings(state_dir=tmp_path / "state"), api_settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            api = Api(app, client)
            headers = await api.user("acme", "admin")
            run = await api.start_run(headers, repo, shell_task("one", "true"), shell_task("two", "true"))
            opened: list[Any] = []
            event.listen(api.services.db.engine.sync_engine, "connect", lambda *_: opened.append(1))
            paths = ["/api/v1/runs", f"/api/v1/runs/{run['id']}", f"/api/v1/runs/{run['id']}/tasks"]
            answers = await asyncio.gather(*(client.get(paths[i % 3], headers=headers) for i in range(96)))
    assert {a.status_code for a in answers} == {200}
    # Each read returns its connection before the next one starts; the pool's, opened before, suffice.
    assert len(opened) <= 1
