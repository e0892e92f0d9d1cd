"""A run's pull request on a local GitHub (PyGithub against tests/support/forges/github.py): opened once
its branch is pushed, its body rewritten from the run, marked ready when the run succeeded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from quarterdeck.app import Quarterdeck, vault
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.errors import ForgeError, InputError
from quarterdeck.forges import config as forge_config
from quarterdeck.forges import pulls
from quarterdeck.forges.github import GitHubForge
from quarterdeck.forges.tokens import ForgeSecrets
from quarterdeck.security.keyring import KeySettings
from quarterdeck.store import forges as forge_store
from tests.support.forges.github import FakeGitHub
from tests.support.gitrepo import git, make_repo

TOKEN = "ghp_" + "t" * 36


def forge_repo(tmp_path: Path, github_api: str, extra: str = "", remote_extra: str = "") -> tuple[Path, Path]:
    remote = tmp_path / "remote.git"
    remote.mkdir()
    git(remote, "init", "--quiet", "--bare")
    config = (
        f'[remote]\nname = "origin"\n{remote_extra}\n'
        f'[forge]\nkind = "github"\nrepository = "acme/shop"\napi_url = "{github_api}"\n'
        f'dashboard_url = "https://qd.example.com"\n{extra}'
    )
    repo = make_repo(tmp_path / "repo", {".quarterdeck/config.toml": config, "README.md": "# shop\n"})
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "--quiet", "origin", "main")
    return repo, remote


def two_tasks() -> plans.Plan:
    return plans.Plan(
        name="shop",
        tasks=(
            plans.TaskSpec(
                id="a",
                title="Add a",
                runtime="shell",
                options={"script": "echo a > a.txt"},
                acceptance_criteria=(plans.Criterion(id="ac-1", text="a.txt exists"),),
            ),
            plans.TaskSpec(
                id="b", title="Add b", runtime="shell", options={"script": "echo b > b.txt"}, depends_on=("a",)
            ),
        ),
    )


async def sync(app: Quarterdeck, secrets: ForgeSecrets, run_id: str) -> pulls.Synced:
    return await pulls.sync_run(app.db, secrets, run_id, cache_root=app.settings.resolved_repo_cache())


async def secrets_with_token(app: Quarterdeck) -> ForgeSecrets:
    keys = KeySettings().keyring(app.settings.state_dir)
    await vault.set_secret(app.db, keys, org_id="default", name="GITHUB_TOKEN", value=TOKEN, kind="other")
    return ForgeSecrets(app.db, keys)


async def test_a_run_opens_its_pull_request_and_marks_it_ready(app: Quarterdeck, tmp_path: Path) -> None:
    with FakeGitHub(token=TOKEN, remote=tmp_path / "remote.git") as github:
        repo, _ = forge_repo(tmp_path, github.api_url)
        secrets = await secrets_with_token(app)
        record = await app.submit(two_tasks(), repo=repo)
        assert await sync(app, secrets, record.id) == pulls.Synced()  # nothing pushed yet
        view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
        assert view.run.status is RunStatus.SUCCEEDED

        synced = await sync(app, secrets, record.id)

        assert synced.opened == (f"{github.url}/acme/shop/pull/1",)
        assert synced.ready == ()  # opened as a ready pull request: the run had succeeded already
        pull = github.pulls[1]
        assert pull["head"] == view.run.integration_branch
        assert pull["base"] == "main"
        assert pull["draft"] is False
        assert "| `a` Add a | ✅ succeeded | $0.00 |" in pull["body"]
        assert "- [ ] a.txt exists" in pull["body"]
        assert f"https://qd.example.com/runs/{record.id}" in pull["body"]
        again = await sync(app, secrets, record.id)
        assert again.opened == ()
        assert again.updated == (f"{github.url}/acme/shop/pull/1",)
        assert len(github.pulls) == 1
        assert [e.type for e in await app.events(record.id, types=["forge.pull_opened"])] == ["forge.pull_opened"]


async def test_a_draft_waits_for_green_checks_before_it_is_marked_ready(app: Quarterdeck, tmp_path: Path) -> None:
    with FakeGitHub(token=TOKEN, remote=tmp_path / "remote.git") as github:
        repo, _ = forge_repo(tmp_path, github.api_url, "wait_for_checks = true\n")
        secrets = await secrets_with_token(app)
        record = await app.submit(plans.Plan(name="one", tasks=(two_tasks().tasks[0],)), repo=repo)
        view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)

        opened = await sync(app, secrets, record.id)
        assert opened.opened
        assert github.pulls[1]["draft"] is True  # succeeded, but no check reported yet
        head = git(repo, "rev-parse", view.run.integration_branch).strip()
        github.set_status(head, "pending")
        assert (await sync(app, secrets, record.id)).ready == ()
        github.set_status(head, "success")
        assert github.statuses[head][0]["state"] == "pending"
        github.statuses[head] = [{"state": "success", "context": "ci", "id": 1}]

        ready = await sync(app, secrets, record.id)

        assert ready.ready == (f"{github.url}/acme/shop/pull/1",)
        assert github.pulls[1]["draft"] is False
        assert ("POST", "/api/graphql") in github.requests


async def test_per_task_pull_requests_come_from_the_task_branches(app: Quarterdeck, tmp_path: Path) -> None:
    with FakeGitHub(token=TOKEN, remote=tmp_path / "remote.git") as github:
        repo, _ = forge_repo(tmp_path, github.api_url, 'pull_requests = "task"\n', "task_branches = true\n")
        secrets = await secrets_with_token(app)
        record = await app.submit(two_tasks(), repo=repo)
        await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)

        synced = await sync(app, secrets, record.id)

        assert len(synced.opened) == 2
        heads = {p["head"]: p for p in github.pulls.values()}
        assert set(heads) == {f"qd/{record.id}/a", f"qd/{record.id}/b"}
        assert heads[f"qd/{record.id}/a"]["title"] == "Quarterdeck: Add a"
        assert "`b`" not in heads[f"qd/{record.id}/a"]["body"]
        assert all(p["draft"] is False for p in heads.values())
        async with app.db.read() as conn:
            links = await forge_store.read_links(conn, record.id)
        assert sorted(link.task_id for link in links) == ["a", "b"]


async def test_a_run_of_a_repository_named_by_url_gets_its_pull_request(app: Quarterdeck, tmp_path: Path) -> None:
    """Landing pushes (compare-and-swap) to the remote: its branch is there without a ``push.done``."""
    remote = tmp_path / "remote.git"
    with FakeGitHub(token=TOKEN, remote=remote) as github:
        config = f'[forge]\nkind = "github"\nrepository = "acme/shop"\napi_url = "{github.api_url}"\n'
        source = make_repo(tmp_path / "source", {".quarterdeck/config.toml": config, "README.md": "# shop\n"})
        git(tmp_path, "clone", "--quiet", "--bare", str(source), str(remote))
        secrets = await secrets_with_token(app)
        record = await app.submit(two_tasks(), repo=f"file://{remote}", base="main")
        view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
        assert view.run.status is RunStatus.SUCCEEDED

        synced = await sync(app, secrets, record.id)

        assert synced.opened == (f"{github.url}/acme/shop/pull/1",)
        assert github.pulls[1]["head"] == view.run.integration_branch
        assert github.pulls[1]["base"] == "main"


async def test_the_follower_opens_it_from_the_event_log_a_tick_behind(app: Quarterdeck, tmp_path: Path) -> None:
    with FakeGitHub(token=TOKEN, remote=tmp_path / "remote.git") as github:
        repo, _ = forge_repo(tmp_path, github.api_url)
        follower = app.forge_follower(repo=repo, keys=KeySettings())
        assert follower is not None
        plain = make_repo(tmp_path / "plain")
        assert app.forge_follower(repo=plain) is None  # no [forge]: nothing to follow
        other = await app.submit(plans.Plan(name="plain", tasks=(two_tasks().tasks[0],)), repo=plain)
        assert (await sync(app, await secrets_with_token(app), other.id)).forge is False
        following = asyncio.create_task(follower.serve())
        record = await app.submit(two_tasks(), repo=repo)
        await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
        deadline = asyncio.get_running_loop().time() + 30
        while not (github.pulls and "**succeeded**" in github.pulls[1]["body"]):
            assert asyncio.get_running_loop().time() < deadline, github.pulls
            await asyncio.sleep(0.05)
        follower.should_exit = True
        follower.wake()
        await following
        assert len(github.pulls) == 1
        assert await follower.step() == 0  # nothing new: the cursor moved past every event


def test_the_forge_table_is_checked_and_named(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {".quarterdeck/config.toml": '[forge]\nkind = "bitbucket"\nrepository = "a/b"\n'})
    with pytest.raises(InputError, match=r"config.toml: forge.kind"):
        forge_config.load_forge_config(repo)


async def test_a_bad_token_is_a_forge_error_with_githubs_status(tmp_path: Path) -> None:
    with FakeGitHub(token=TOKEN, remote=tmp_path) as github:
        forge = GitHubForge(api_url=github.api_url, repository="acme/shop", token="wrong")
        with pytest.raises(ForgeError, match="401 Bad credentials") as caught:
            await forge.find_pull_request("main")
        assert caught.value.status == 401
