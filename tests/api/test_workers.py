"""``/api/v1/workers``: the fleet, for admins only (it names the server's hosts)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.api.conftest import Api, shell_task
from tests.api.test_auth import assert_error


async def test_admins_see_the_fleet_others_are_refused(api: Api) -> None:
    admin, member = await api.user("acme", "admin"), await api.user("acme", "member")
    assert_error(await api.client.get("/api/v1/workers"), 401, "unauthorized")
    assert_error(await api.client.get("/api/v1/workers", headers=member), 403, "forbidden")
    deadline = time.monotonic() + 60
    while True:  # the app's in-process worker registers as it starts serving
        listed = await api.client.get("/api/v1/workers", headers=admin)
        assert listed.status_code == 200, listed.text
        if listed.json()["items"]:
            break
        assert time.monotonic() < deadline, "the in-process worker never registered"
        await asyncio.sleep(0.05)
    (worker,) = listed.json()["items"]
    assert worker["live"] is True
    assert worker["slots"] == 2
    assert "noop" in worker["runtimes"]
    assert worker["unreachable"] == []


async def test_the_queue_says_why_a_ready_task_no_live_worker_can_take_waits(api: Api, repo: Path) -> None:
    admin, member = await api.user("acme", "admin"), await api.user("acme", "member")
    needy = {**shell_task("needy", "true"), "requires": ["tpu"]}
    run = await api.start_run(member, repo, needy, shell_task("easy", "true"))
    deadline = time.monotonic() + 60
    while True:  # the in-process worker registers, and takes the task it can
        workers = (await api.client.get("/api/v1/workers", headers=admin)).json()["items"]
        queue = (await api.client.get("/api/v1/queue", headers=member)).json()
        ready = {t["id"]: t for t in queue["ready"] if t["run_id"] == run["id"]}
        if workers and set(ready) == {"needy"}:
            break
        assert time.monotonic() < deadline, (workers, queue)
        await asyncio.sleep(0.05)
    assert ready["needy"]["waits"].startswith("requires tpu: no live worker offers all of it")
