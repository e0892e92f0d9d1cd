"""Benchmark: what the forge integration costs — a webhook delivery, and the pull request follower at rest.

Three measurements on SQLite (a fresh state directory, the real app over ASGI, no network):

- **delivery**: ``--deliveries`` signed GitHub ``ping`` deliveries through ``POST /api/v1/hooks/github/{project}``
  (project lookup, ``[forge]`` read, the webhook secret opened, HMAC checked, the delivery recorded under its id
  and its body's digest, parsed and answered), then as many redeliveries (answered ``duplicate``);
- **follower at rest**: ``PullRequestFollower.step()`` when no event is new (what ``serve`` pays every tick),
  and after ``--events`` events of other types were appended (one indexed read that skips them);
- **body**: ``pull_request_body`` for a run of ``--tasks`` tasks with three criteria each.

    .venv/bin/python bench/forges.py [--deliveries N] [--events N] [--tasks N]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from quarterdeck.api.app import create_app
from quarterdeck.api.settings import ApiSettings
from quarterdeck.app import accounts, vault
from quarterdeck.domain import forges as rules
from quarterdeck.domain import plans
from quarterdeck.domain.events import EventType
from quarterdeck.settings import Settings
from quarterdeck.store import events as event_store
from quarterdeck.store import projects as project_store
from quarterdeck.store import runs as run_store
from quarterdeck.store.types import utcnow

SECRET = "bench-webhook-secret"


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"median {statistics.median(samples) * 1000:6.2f} ms, p95 {p95 * 1000:6.2f} ms (n={len(samples)})"


def _repo(path: Path) -> Path:
    (path / ".quarterdeck").mkdir(parents=True)
    (path / ".quarterdeck" / "config.toml").write_text('[forge]\nkind = "github"\nrepository = "a/b"\n')
    subprocess.run(["git", "init", "--quiet", str(path)], check=True)
    return path


async def _deliveries(root: Path, count: int) -> tuple[list[float], list[float]]:
    repo = _repo(root / "repo")
    settings = Settings(database_url=f"sqlite+aiosqlite:///{root / 'qd.db'}", state_dir=root / "state")
    api = ApiSettings(secret_key="bench-" + "k" * 40, repo_roots=[root])
    app = create_app(settings, api_settings=api)
    async with app.router.lifespan_context(app):
        services = app.state.services
        await accounts.create_user(
            services.db, org_id="bench", email="a@b.c", name="A", role="admin", password="x" * 12, create_org=True
        )
        await vault.set_secret(
            services.db, services.keys, org_id="bench", name="GITHUB_WEBHOOK_SECRET", value=SECRET, kind="other"
        )
        async with services.db.transaction() as conn:
            project = await project_store.create_project(
                conn, org_id="bench", name="b", repo_path=str(repo), settings={}, now=utcnow()
            )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            first: list[float] = []
            again: list[float] = []
            for rounds, into in ((1, first), (2, again)):
                for i in range(count):
                    body = json.dumps({"zen": "bench", "hook_id": i}).encode()
                    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                    headers = {
                        "X-GitHub-Event": "ping",
                        "X-GitHub-Delivery": f"d-{i}",
                        "X-Hub-Signature-256": signature,
                    }
                    start = time.perf_counter()
                    response = await client.post(f"/api/v1/hooks/github/{project.id}", content=body, headers=headers)
                    into.append(time.perf_counter() - start)
                    assert response.status_code == 200, response.text
                    assert response.json()["duplicate"] is (rounds == 2)
    return first, again


async def _follower(root: Path, events: int) -> tuple[list[float], list[float]]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{root / 'follow.db'}", state_dir=root / "fstate")
    from quarterdeck.app import Quarterdeck

    async with Quarterdeck(settings) as app:
        follower = app.forge_follower()
        assert follower is not None
        idle: list[float] = []
        for _ in range(200):
            start = time.perf_counter()
            assert await follower.step() == 0
            idle.append(time.perf_counter() - start)
        async with app.db.transaction() as conn:
            plan = plans.Plan(name="bench", tasks=(plans.TaskSpec(id="t", title="T", runtime="noop"),))
            run = await run_store.create_run(
                conn, run_id="rbench", plan=plan, repo_path=str(root), base_ref="HEAD", integration_branch="i"
            )
            await event_store.create_events(
                conn, [event_store.NewEvent(run.id, EventType.AGENT_OUTPUT, {"text": "x"}) for _ in range(events)]
            )
        skipping: list[float] = []
        for _ in range(50):
            start = time.perf_counter()
            await follower.step()
            skipping.append(time.perf_counter() - start)
    return idle, skipping


def _body(tasks: int) -> list[float]:
    items = [
        rules.PullTask(f"t{i}", f"Task number {i}", "succeeded", 0.12, (("a", "met"), ("b", "not_met"), ("c", "")))
        for i in range(tasks)
    ]
    samples = []
    for _ in range(50):
        start = time.perf_counter()
        rules.pull_request_body(
            run_id="r1", run_name="n", run_status="running", spent_usd=1.0, tasks=items, dashboard_url="https://x"
        )
        samples.append(time.perf_counter() - start)
    return samples


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=300)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--tasks", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        first, again = await _deliveries(root, args.deliveries)
        print(f"webhook delivery, handled      {_ms(first)}")
        print(f"webhook delivery, duplicate    {_ms(again)}")
        idle, skipping = await _follower(root, args.events)
        print(f"follower step, nothing new     {_ms(idle)}")
        print(f"follower step, {args.events} others   {_ms(skipping)}")
    print(f"pull request body, {args.tasks} tasks {_ms(_body(args.tasks))}")


if __name__ == "__main__":
    asyncio.run(main())
