"""Per-project worktree setup from .quarterdeck/config.toml: setup commands, copied files, env, ports."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from quarterdeck.errors import InputError
from quarterdeck.workspaces.project import load_project_config
from tests.support.gitrepo import git, make_repo, shared_dir

CONFIG = """
[workspace]
setup = ["echo prepared > .setup-done"]
copy = [".env"]
env = { GREETING = "hello" }
ports = [41000, 41001]
"""


@pytest.fixture
def configured_repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "repo", {".quarterdeck/config.toml": CONFIG, ".gitignore": ".setup-done\n"})
    (repo / ".env").write_text("SECRET=not-for-git\n")  # untracked, as .env files are
    return repo


async def test_worktrees_are_prepared_from_the_project_config(
    app: Quarterdeck, configured_repo: Path, tmp_path: Path
) -> None:
    shared = shared_dir(configured_repo, tmp_path / "shared")

    def task(task_id: str, other: str) -> plans.TaskSpec:
        # Both run at once (a barrier), so they must hold different ports.
        script = (
            f'test -f .setup-done && grep -q SECRET .env && echo "$GREETING $QUARTERDECK_PORT" > {task_id}.txt; '
            f"touch {shared}/{task_id}; until [ -e {shared}/{other} ]; do sleep 0.01; done"
        )
        return plans.TaskSpec(id=task_id, title=task_id, runtime="shell", options={"script": script}, timeout_s=30)

    record = await app.submit(plans.Plan(name="cfg", tasks=(task("a", "b"), task("b", "a"))), repo=configured_repo)
    view = await app.run_until_done(record.id, worker=app.worker(slots=2, run_id=record.id), tick_s=0.02)
    assert view.run.status is RunStatus.SUCCEEDED, [t.error for t in view.tasks]
    branch = view.run.integration_branch
    outputs = {git(configured_repo, "show", f"{branch}:{name}").strip() for name in ("a.txt", "b.txt")}
    assert outputs == {"hello 41000", "hello 41001"}
    files = git(configured_repo, "ls-tree", "-r", "--name-only", branch).split()
    assert ".env" not in files  # copied in for the agent, never committed
    setups = [e.payload for e in await app.events(record.id) if e.type == "setup.result"]
    assert [s["exit_code"] for s in setups] == [0, 0]


def test_a_bad_config_names_the_file_and_the_problem(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {".quarterdeck/config.toml": "[workspace]\nports = [80, 90]\nsetpu = []\n"})
    with pytest.raises(InputError) as caught:
        load_project_config(repo)
    message = str(caught.value)
    assert message.startswith(f"{repo / '.quarterdeck' / 'config.toml'}: ")
    assert "workspace.ports: Value error, ports must be [first, last]" in message
    assert "workspace.setpu: Extra inputs are not permitted" in message


async def test_landed_work_is_pushed_to_the_configured_remote(app: Quarterdeck, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    remote.mkdir()
    git(remote, "init", "--quiet", "--bare")
    repo = make_repo(
        tmp_path / "repo", {".quarterdeck/config.toml": '[remote]\nname = "origin"\ntask_branches = true\n'}
    )
    git(repo, "remote", "add", "origin", str(remote))
    plan = plans.Plan(
        name="push",
        tasks=(
            plans.TaskSpec(id="a", title="A", runtime="shell", options={"script": "echo a > a.txt"}),
            plans.TaskSpec(id="b", title="B", runtime="shell", options={"script": "echo b > b.txt"}, depends_on=("a",)),
        ),
    )
    record = await app.submit(plan, repo=repo)
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
    assert view.run.status is RunStatus.SUCCEEDED
    branch = view.run.integration_branch
    pushed = dict(
        line.split("\t")[::-1]
        for line in git(remote, "for-each-ref", "--format=%(objectname)\t%(refname)").splitlines()
    )
    assert pushed[f"refs/heads/{branch}"] == git(repo, "rev-parse", branch).strip()
    assert f"refs/heads/qd/{record.id}/a" in pushed
    assert [e.payload["refs"][0] for e in await app.events(record.id) if e.type == "push.done"] == [branch, branch]


async def test_a_failing_push_is_reported_and_the_landing_stands(app: Quarterdeck, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {".quarterdeck/config.toml": '[remote]\nname = "nowhere"\n'})
    git(repo, "remote", "add", "nowhere", str(tmp_path / "missing.git"))
    plan = plans.Plan(
        name="p", tasks=(plans.TaskSpec(id="a", title="A", runtime="shell", options={"script": "touch a"}),)
    )
    record = await app.submit(plan, repo=repo)
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
    assert view.run.status is RunStatus.SUCCEEDED
    failures = [e.payload for e in await app.events(record.id) if e.type == "push.failed"]
    assert len(failures) == 1
    assert failures[0]["remote"] == "nowhere"
    assert "missing.git" in failures[0]["error"]


def test_a_hostile_remote_name_is_refused(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {".quarterdeck/config.toml": '[remote]\nname = "--upload-pack=evil"\n'})
    with pytest.raises(InputError, match="remote name starts with '-'"):
        load_project_config(repo)


async def test_a_conflict_gets_a_resolver_task_that_lands_and_unblocks_the_rest(
    app: Quarterdeck, tmp_path: Path
) -> None:
    resolver = (
        '[merge]\nresolve_conflicts = true\nresolver_runtime = "scripted"\n'
        "resolver_options = { actions = [{ shell = \"test -f .git && grep -q '<<<<<<<' README.md\" },"
        ' { write = "README.md", content = "left\\nright\\n" }] }\n'
    )
    repo = make_repo(tmp_path / "repo", {".quarterdeck/config.toml": resolver, "README.md": "base\n"})
    shared = shared_dir(repo, tmp_path / "shared")

    def side(me: str, other: str) -> plans.TaskSpec:
        barrier = f"touch {shared}/{me}; until [ -e {shared}/{other} ]; do sleep 0.01; done"
        return plans.TaskSpec(
            id=me,
            title=me,
            runtime="scripted",
            options={"actions": [{"write": "README.md", "content": f"{me}\n"}, {"shell": barrier}]},
            timeout_s=30,
        )

    after = plans.TaskSpec(
        id="after",
        title="after",
        runtime="shell",
        options={"script": "cat README.md > seen.txt"},
        depends_on=("left", "right"),
    )
    record = await app.submit(
        plans.Plan(name="diamond", tasks=(side("left", "right"), side("right", "left"), after)), repo=repo
    )
    view = await app.run_until_done(record.id, worker=app.worker(slots=2, run_id=record.id), tick_s=0.02)
    statuses = {t.id: t.status for t in view.tasks}
    loser = next(task_id for task_id, status in statuses.items() if status is TaskStatus.CONFLICT)
    assert statuses[f"{loser}-resolve"] is TaskStatus.SUCCEEDED
    assert statuses["after"] is TaskStatus.SUCCEEDED
    assert view.run.status is RunStatus.SUCCEEDED
    branch = view.run.integration_branch
    assert git(repo, "show", f"{branch}:seen.txt") == "left\nright\n"  # `after` ran on the resolved tree
    created = [(e.task_id, e.payload["for"]) for e in await app.events(record.id) if e.type == "task.created"]
    assert created == [(f"{loser}-resolve", loser)]


async def test_the_project_merge_strategy_rebase_replays_the_agents_own_commits(
    app: Quarterdeck, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {".quarterdeck/config.toml": '[merge]\nstrategy = "rebase"\n'})
    commit = ["git", "-c", "user.name=Agent", "-c", "user.email=agent@example.invalid", "commit", "--quiet", "-am"]
    steps = [
        {"write": "one.txt", "content": "1\n"},
        {"run": ["git", "add", "one.txt"]},
        {"run": [*commit, "Agent step one"]},
        {"write": "two.txt", "content": "2\n"},
        {"run": ["git", "add", "two.txt"]},
        {"run": [*commit, "Agent step two"]},
    ]
    task = plans.TaskSpec(id="steps", title="Two steps", runtime="scripted", options={"actions": steps})
    record = await app.submit(plans.Plan(name="rebase", tasks=(task,)), repo=repo)
    assert record.merge_strategy == "rebase"
    view = await app.run_until_done(record.id, worker=app.worker(slots=1, run_id=record.id), tick_s=0.02)
    assert view.run.status is RunStatus.SUCCEEDED, [t.error for t in view.tasks]
    branch = view.run.integration_branch
    subjects = git(repo, "log", "--reverse", "--format=%s", branch).splitlines()
    assert subjects == ["initial", "Agent step one", "Agent step two"]
    assert git(repo, "rev-list", "--merges", "--count", branch).strip() == "0"
