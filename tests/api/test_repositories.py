"""Repositories belong to organisations.

The defect as found: a member of organisation A started a run with ``"repo": "<organisation B's
project>"`` and its task read B's files. Now a run or goal targets a project of the caller's
organisation; a raw server path only under the server's ``QUARTERDECK_REPO_ROOTS`` (none by default)
and never another organisation's project; projects cannot point into the state directory or at
another organisation's project.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from quarterdeck.api.settings import ApiSettings
from quarterdeck.settings import Settings
from tests.api.conftest import SECRET_KEY, Api, plan_object, running_app, shell_task
from tests.api.test_auth import assert_error
from tests.support.gitrepo import git, make_repo


@contextlib.asynccontextmanager
async def _api(settings: Settings, **options: object) -> AsyncIterator[Api]:
    api_settings = ApiSettings(secret_key=SECRET_KEY, **options)  # type: ignore[arg-type]
    async with running_app(settings, api_settings) as app:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Api(app, client)


async def _project(api: Api, admin: dict[str, str], name: str, repo: Path) -> str:
    made = await api.client.post("/api/v1/projects", headers=admin, json={"name": name, "repo_path": str(repo)})
    assert made.status_code == 201, made.text
    project_id: str = made.json()["id"]
    return project_id


def _run(**fields: object) -> dict[str, object]:
    return {"plan": plan_object(shell_task("read", "cat README.md")), **fields}


async def test_by_default_a_run_targets_only_its_organisations_projects(settings: Settings, tmp_path: Path) -> None:
    ours_repo = make_repo(tmp_path / "ours", {"README.md": "ours\n"})
    theirs_repo = make_repo(tmp_path / "theirs", {"README.md": "theirs\n"})
    loose_repo = make_repo(tmp_path / "loose", {"README.md": "nobody's\n"})
    async with _api(settings) as api:
        assert api.services.api.repo_roots == []
        ours_admin, theirs_admin = await api.user("acme", "admin"), await api.user("rival", "admin")
        member = await api.user("acme", "member")
        ours = await _project(api, ours_admin, "ours", ours_repo)
        await _project(api, theirs_admin, "theirs", theirs_repo)
        post = api.client.post
        # the defect: another organisation's repository
        assert_error(await post("/api/v1/runs", headers=member, json=_run(repo=str(theirs_repo))), 403, "forbidden")
        assert_error(
            await post("/api/v1/runs", headers=member, json=_run(repo=str(theirs_repo), project_id=ours)),
            403,
            "forbidden",
        )
        # a raw path of the server, even of nobody's repository
        assert_error(await post("/api/v1/runs", headers=member, json=_run(repo=str(loose_repo))), 403, "forbidden")
        assert_error(await post("/api/v1/runs", headers=ours_admin, json=_run(repo=str(loose_repo))), 403, "forbidden")
        goal = {"goal": "read their files", "repo": str(theirs_repo)}
        assert_error(await post("/api/v1/goals", headers=member, json=goal), 403, "forbidden")
        # a plan path outside the run's repository
        plan_path = theirs_repo / "README.md"
        outside = {"path": str(plan_path), "project_id": ours}
        assert_error(await post("/api/v1/runs", headers=member, json=outside), 403, "forbidden")
        # its own projects, by id or by path
        by_id = await post("/api/v1/runs", headers=member, json=_run(project_id=ours))
        assert by_id.status_code == 201, by_id.text
        by_path = await post("/api/v1/runs", headers=member, json=_run(repo=str(ours_repo / ".." / "ours")))
        assert by_path.status_code == 201, by_path.text
        assert by_path.json()["repo_path"] == str(ours_repo.resolve())


async def test_projects_cannot_point_into_the_state_dir_or_at_another_organisations(
    settings: Settings, tmp_path: Path
) -> None:
    theirs_repo = make_repo(tmp_path / "group" / "theirs", {"README.md": "theirs\n"})
    async with _api(settings) as api:
        ours_admin, theirs_admin = await api.user("acme", "admin"), await api.user("rival", "admin")
        await _project(api, theirs_admin, "theirs", theirs_repo)
        ours = await _project(api, ours_admin, "ours", make_repo(tmp_path / "ours", {"a": "1\n"}))
        post = api.client.post
        for path in (
            settings.state_dir,
            settings.state_dir / "sub",
            settings.resolved_worktree_root(),
            theirs_repo,
            theirs_repo / "src",
            tmp_path / "group",  # around it
        ):
            made = await post("/api/v1/projects", headers=ours_admin, json={"name": "x", "repo_path": str(path)})
            assert_error(made, 403, "forbidden")
        moved = await api.client.patch(
            f"/api/v1/projects/{ours}", headers=ours_admin, json={"repo_path": str(theirs_repo)}
        )
        assert_error(moved, 403, "forbidden")
        link = tmp_path / "link"
        link.symlink_to(theirs_repo)
        made = await post("/api/v1/projects", headers=ours_admin, json={"name": "x", "repo_path": str(link)})
        assert_error(made, 403, "forbidden")


async def test_raw_paths_only_under_the_servers_roots_and_never_another_organisations(
    settings: Settings, tmp_path: Path
) -> None:
    theirs_repo = make_repo(tmp_path / "theirs", {"README.md": "theirs\n"})
    loose_repo = make_repo(tmp_path / "loose", {"README.md": "nobody's\n"})
    elsewhere = make_repo(tmp_path.parent / f"{tmp_path.name}-elsewhere", {"README.md": "x\n"})
    async with _api(settings, repo_roots=[tmp_path]) as api:
        theirs_admin, member = await api.user("rival", "admin"), await api.user("acme", "member")
        await _project(api, theirs_admin, "theirs", theirs_repo)
        post = api.client.post
        assert (await post("/api/v1/runs", headers=member, json=_run(repo=str(loose_repo)))).status_code == 201
        assert_error(await post("/api/v1/runs", headers=member, json=_run(repo=str(theirs_repo))), 403, "forbidden")
        assert_error(await post("/api/v1/runs", headers=member, json=_run(repo=str(elsewhere))), 403, "forbidden")
        made = await post(
            "/api/v1/projects", headers=await api.user("acme", "admin"), json={"name": "e", "repo_path": str(elsewhere)}
        )
        assert_error(made, 403, "forbidden")


async def test_a_project_may_name_its_repository_by_url_and_a_raw_url_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    source = make_repo(tmp_path / "source", {"README.md": "remote\n"})
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(source), str(bare))
    url = f"file://{bare}"
    async with _api(settings, repo_roots=[tmp_path]) as api:
        admin, member = await api.user("acme", "admin"), await api.user("acme", "member")
        post = api.client.post
        bad = await post("/api/v1/projects", headers=admin, json={"name": "bad", "repo_path": "git://host/x y"})
        assert_error(bad, 400, "bad_request")
        made = await post("/api/v1/projects", headers=admin, json={"name": "remote", "repo_path": url})
        assert made.status_code == 201, made.text
        # a raw URL is no project of the organisation: refused
        assert_error(await post("/api/v1/runs", headers=member, json=_run(repo=url + "x")), 403, "forbidden")
        # the project's URL, by id: the run records it as given (not folded into a path)
        run = await post("/api/v1/runs", headers=member, json=_run(project_id=made.json()["id"]))
        assert run.status_code == 201, run.text
        assert run.json()["repo_path"] == url
    assert git(bare, "rev-parse", "--verify", f"refs/heads/{run.json()['integration_branch']}")
