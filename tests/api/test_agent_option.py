"""``POST /runs`` takes the same ``agent`` as ``quarterdeck run --agent``, with the same checks first."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import Api
from tests.api.test_auth import assert_error


async def test_story_tasks_run_with_the_agent_given_and_are_refused_without_one(
    api: Api, repo: Path, tmp_path: Path
) -> None:
    member = await api.user("acme", "member")
    stories = tmp_path / "stories"
    stories.mkdir()
    (stories / "todo.md").write_text("# Release\n\n- [ ] Build it\n- [ ] Ship it\n")

    refused = await api.client.post("/api/v1/runs", headers=member, json={"path": str(stories), "repo": str(repo)})
    error = assert_error(refused, 422, "invalid_plan")
    assert "no agent chosen" in error["message"]
    assert "--agent claude-code" in error["message"]
    assert (await api.client.get("/api/v1/runs", headers=member)).json()["items"] == []

    typo = await api.client.post(
        "/api/v1/runs", headers=member, json={"path": str(stories), "repo": str(repo), "agent": "claude"}
    )
    assert (
        "unknown runtime 'claude' (did you mean 'claude-code'?)" in assert_error(typo, 422, "invalid_plan")["message"]
    )
    unsafe = await api.client.post(
        "/api/v1/runs", headers=member, json={"path": str(stories), "repo": str(repo), "agent": "x; rm -rf /"}
    )
    assert unsafe.status_code in (400, 422)

    created = await api.client.post(
        "/api/v1/runs", headers=member, json={"path": str(stories), "repo": str(repo), "agent": "noop"}
    )
    assert created.status_code == 201, created.text
    detail = (await api.client.get(f"/api/v1/runs/{created.json()['id']}", headers=member)).json()
    assert {t["runtime"] for t in detail["tasks"]} == {"noop"}
