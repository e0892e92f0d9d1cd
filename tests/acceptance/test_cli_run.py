"""``quarterdeck run``/``demo``/``worker``/``status`` run as a user runs them: processes, exit codes, output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.gitrepo import git, make_repo, shared_dir, trailer_tasks

ROOT = Path(__file__).resolve().parents[2]


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
    env |= {
        "QUARTERDECK_DATABASE_URL": database_url,
        "QUARTERDECK_STATE_DIR": str(tmp_path / "state"),
        "QUARTERDECK_LEASE_S": "5",
        "QUARTERDECK_HEARTBEAT_S": "0.5",
        "QUARTERDECK_POLL_MAX_S": "0.05",
    }
    return env


def _qd(*args: str, env: dict[str, str], cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quarterdeck", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def _write_plan(path: Path, plan: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


def test_demo_runs_the_example_end_to_end_on_sqlite(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
    result = _qd("demo", "--dir", str(tmp_path / "demo"), "--json", env=env)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["run"]["status"] == "succeeded"
    assert outcome["run"]["database"] == f"sqlite:///{tmp_path / 'demo' / 'quarterdeck.db'}"
    assert [t["status"] for t in outcome["tasks"]] == ["succeeded"] * 6
    repo = Path(outcome["run"]["repo"])
    landed = trailer_tasks(repo, "integration")
    assert sorted(landed) == sorted(t["id"] for t in outcome["tasks"])
    for before, after in [("normalize", "slug"), ("normalize", "stats"), ("slug", "cli"), ("stats", "cli"),
                          ("cli", "docs"), ("docs", "release")]:  # fmt: skip
        assert landed.index(before) < landed.index(after)
    # The integration branch passes the example's own tests.
    git(repo, "checkout", "--quiet", "integration")
    check = subprocess.run(
        [sys.executable, "-m", "unittest", "discover", "-s", "tests", "-t", "."],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert "Ran 6 tests" in check.stderr


def _path_without(tmp_path: Path, program: str) -> str:
    """A PATH like this machine's with ``program`` left out: every other command linked into one directory."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for directory in reversed(os.environ.get("PATH", "").split(os.pathsep)):
        if not directory or not Path(directory).is_dir():
            continue
        for entry in Path(directory).iterdir():
            if entry.name != program and os.access(entry, os.X_OK):
                link = bin_dir / entry.name
                link.unlink(missing_ok=True)
                link.symlink_to(entry)
    return str(bin_dir)


def test_the_demo_runs_on_a_fresh_machine_without_bubblewrap_and_says_so(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
    env["PATH"] = _path_without(tmp_path, "bwrap")
    result = _qd("demo", "--dir", str(tmp_path / "demo"), "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert [t["status"] for t in json.loads(result.stdout)["tasks"]] == ["succeeded"] * 6
    assert "the sandbox cannot run on this machine: bubblewrap (`bwrap`) is not installed" in result.stderr
    assert "your own runs need the sandbox" in result.stderr
    # and a run of the user's own is still refused there, naming the fix
    plan = _write_plan(tmp_path / "plan.yaml", {"name": "own", "tasks": [
        {"id": "t", "title": "T", "runtime": "shell", "options": {"script": "true"}, "max_attempts": 1}]})  # fmt: skip
    own = _qd("run", str(plan), "--repo", str(make_repo(tmp_path / "repo")), "--json", env=env | {
        "QUARTERDECK_STATE_DIR": str(tmp_path / "state")})  # fmt: skip
    assert own.returncode == 1, own.stderr
    assert "QUARTERDECK_SANDBOX=off" in own.stdout + own.stderr


def test_human_output_has_the_summary_table_and_locations(tmp_path: Path, database_url: str) -> None:
    repo = make_repo(tmp_path / "repo")
    plan = _write_plan(
        tmp_path / "plan.yaml",
        {
            "name": "tiny",
            "tasks": [
                {"id": "one", "title": "One", "runtime": "shell", "options": {"script": "echo 1 > one.txt"}},
                {"id": "two", "title": "Two", "depends_on": ["one"], "runtime": "shell",
                 "options": {"argv": ["cp", "one.txt", "two.txt"]}},
            ],
        },
    )  # fmt: skip
    result = _qd("run", str(plan), "--repo", str(repo), env=_env(database_url, tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for needle in ("task", "status", "attempts", "duration", "commit", "one", "two", "succeeded"):
        assert needle in out
    assert f"repository:         {repo}" in out
    assert "integration branch: quarterdeck/r" in out
    status = _qd("status", "--json", env=_env(database_url, tmp_path))
    runs = json.loads(status.stdout)
    assert [r["status"] for r in runs] == ["succeeded"]
    detail = json.loads(_qd("status", runs[0]["id"], "--json", env=_env(database_url, tmp_path)).stdout)
    assert [(t["id"], t["attempts"]) for t in detail["tasks"]] == [("one", 1), ("two", 1)]


def test_a_failing_run_exits_1_with_the_reason(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    plan = _write_plan(
        tmp_path / "plan.yaml",
        {"name": "fails", "tasks": [{"id": "x", "title": "X", "runtime": "shell", "options": {"argv": ["false"]}}]},
    )
    result = _qd("run", str(plan), "--repo", str(repo), "--json", env=_env(f"sqlite:///{tmp_path}/q.db", tmp_path))
    assert result.returncode == 1
    outcome = json.loads(result.stdout)
    assert outcome["run"]["status"] == "failed"
    assert outcome["tasks"][0]["error"].startswith("exit code 1")


def test_bad_input_exits_2_with_every_problem_located(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path}/q.db", tmp_path)
    repo = make_repo(tmp_path / "repo")
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "name: bad\n"
        "tasks:\n"
        "  - id: a\n"
        "    title: A\n"
        "    depends_on: [b]\n"
        "  - id: b\n"
        "    title: B\n"
        "    depends_on: [a]\n"
        "  - id: c\n"
        "    title: C\n"
        "    runtime: warp-drive\n"
        "    priority: high\n"
    )
    result = _qd("run", str(plan), "--repo", str(repo), env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{plan}:12: 'priority' must be an integer" in result.stderr
    cycle = plan.with_name("cycle.yaml")
    cycle.write_text(plan.read_text().replace("    runtime: warp-drive\n    priority: high\n", ""))
    result = _qd("run", str(cycle), "--repo", str(repo), env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == f"{cycle}:3: dependency cycle: a → b → a"
    unknown = plan.with_name("unknown.yaml")
    unknown.write_text("name: u\ntasks:\n  - id: c\n    title: C\n    runtime: warp-drive\n")
    result = _qd("run", str(unknown), "--repo", str(repo), env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(f"{unknown}:3: task 'c': unknown runtime 'warp-drive'; available: ")
    assert "scripted" in result.stderr
    assert "shell" in result.stderr


def test_a_plan_with_nothing_to_run_is_refused_with_what_was_left_out_and_why(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path}/q.db", tmp_path)
    repo = make_repo(tmp_path / "repo")
    stories = tmp_path / "stories"
    stories.mkdir()
    (stories / "tasks.md").write_text("# Tasks\n\n- [x] Parse the input\n- [x] Print the report\n")
    (stories / "logo.png").write_bytes(b"\x89PNG\r\n")
    result = _qd("run", "stories", "--repo", str(repo), env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "stories: nothing to run: no task to schedule (2 done or cancelled, 1 file(s) skipped)",
        "stories/tasks.md:3: 'tasks.parse-the-input' is done ([x]): not scheduled",
        "stories/tasks.md:4: 'tasks.print-the-report' is done ([x]): not scheduled",
        "stories/logo.png: skipped: not a story file (.png)",
    ]
    empty = _write_plan(tmp_path / "empty.yaml", {"name": "empty", "tasks": []})
    result = _qd("run", str(empty), "--repo", str(repo), env=env)
    assert result.returncode == 2
    assert result.stderr.startswith(f"{empty}: nothing to run: no task to schedule")
    assert "Traceback" not in result.stderr
    assert json.loads(_qd("status", "--json", env=env).stdout) == []  # no run was started


def test_a_repo_that_is_not_git_or_is_dirty_is_refused(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path}/q.db", tmp_path)
    plan = _write_plan(
        tmp_path / "plan.yaml",
        {"name": "p", "tasks": [{"id": "a", "title": "A", "runtime": "shell", "options": {"argv": ["true"]}}]},
    )
    plain = tmp_path / "plain"
    plain.mkdir()
    result = _qd("run", str(plan), "--repo", str(plain), env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {plain} is not a git repository (run `git init` there first)"
    repo = make_repo(tmp_path / "repo")
    (repo / "README.md").write_text("changed\n")
    result = _qd("run", str(plan), "--repo", str(repo), "--branch", "main", env=env)
    assert result.returncode == 2
    assert "checked out at" in result.stderr
    assert "with uncommitted changes; commit or stash them" in result.stderr


def test_an_unreachable_database_names_the_url_and_the_reason(tmp_path: Path) -> None:
    env = _env("postgresql://someone:s3cret@127.0.0.1:1/nowhere", tmp_path)
    result = _qd("status", env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: database postgresql://someone:***@127.0.0.1:1/nowhere is unreachable")
    assert "s3cret" not in result.stderr


@pytest.mark.postgres
@pytest.mark.slow
def test_two_worker_processes_and_a_run_without_workers_do_every_task_exactly_once(
    tmp_path: Path, pg_template: object
) -> None:
    from tests.support.databases import PostgresTemplate

    assert isinstance(pg_template, PostgresTemplate)
    name = pg_template.clone()
    try:
        env = _env(pg_template.url(name), tmp_path)
        repo = make_repo(tmp_path / "repo")
        ledger = shared_dir(repo, tmp_path / "ledger") / "executions.log"  # every task's sandbox writes to it
        tasks = []
        for n in range(20):
            deps = [f"t{n - 5}"] if n >= 5 and n % 2 == 0 else []
            script = f'echo "$QUARTERDECK_TASK_ID $QUARTERDECK_ATTEMPT" >> {ledger}; echo {n} > out/t{n}.txt'
            tasks.append({"id": f"t{n}", "title": f"Task {n}", "depends_on": deps, "runtime": "shell",
                          "options": {"script": f"mkdir -p out && {script}"}})  # fmt: skip
        plan = _write_plan(tmp_path / "plan.yaml", {"name": "twenty", "tasks": tasks})
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "quarterdeck", "worker", "--slots", "2"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            result = _qd("run", str(plan), "--repo", str(repo), "--workers", "0", "--json", env=env, timeout=240)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            outputs = [worker.communicate(timeout=60) for worker in workers]
        assert result.returncode == 0, (result.stderr, outputs)
        assert [w.returncode for w in workers] == [0, 0], outputs
        executions = ledger.read_text().splitlines()
        assert sorted(executions) == sorted(f"t{n} 1" for n in range(20))
        outcome = json.loads(result.stdout)
        assert {t["status"] for t in outcome["tasks"]} == {"succeeded"}
        assert sorted(trailer_tasks(repo, outcome["run"]["integration_branch"])) == sorted(f"t{n}" for n in range(20))
        served_by = {line.split()[1] for out in outputs for line in out[1].splitlines() if line.startswith("worker ")}
        assert len(served_by) == 2
    finally:
        pg_template.drop(name)


def test_gc_removes_the_worktrees_kept_after_a_failed_run_and_the_parked_ones(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path}/q.db", tmp_path)
    repo = make_repo(tmp_path / "repo")
    plan = _write_plan(
        tmp_path / "plan.yaml",
        {
            "name": "f",
            "tasks": [
                {"id": "x", "title": "X", "runtime": "shell", "options": {"script": "touch y; false"}},
                {"id": "ok", "title": "OK", "runtime": "shell", "options": {"script": "touch z"}},
            ],
        },
    )
    assert _qd("run", str(plan), "--repo", str(repo), env=env).returncode == 1
    kept = list((tmp_path / "state-worktrees").glob("*/x/1"))
    assert len(kept) == 1
    assert (kept[0] / "y").exists()
    # The succeeded task's worktree was parked for reuse.
    parked = list((tmp_path / "state-worktrees" / ".pool").glob("*/*"))
    assert len(parked) == 1
    # api-agent file snapshots: a failed run's stay (its tasks may be re-queued), a succeeded run's go.
    failed_run = kept[0].parent.parent.name
    ok_plan = _write_plan(tmp_path / "ok.yaml", {"name": "ok", "tasks": [{"id": "a", "title": "A", "runtime": "noop"}]})
    succeeded = _qd("run", str(ok_plan), "--repo", str(repo), "--json", env=env)
    assert succeeded.returncode == 0, succeeded.stderr
    ok_run = json.loads(succeeded.stdout)["run"]["id"]
    git(repo, "update-ref", f"refs/quarterdeck/checkpoints/{failed_run}/x", "HEAD")
    git(repo, "update-ref", f"refs/quarterdeck/checkpoints/{ok_run}/a", "HEAD")
    dry = _qd("gc", "--dry-run", env=env)
    assert dry.stdout.splitlines() == [
        f"would remove {kept[0]}",
        f"would remove {parked[0]}",
        f"would remove refs/quarterdeck/checkpoints/{ok_run}/a in {repo}",
        "2 worktree(s) to remove",
        "1 checkpoint snapshot(s) to remove",
    ]
    assert kept[0].exists()
    done = _qd("gc", env=env)
    assert done.returncode == 0
    assert not kept[0].exists()
    assert not parked[0].exists()
    snapshots = git(repo, "for-each-ref", "--format=%(refname)", "refs/quarterdeck/checkpoints/").split()
    assert snapshots == [f"refs/quarterdeck/checkpoints/{failed_run}/x"]
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1  # the repository's own only
