"""End to end on a local GitHub: an issue labelled → a run → a pull request → a review comment → a revision
pushed in the same agent session → CI green → the pull request ready; webhooks signed for real."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from quarterdeck.api.app import create_app
from quarterdeck.api.settings import ApiSettings
from quarterdeck.runtimes.base import EventSink, RunResult, RuntimeOptions, TaskContext
from quarterdeck.runtimes.registry import default_registry
from quarterdeck.settings import Settings
from tests.api.conftest import Api
from tests.support.forges.github import FakeGitHub
from tests.support.gitrepo import git, make_repo

TOKEN = "ghp_" + "e" * 36
HOOK_SECRET = "whsec-" + "s" * 26


class Reviewee:
    """A test agent with a session: writes a literal first, and names it a constant when a review asks."""

    name: ClassVar[str] = "reviewee"
    Options: ClassVar[type[RuntimeOptions]] = RuntimeOptions
    spends: ClassVar[bool] = False
    #: (session resumed, the turn it was given) per invocation
    turns: ClassVar[list[tuple[str | None, str]]] = []

    async def run(self, task: TaskContext, events: EventSink) -> RunResult:
        turn = task.follow_up if task.follow_up is not None else task.prompt
        Reviewee.turns.append((task.resume_session_id, turn))
        if task.follow_up is not None and "constant" in task.follow_up:
            (task.workdir / "feature.py").write_text("TIMEOUT_S = 30\nvalue = TIMEOUT_S\n")
        else:
            (task.workdir / "feature.py").write_text("value = 30\n")
        return RunResult(ok=True, session_id="session-7")


@dataclass
class Hooks:
    api: Api
    project_id: str

    async def send(
        self, event: str, payload: dict[str, Any], *, delivery: str | None = None, secret: str = HOOK_SECRET
    ) -> httpx.Response:
        body = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-Hub-Signature-256": signature,
            "Content-Type": "application/json",
        }
        return await self.api.client.post(f"/api/v1/hooks/github/{self.project_id}", content=body, headers=headers)


async def until(what: str, check: Callable[[], Awaitable[Any]], *, within_s: float = 60) -> Any:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        found = await check()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {within_s} s: {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def forge_api(settings: Settings, api_settings: ApiSettings) -> AsyncIterator[Api]:
    registry = default_registry()
    registry.register(Reviewee)
    Reviewee.turns = []
    app = create_app(settings, api_settings=api_settings, registry=registry, worker_slots=1)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(app, client)


@pytest.fixture
async def idle_forge_api(settings: Settings, api_settings: ApiSettings) -> AsyncIterator[Api]:
    """The app without a worker: a run it starts stays unfinished."""
    registry = default_registry()
    registry.register(Reviewee)
    app = create_app(settings, api_settings=api_settings, registry=registry, worker_slots=0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(app, client)


async def test_an_issue_being_worked_on_starts_no_second_run(idle_forge_api: Api, tmp_path: Path) -> None:
    with FakeGitHub(token=TOKEN, remote=tmp_path / "remote.git") as github:
        repo, _ = forge_repo(tmp_path, github.api_url)
        _, hooks = await setup_project(idle_forge_api, repo)
        labelled = {"action": "labeled", "label": {"name": "quarterdeck"}, "issue": ISSUE}
        first = (await hooks.send("issues", labelled)).json()
        command = {
            "action": "created",
            "issue": ISSUE,
            "comment": {"body": "/quarterdeck run", "user": {"login": "bo"}},
        }

        second = (await hooks.send("issue_comment", command)).json()

        assert second == {
            "outcome": f"ignored: run {first['run_id']} is already working on #12",
            "run_id": first["run_id"],
            "duplicate": False,
        }
        assert len(github.comments) == 1  # only the first run's "started"


def forge_repo(tmp_path: Path, api_url: str) -> tuple[Path, Path]:
    remote = tmp_path / "remote.git"
    remote.mkdir()
    git(remote, "init", "--quiet", "--bare")
    config = (
        '[remote]\nname = "origin"\n\n'
        f'[forge]\nkind = "github"\nrepository = "acme/shop"\napi_url = "{api_url}"\n'
        'agent = "reviewee"\nwait_for_checks = true\ndashboard_url = "https://qd.example.com"\n'
    )
    repo = make_repo(tmp_path / "repo", {".quarterdeck/config.toml": config, "README.md": "# shop\n"})
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "--quiet", "origin", "main")
    return repo, remote


async def setup_project(api: Api, repo: Path) -> tuple[dict[str, str], Hooks]:
    admin = await api.user("acme", "admin")
    project = await api.client.post("/api/v1/projects", headers=admin, json={"name": "shop", "repo_path": str(repo)})
    assert project.status_code == 201, project.text
    for name, value in (("GITHUB_TOKEN", TOKEN), ("GITHUB_WEBHOOK_SECRET", HOOK_SECRET)):
        stored = await api.client.put(f"/api/v1/secrets/{name}", headers=admin, json={"value": value, "kind": "other"})
        assert stored.status_code in (200, 201), stored.text
    return admin, Hooks(api, project.json()["id"])


ISSUE = {
    "number": 12,
    "title": "Add the feature",
    "body": "Add feature.py.\n\n## Acceptance Criteria\n\n1. feature.py sets value\n",
    "labels": [{"name": "quarterdeck"}],
    "state": "open",
}


async def test_an_issue_becomes_a_reviewed_revised_and_ready_pull_request(forge_api: Api, tmp_path: Path) -> None:
    api = forge_api
    with FakeGitHub(token=TOKEN, remote=tmp_path / "remote.git") as github:
        repo, remote = forge_repo(tmp_path, github.api_url)
        admin, hooks = await setup_project(api, repo)

        # 1. the issue is labelled: a run starts, and the issue is told where it is
        started = await hooks.send("issues", {"action": "labeled", "label": {"name": "quarterdeck"}, "issue": ISSUE})
        assert started.status_code == 200, started.text
        run_id = started.json()["run_id"]
        assert started.json()["outcome"] == f"run {run_id}"
        assert github.comments[0]["issue"] == 12
        assert f"https://qd.example.com/runs/{run_id}" in github.comments[0]["body"]
        first = await api.wait_for_run(admin, run_id)
        assert first["status"] == "succeeded"

        # 2. its pull request is opened from the pushed integration branch, a draft until CI is green
        row = "| `gh-12` Add the feature | ✅ succeeded | $0.00 |"
        pull = await until(
            "the pull request is opened, then updated as the run ends",
            lambda: wait(1 in github.pulls and row in github.pulls[1]["body"] and github.pulls[1]),
        )
        branch = first["integration_branch"]
        assert pull["head"] == branch
        assert pull["draft"] is True
        assert "Closes #12" in pull["body"]
        outcome = await until(
            "the issue is told the outcome", lambda: wait([c for c in github.comments if "succeeded" in c["body"]])
        )
        assert github.url + "/acme/shop/pull/1" in outcome[0]["body"]

        # 3. a line comment: the task owning feature.py continues its session, and the revision is pushed
        commented = await hooks.send(
            "pull_request_review_comment",
            {
                "action": "created",
                "pull_request": {"number": 1, "head": {"ref": branch}},
                "comment": {
                    "path": "feature.py",
                    "line": 1,
                    "body": "Make 30 a named constant.",
                    "user": {"login": "ana"},
                },
            },
        )
        assert commented.json()["outcome"] == "revision gh-12: sent"
        second = await api.wait_for_run(admin, run_id)
        assert second["status"] == "succeeded"
        assert Reviewee.turns[1][0] == "session-7"
        assert "A review comment from ana on `feature.py` line 1:" in Reviewee.turns[1][1]
        assert "> Make 30 a named constant." in Reviewee.turns[1][1]
        head = await until(
            "the revision is pushed",
            lambda: wait(
                git(remote, "show", f"{branch}:feature.py").startswith("TIMEOUT_S")
                and git(remote, "rev-parse", branch).strip()
            ),
        )
        assert git(repo, "rev-parse", branch).strip() == head

        # 4. CI reports green on the new head: the pull request is marked ready
        github.set_status(head, "success")
        green = await hooks.send(
            "status", {"state": "success", "sha": head, "context": "ci", "branches": [{"name": branch}]}
        )
        assert green.json()["outcome"] == "ready"
        assert github.pulls[1]["draft"] is False
        detail = (await api.client.get(f"/api/v1/runs/{run_id}", headers=admin)).json()
        assert {(p["kind"], p["state"]) for p in detail["pull_requests"]} == {("pull", "ready"), ("issue", "done")}


async def test_deliveries_are_verified_and_handled_once(forge_api: Api, tmp_path: Path) -> None:
    api = forge_api
    with FakeGitHub(token=TOKEN, remote=tmp_path / "remote.git") as github:
        repo, _ = forge_repo(tmp_path, github.api_url)
        _, hooks = await setup_project(api, repo)
        payload = {
            "action": "created",
            "issue": ISSUE,
            "comment": {"body": "/quarterdeck plan", "user": {"login": "bo"}},
        }

        forged = await hooks.send("issue_comment", payload, secret="not-the-secret")
        assert forged.status_code == 401
        assert forged.json()["error"]["code"] == "unauthorized"
        planned = await hooks.send("issue_comment", payload, delivery="d-1")
        assert planned.json() == {"outcome": "planned", "run_id": None, "duplicate": False}
        assert "- `gh-12` Add the feature (reviewee)" in github.comments[-1]["body"]
        again = await hooks.send("issue_comment", payload, delivery="d-1")
        assert again.json()["duplicate"] is True
        replayed = await hooks.send("issue_comment", payload, delivery="d-2")  # the same signed body, another id
        assert replayed.json()["duplicate"] is True
        assert len(github.comments) == 1
        unknown = await hooks.send("ping", {"zen": "hi"}, delivery="d-3")
        assert unknown.json()["outcome"] == "ignored: ping"
        missing = await api.client.post("/api/v1/hooks/github/p_nope", content=b"{}")
        assert missing.status_code == 404


async def wait(value: Any) -> Any:
    return value
