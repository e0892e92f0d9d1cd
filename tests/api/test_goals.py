"""Goals over HTTP: the crew's manager (a local Anthropic-format server) plans, the plan waits in the inbox."""

from __future__ import annotations

import json
from pathlib import Path

from tests.api.conftest import Api
from tests.api.test_auth import assert_error
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


async def test_a_goal_is_planned_and_waits_for_its_approval(api: Api, repo: Path) -> None:
    member = await api.user("acme", "member")
    with AnthropicServer(Script(Reply.text(json.dumps(PLAN)))) as manager:
        _crew(repo, manager.url)
        response = await api.client.post(
            "/api/v1/goals", json={"goal": "Say hi", "repo": str(repo), "budget_usd": 2}, headers=member
        )
        assert response.status_code == 201, response.text
        started = response.json()
        assert len(manager.model_requests()) == 1
    run, approval = started["run"], started["approval"]
    assert (run["status"], run["goal"], run["total_tasks"]) == ("paused", "Say hi", 1)
    assert (approval["kind"], approval["status"], approval["run_id"]) == ("plan", "pending", run["id"])

    inbox = (await api.client.get("/api/v1/approvals", params={"status": "pending"}, headers=member)).json()
    assert [a["id"] for a in inbox["items"]] == [approval["id"]]
    rejected = await api.client.post(
        f"/api/v1/approvals/{approval['id']}/reject", json={"reason": "not now"}, headers=member
    )
    assert rejected.status_code == 200, rejected.text
    detail = (await api.client.get(f"/api/v1/runs/{run['id']}", headers=member)).json()
    assert detail["status"] == "cancelled"
    audit = (await api.client.get(f"/api/v1/runs/{run['id']}/audit", headers=member)).json()
    assert "plan" in {entry["kind"] for entry in audit["items"]}


async def test_a_manager_without_a_valid_plan_is_a_422_naming_the_problem(api: Api, repo: Path) -> None:
    member = await api.user("acme", "member")
    viewer = await api.user("acme", "viewer")
    with AnthropicServer(Script(Reply.text("no plan"), Reply.text("still no plan"))) as manager:
        _crew(repo, manager.url)
        refused = await api.client.post("/api/v1/goals", json={"goal": "Say hi", "repo": str(repo)}, headers=member)
        forbidden = await api.client.post("/api/v1/goals", json={"goal": "x", "repo": str(repo)}, headers=viewer)
    assert_error(refused, 422, "goal_not_planned")
    assert "not valid" in refused.json()["error"]["message"]
    assert forbidden.status_code == 403
    runs = (await api.client.get("/api/v1/runs", headers=member)).json()
    assert runs["items"] == []  # nothing half-made
