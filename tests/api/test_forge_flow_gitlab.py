"""The same loop on a local GitLab (python-gitlab against tests/support/forges/gitlab.py): an issue labelled →
a run → a draft merge request → a diff note → a revision pushed in the same session → a green pipeline → ready."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.api.conftest import Api
from tests.api.test_forge_flow import Reviewee, forge_api, until, wait
from tests.support.forges.gitlab import FakeGitLab
from tests.support.gitrepo import git, make_repo

__all__ = ["forge_api"]  # the fixture, shared with the GitHub flow

TOKEN = "glpat-" + "g" * 20
HOOK_TOKEN = "gl-hook-" + "h" * 20


def gitlab_repo(tmp_path: Path, url: str) -> tuple[Path, Path]:
    remote = tmp_path / "remote.git"
    remote.mkdir()
    git(remote, "init", "--quiet", "--bare")
    config = (
        '[remote]\nname = "origin"\n\n'
        f'[forge]\nkind = "gitlab"\nrepository = "acme/shop"\napi_url = "{url}"\n'
        'agent = "reviewee"\nwait_for_checks = true\n'
    )
    repo = make_repo(tmp_path / "repo", {".quarterdeck/config.toml": config, "README.md": "# shop\n"})
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "--quiet", "origin", "main")
    return repo, remote


async def send(
    api: Api, project_id: str, event: str, payload: dict[str, Any], token: str = HOOK_TOKEN
) -> httpx.Response:
    headers = {"X-Gitlab-Event": event, "X-Gitlab-Token": token, "X-Gitlab-Event-UUID": str(uuid.uuid4())}
    return await api.client.post(f"/api/v1/hooks/gitlab/{project_id}", content=json.dumps(payload), headers=headers)


ISSUE = {"iid": 5, "title": "Add the feature", "description": "Add feature.py.", "state": "opened"}


async def test_an_issue_becomes_a_revised_and_ready_merge_request(forge_api: Api, tmp_path: Path) -> None:
    api = forge_api
    with FakeGitLab(token=TOKEN, remote=tmp_path / "remote.git") as gitlab:
        repo, remote = gitlab_repo(tmp_path, gitlab.url)
        admin = await api.user("acme", "admin")
        project = await api.client.post(
            "/api/v1/projects", headers=admin, json={"name": "shop", "repo_path": str(repo)}
        )
        project_id = project.json()["id"]
        for name, value in (("GITLAB_TOKEN", TOKEN), ("GITLAB_WEBHOOK_SECRET", HOOK_TOKEN)):
            await api.client.put(f"/api/v1/secrets/{name}", headers=admin, json={"value": value, "kind": "other"})
        labelled = {
            "object_kind": "issue",
            "object_attributes": ISSUE,
            "labels": [{"title": "quarterdeck"}],
            "changes": {"labels": {"previous": [], "current": [{"title": "quarterdeck"}]}},
            "user": {"username": "ana"},
        }

        assert (await send(api, project_id, "Issue Hook", labelled, token="wrong")).status_code == 401
        started = await send(api, project_id, "Issue Hook", labelled)
        run_id = started.json()["run_id"]
        assert gitlab.notes[0]["issue"] == 5
        first = await api.wait_for_run(admin, run_id)
        assert first["status"] == "succeeded"
        branch = first["integration_branch"]
        mr = await until("the merge request is opened", lambda: wait(gitlab.merge_requests.get(1)))
        assert mr["source_branch"] == branch
        assert mr["title"] == "Draft: Quarterdeck: #5 Add the feature"

        note = {
            "object_kind": "note",
            "object_attributes": {
                "note": "Make 30 a named constant.",
                "noteable_type": "MergeRequest",
                "position": {"new_path": "feature.py", "new_line": 1},
            },
            "merge_request": {"iid": 1, "source_branch": branch},
            "user": {"username": "bo"},
        }
        revised = await send(api, project_id, "Note Hook", note)
        assert revised.json()["outcome"] == "revision gh-5: sent"
        assert (await api.wait_for_run(admin, run_id))["status"] == "succeeded"
        assert Reviewee.turns[1][0] == "session-7"
        assert "from bo on `feature.py` line 1" in Reviewee.turns[1][1]
        head = await until(
            "the revision is pushed",
            lambda: wait(
                git(remote, "show", f"{branch}:feature.py").startswith("TIMEOUT_S")
                and git(remote, "rev-parse", branch).strip()
            ),
        )

        gitlab.set_status(head, "success")
        pipeline = {"object_kind": "pipeline", "object_attributes": {"status": "success", "sha": head, "ref": branch}}
        ready = await send(api, project_id, "Pipeline Hook", pipeline)
        assert ready.json()["outcome"] == "ready"
        assert gitlab.merge_requests[1]["title"] == "Quarterdeck: #5 Add the feature"
