"""One goal, three doors, one path: started from the CLI, planned and re-planned by the server's supervisor,
approved over HTTP and from the CLI — the CLI's exit code, the API's run state and the events agree at each step.
The manager and reviewer are local servers speaking the Anthropic wire format."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from quarterdeck.api.settings import ApiSettings
from quarterdeck.app import accounts
from quarterdeck.settings import Settings
from quarterdeck.store.database import Database
from tests.acceptance.test_goal_crash import _env
from tests.api.conftest import PASSWORD, SECRET_KEY, ThreadServer
from tests.integration.test_supervisor import ACCEPT, PLAN, REPLAN, SCRIPTED, _crew
from tests.support.gitrepo import make_repo
from tests.support.llm_servers import AnthropicServer, Reply, Script

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # a server, CLI processes and two model servers


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quarterdeck", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


async def _admin(url: str) -> None:
    db = Database(url)
    try:
        await accounts.create_user(
            db, org_id="default", email="ada@example.test", name="Ada", role="admin", password=PASSWORD
        )
    finally:
        await db.dispose()


def _until(client: httpx.Client, run_id: str, status: str, waiting_for: str | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while True:
        run: dict[str, Any] = client.get(f"/api/v1/runs/{run_id}").json()
        if run["status"] == status and run["waiting_for"] == waiting_for:
            pending = client.get("/api/v1/approvals", params={"run_id": run_id}).json()["items"]
            if status != "waiting" or pending:
                return run
        assert run["status"] != "failed", run
        assert time.monotonic() < deadline, run
        time.sleep(0.05)


def test_a_goal_from_the_cli_is_driven_by_the_server_and_approved_over_http_and_from_the_cli(
    database_url: str, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "# hello\n"})
    env = _env(database_url, tmp_path) | {"COLUMNS": "200"}
    settings = Settings(database_url=database_url, state_dir=tmp_path / "state", lease_s=2, poll_max_s=0.05)
    api_settings = ApiSettings(
        secret_key=SECRET_KEY, repo_roots=[tmp_path, Path(tempfile.gettempdir())], login_rate_limit=50
    )
    with (
        AnthropicServer(Script(Reply.text(json.dumps(PLAN)), Reply.text(json.dumps(REPLAN)))) as boss,
        AnthropicServer(Script(then=Reply.text(json.dumps(ACCEPT)))) as review,
        ThreadServer(settings, api_settings, worker_slots=2) as server,
    ):
        _crew(repo, boss.url, review.url, SCRIPTED)
        asyncio.run(_admin(database_url))
        login = httpx.post(
            f"{server.base_url}/api/v1/auth/login", json={"email": "ada@example.test", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
            # the CLI gives the goal and runs no worker of its own: the server's supervisor plans it
            started = _cli("goal", "Say hello", "--repo", str(repo), "--approve", "--workers", "0", env=env)
            assert started.returncode == 3, started.stdout + started.stderr  # waiting for a person, not failed
            assert "Write hello" in started.stdout  # the whole plan, as a table
            (run,) = client.get("/api/v1/runs").json()["items"]
            assert (run["status"], run["waiting_for"]) == ("waiting", "plan")

            (plan,) = client.get("/api/v1/approvals", params={"run_id": run["id"]}).json()["items"]
            decided = client.post(f"/api/v1/approvals/{plan['id']}/approve", json={"reason": "over HTTP"})
            assert decided.status_code == 200, decided.text

            # the task fails for good: the server re-plans, and the run waits — it never reads failed
            _until(client, run["id"], "waiting", "replan")
            listed = json.loads(_cli("approvals", "list", "--json", env=env).stdout)
            (replan,) = [a for a in listed if a["kind"] == "replan"]
            assert replan["payload"]["changes"][0]["task"] == "hello"
            approved = _cli("approvals", "approve", replan["id"], "--by", "cleo", env=env)
            assert approved.returncode == 0, approved.stderr

            done = _until(client, run["id"], "succeeded")
            assert done["counts"] == {"failed": 1, "succeeded": 1}
            (listed_run,) = json.loads(_cli("status", "--json", env=env).stdout)
            assert listed_run["status"] == "succeeded"  # the CLI and the API agree
            audit = client.get(f"/api/v1/runs/{run['id']}/audit").json()["items"]
    decisions = [
        (e["sender"], e["summary"]) for e in audit if e["kind"] == "decision" and "requested" not in e["summary"]
    ]
    assert decisions[1] == ("cleo", "replan approved")
    assert decisions[0][1] == "plan approved: over HTTP"
    assert len(boss.model_requests()) == 2
