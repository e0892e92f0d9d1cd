"""Goals over HTTP: the crew's manager (a local Anthropic-format server) plans, the plan waits in the inbox."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.api.conftest import Api
from tests.support.gitrepo import git
from tests.support.llm_servers import AnthropicServer, Reply, Script

MODEL = "claude-haiku-4-5"
PLAN = {
    "name": "hello",
    "tasks": [
        {
            "id": "hello",
            "title": "Write hello.txt",
            "prompt": "Write hello.txt saying hi.",
            "role": "docs",
            "acceptance_criteria": [{"text": "hello.txt says hi", "command": "grep -qx hi hello.txt"}],
            "verify": [],
        }
    ],
}


def _crew(repo: Path, manager_url: str) -> None:
    route = f'[{{provider = "anthropic", model = "{MODEL}", base_url = "{manager_url}"}}]'
    (repo / ".quarterdeck").mkdir(exist_ok=True)
    (repo / ".quarterdeck" / "crew.toml").write_text(
        f"[crew.manager]\nmodels = {route}\n[crew.reviewer]\nmodels = {route}\n"
        '[crew.roles.docs]\nruntime = "scripted"\noptions = {actions = [{write = "hello.txt", content = "hi\\n"}]}\n'
    )


async def _wait_for(api: Api, headers: dict[str, str], run_id: str, *statuses: str) -> dict[str, Any]:
    """Poll the run until its status is one of ``statuses`` (the app's worker drives it)."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        detail: dict[str, Any] = (await api.client.get(f"/api/v1/runs/{run_id}", headers=headers)).json()
        if detail["status"] in statuses:
            return detail
        assert asyncio.get_running_loop().time() < deadline, detail
        await asyncio.sleep(0.05)


async def test_a_goal_answers_at_once_then_its_plan_arrives_and_waits_for_approval(api: Api, repo: Path) -> None:
    member = await api.user("acme", "member")
    with AnthropicServer(Script(Reply.text(json.dumps(PLAN)))) as manager:
        _crew(repo, manager.url)
        response = await api.client.post(
            "/api/v1/goals", json={"goal": "Say hi", "repo": str(repo), "budget_usd": 2}, headers=member
        )
        assert response.status_code == 202, response.text
        run = response.json()["run"]
        assert (run["status"], run["goal"], run["total_tasks"]) == ("planning", "Say hi", 0)
        detail = await _wait_for(api, member, run["id"], "waiting", "failed")
        assert len(manager.model_requests()) == 1
    assert (detail["status"], detail["waiting_for"], detail["total_tasks"]) == ("waiting", "plan", 1)

    inbox = (await api.client.get("/api/v1/approvals", params={"status": "pending"}, headers=member)).json()
    (approval,) = inbox["items"]
    assert (approval["kind"], approval["run_id"], approval["requested_by"]) == ("plan", run["id"], "manager")
    (task,) = approval["payload"]["tasks"]  # the whole plan, as the approval page shows it
    assert (task["id"], task["role"], task["depends_on"]) == ("hello", "docs", [])
    assert task["criteria"] == ["hello.txt says hi (run: `grep -qx hi hello.txt`)"]
    types = [e.type for e in await api.services.quarterdeck.events(run["id"])]
    assert types.index("run.planning") < types.index("plan.proposed") < types.index("approval.requested")
    assert "run.waiting" in types
    assert "run.finished" not in types
    # the approver edits the plan before deciding: a broken edit is refused naming the problem, a good one kept
    edited = json.loads(json.dumps(approval["payload"]["plan_file"]))
    edited["tasks"][0]["title"] = "Write hello.txt (edited)"
    broken = json.loads(json.dumps(edited))
    broken["tasks"][0]["depends_on"] = ["hello"]
    refused = await api.client.put(
        f"/api/v1/approvals/{approval['id']}/plan", json={"plan": json.dumps(broken)}, headers=member
    )
    assert refused.status_code == 422, refused.text
    assert "depends on itself" in refused.text
    kept = await api.client.put(
        f"/api/v1/approvals/{approval['id']}/plan", json={"plan": json.dumps(edited)}, headers=member
    )
    assert kept.status_code == 200, kept.text
    assert [t["title"] for t in kept.json()["payload"]["tasks"]] == ["Write hello.txt (edited)"]
    assert kept.json()["payload"]["version"] == 2
    detail = (await api.client.get(f"/api/v1/runs/{run['id']}/tasks/hello", headers=member)).json()
    assert detail["title"] == "Write hello.txt (edited)"
    rejected = await api.client.post(
        f"/api/v1/approvals/{approval['id']}/reject", json={"reason": "not now"}, headers=member
    )
    assert rejected.status_code == 200, rejected.text
    detail = (await api.client.get(f"/api/v1/runs/{run['id']}", headers=member)).json()
    assert detail["status"] == "cancelled"
    audit = (await api.client.get(f"/api/v1/runs/{run['id']}/audit", headers=member)).json()
    assert "plan" in {entry["kind"] for entry in audit["items"]}


async def test_a_manager_without_a_valid_plan_fails_the_goal_naming_the_problem(api: Api, repo: Path) -> None:
    member = await api.user("acme", "member")
    viewer = await api.user("acme", "viewer")
    with AnthropicServer(Script(Reply.text("no plan"), Reply.text("still no plan"))) as manager:
        _crew(repo, manager.url)
        started = await api.client.post("/api/v1/goals", json={"goal": "Say hi", "repo": str(repo)}, headers=member)
        forbidden = await api.client.post("/api/v1/goals", json={"goal": "x", "repo": str(repo)}, headers=viewer)
        assert started.status_code == 202, started.text
        detail = await _wait_for(api, member, started.json()["run"]["id"], "failed", "waiting")
    assert forbidden.status_code == 403
    assert detail["status"] == "failed"
    assert "the manager's plan is not valid" in detail["error"]
    assert detail["total_tasks"] == 0


async def test_a_goal_without_a_crew_config_or_repository_is_refused_before_anything_is_made(
    api: Api, repo: Path, tmp_path: Path
) -> None:
    member = await api.user("acme", "member")
    (repo / ".quarterdeck").mkdir(exist_ok=True)
    (repo / ".quarterdeck" / "crew.toml").write_text("[crew.manager]\nmodels = 3\n")
    broken = await api.client.post("/api/v1/goals", json={"goal": "Say hi", "repo": str(repo)}, headers=member)
    empty = await api.client.post("/api/v1/goals", json={"goal": "   ", "repo": str(repo)}, headers=member)
    assert broken.status_code in (400, 422), broken.text
    assert empty.status_code in (400, 422), empty.text
    runs = (await api.client.get("/api/v1/runs", headers=member)).json()
    assert runs["items"] == []  # nothing half-made


async def test_a_goal_on_a_projects_url_is_planned_from_the_remote_and_a_raw_url_is_refused(
    api: Api, repo: Path, tmp_path: Path
) -> None:
    admin, member = await api.user("acme", "admin"), await api.user("acme", "member")
    with AnthropicServer(Script(Reply.text(json.dumps(PLAN)))) as manager:
        _crew(repo, manager.url)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "crew")
        bare = tmp_path / "remote.git"
        git(tmp_path, "clone", "--quiet", "--bare", str(repo), str(bare))
        url = f"file://{bare}"
        made = await api.client.post("/api/v1/projects", headers=admin, json={"name": "remote", "repo_path": url})
        assert made.status_code == 201, made.text
        # a raw URL from a member is no project of the organisation: refused, nothing made
        git(tmp_path, "clone", "--quiet", "--bare", str(repo), str(tmp_path / "other.git"))
        raw = await api.client.post(
            "/api/v1/goals", json={"goal": "Say hi", "repo": f"file://{tmp_path}/other.git"}, headers=member
        )
        assert raw.status_code == 403, raw.text
        for place in (bare, tmp_path / "other.git"):
            assert git(place, "for-each-ref", "--format=%(refname)", "refs/heads").split() == ["refs/heads/main"]
        # through the project: the run records the URL as given, its crew is read from the remote
        started = await api.client.post(
            "/api/v1/goals", json={"goal": "Say hi", "project_id": made.json()["id"]}, headers=member
        )
        assert started.status_code == 202, started.text
        run = started.json()["run"]
        assert run["repo_path"] == url
        detail = await _wait_for(api, member, run["id"], "waiting", "failed")
        assert detail["status"] == "waiting", detail
        assert len(manager.model_requests()) == 1
    assert git(bare, "rev-parse", run["integration_branch"]).strip() == git(bare, "rev-parse", "main").strip()
