"""Talking to an agent through the API: a follow-up reopens a finished task, an edit is refused once it succeeded."""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import Api, shell_task


async def test_say_reopens_a_finished_task_and_edits_wait_for_a_retry(api: Api, repo: Path) -> None:
    member = await api.user("acme", "member")
    run = await api.start_run(member, repo, shell_task("alpha", "echo hi > hi.txt"))
    await api.wait_for_run(member, run["id"])
    task_url = f"/api/v1/runs/{run['id']}/tasks/alpha"
    refused = await api.client.patch(task_url, headers=member, json={"prompt": "again"})
    assert refused.status_code == 400
    assert "only a waiting, failed, conflicted or cancelled task can be edited" in refused.json()["error"]["message"]
    empty = await api.client.post(f"{task_url}/say", headers=member, json={"message": ""})
    assert empty.status_code == 422
    said = await api.client.post(f"{task_url}/say", headers=member, json={"message": "Write bye.txt too."})
    assert said.status_code == 201, said.text
    assert (said.json()["delivery"], said.json()["status"]) == ("revision", "ready")
    await api.wait_for_run(member, run["id"])
    trail = (await api.client.get(f"/api/v1/runs/{run['id']}/audit", headers=member)).json()
    entries = trail["items"] if isinstance(trail, dict) else trail
    assert any(e["summary"] == "Write bye.txt too." and e["task_id"] == "alpha" for e in entries), entries
