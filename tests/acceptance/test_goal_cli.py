"""The crew from the command line: a goal waits for approval, `approvals` decides it, `resume` runs it, `audit`
prints the trail; a manager that cannot answer a plan fails the goal with its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.gitrepo import git, make_repo
from tests.support.llm_servers import AnthropicServer, Reply, Script, ToolCall

ROOT = Path(__file__).resolve().parents[2]
MODEL = "claude-haiku-4-5"
PLAN = {
    "name": "hello",
    "tasks": [
        {
            "id": "hello",
            "title": "Write hello.py",
            "prompt": "Write hello.py printing hi.",
            "role": "backend",
            "acceptance_criteria": [
                {"text": "hello.py prints hi", "command": "python hello.py | grep -qx hi"},
                {"text": "hello.py is one line"},
            ],
            "verify": ["python hello.py"],
            "estimate_usd": 0.02,
        }
    ],
}
ACCEPT = {
    "criteria": [{"criterion": "2", "status": "met", "evidence": "one line"}],
    "verdict": "accept",
    "summary": "good",
}


def quarterdeck(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quarterdeck", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def setup(tmp_path: Path, boss: str, work: str, review: str) -> tuple[Path, dict[str, str]]:
    repo = make_repo(tmp_path / "repo", {"README.md": "# hello\n"})
    route = '[{{provider = "anthropic", model = "{m}", base_url = "{u}"}}]'
    (repo / ".quarterdeck").mkdir()
    (repo / ".quarterdeck" / "crew.toml").write_text(
        f"[crew.manager]\nmodels = {route.format(m=MODEL, u=boss)}\n[crew.reviewer]\nmodels = "
        f'{route.format(m=MODEL, u=review)}\n[crew.roles.backend]\nruntime = "api-agent"\n'
        f"models = {route.format(m=MODEL, u=work)}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
    env |= {"QUARTERDECK_STATE_DIR": str(tmp_path / "state"), "QUARTERDECK_POLL_MAX_S": "0.05", "COLUMNS": "200"}
    return repo, env


def test_a_goal_waits_for_approval_then_runs_and_its_audit_trail_is_printed(tmp_path: Path) -> None:
    work = Script(
        Reply.tools(ToolCall("write_file", {"path": "hello.py", "content": "print('hi')\n"})), Reply.text("done")
    )
    with (
        AnthropicServer(Script(Reply.text(json.dumps(PLAN)))) as boss,
        AnthropicServer(work) as worker,
        AnthropicServer(Script(Reply.text(json.dumps(ACCEPT)))) as reviewer,
    ):
        repo, env = setup(tmp_path, boss.url, worker.url, reviewer.url)
        started = quarterdeck("goal", "Say hi", "--repo", str(repo), "--approve", env=env)
        assert started.returncode == 3, started.stderr  # the run waits for a person: not a failure, not done
        assert "Write hello.py" in started.stdout  # the plan, as a table
        assert "$0.02" in started.stdout
        assert worker.model_requests() == []

        listed = quarterdeck("approvals", "list", "--json", env=env)
        (approval,) = json.loads(listed.stdout)
        assert (approval["kind"], approval["status"], approval["requested_by"]) == ("plan", "pending", "manager")
        assert f"quarterdeck approvals approve {approval['id']}" in started.stdout

        decided = quarterdeck("approvals", "approve", approval["id"], "--by", "ada", "--reason", "ship it", env=env)
        assert decided.returncode == 0, decided.stderr
        assert f"plan {approval['id']} approved by ada" in decided.stdout
        again = quarterdeck("approvals", "reject", approval["id"], env=env)
        assert again.returncode == 2
        assert f"error: approval {approval['id']} was already approved by ada" in again.stderr

        run_id = approval["run_id"]
        resumed = quarterdeck("resume", run_id, "--workers", "1", env=env)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert git(repo, "show", f"quarterdeck/{run_id}:hello.py") == "print('hi')\n"

        trail = quarterdeck("audit", run_id, env=env)
        assert trail.returncode == 0, trail.stderr
        lines = trail.stdout.splitlines()
        kinds = [line.split()[2] for line in lines if line[:2] == "20"]
        assert [k for k in kinds if k != "event"][:3] == ["plan", "message", "message"]
        assert kinds[0] == "event"  # the goal given to the manager, by whom
        assert "goal given to the manager: Say hi" in lines[0]
        assert any(" event " in line and "landed " in line for line in lines)
        assert any("decision ada" in line and "plan approved: ship it" in line for line in lines)
        verdict_at = next(i for i, line in enumerate(lines) if " verdict " in line)
        assert "accept (revision 0, 2/2 criteria met)" in lines[verdict_at]
        assert lines[verdict_at + 1].split()[:3] == ["1.", "met", "(command)"]
        assert lines[verdict_at + 2].split()[:3] == ["2.", "met", "(reviewer)"]
        as_json = [json.loads(line) for line in quarterdeck("audit", run_id, "--json", env=env).stdout.splitlines()]
        assert {e["kind"] for e in as_json} == {"message", "plan", "decision", "verdict", "event"}


def test_a_manager_that_never_answers_a_plan_fails_the_goal_with_the_validation_errors(tmp_path: Path) -> None:
    with AnthropicServer(Script(Reply.text("no"), Reply.text('{"name": "x", "tasks": []}'))) as boss:
        repo, env = setup(tmp_path, boss.url, boss.url, boss.url)
        failed = quarterdeck("goal", "Say hi", "--repo", str(repo), "--yes", env=env)
    assert failed.returncode == 1
    assert "error: the manager's plan is not valid: the model's answer does not match PlanDraft after a repair" in (
        failed.stderr
    )
    assert "List should have at least 1 item" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert len(boss.model_requests()) == 2


EDITOR = """
import pathlib, sys
path = pathlib.Path(sys.argv[1])
text = path.read_text()
if "{mode}" == "cycle":
    text = text.replace("  title:", "  depends_on: [hello]\\n  title:", 1)
else:
    text = text.replace("Write hello.py", "Write a friendlier hello.py")
path.write_text(text)
"""


def _editor(tmp_path: Path, mode: str) -> str:
    script = tmp_path / f"editor_{mode}.py"
    script.write_text(EDITOR.format(mode=mode))
    return f"{sys.executable} {script}"


def test_the_plan_can_be_edited_before_it_runs_and_the_edit_is_on_record(tmp_path: Path) -> None:
    work = Script(
        Reply.tools(ToolCall("write_file", {"path": "hello.py", "content": "print('hi')\n"})), Reply.text("done")
    )
    with (
        AnthropicServer(Script(Reply.text(json.dumps(PLAN)))) as boss,
        AnthropicServer(work) as worker,
        AnthropicServer(Script(Reply.text(json.dumps(ACCEPT)))) as reviewer,
    ):
        repo, env = setup(tmp_path, boss.url, worker.url, reviewer.url)
        env["EDITOR"] = _editor(tmp_path, "title")
        done = quarterdeck("goal", "Say hi", "--repo", str(repo), "--yes", "--edit", "--workers", "1", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        (run,) = json.loads(quarterdeck("status", "--json", env=env).stdout)
        assert run["status"] == "succeeded"
        run_id = run["id"]
        trail = [json.loads(line) for line in quarterdeck("audit", run_id, "--json", env=env).stdout.splitlines()]
    assert git(repo, "log", "-1", "--format=%s", f"quarterdeck/{run_id}").strip() == "Write a friendlier hello.py"
    plan_entries = [e for e in trail if e["kind"] == "plan"]
    assert "edited" in plan_entries[0]["summary"]  # the manager's plan, superseded by the edit
    assert "edited by" in plan_entries[1]["summary"]
    (edit,) = [e for e in trail if e["kind"] == "message" and e["data"]["type"] == "edit"]
    assert "Write a friendlier hello.py" in edit["summary"]
    assert edit["recipient"] == "manager"


def test_an_edit_that_breaks_the_plan_is_refused_with_the_problem_named(tmp_path: Path) -> None:
    with AnthropicServer(Script(Reply.text(json.dumps(PLAN)))) as boss:
        repo, env = setup(tmp_path, boss.url, boss.url, boss.url)
        env["EDITOR"] = _editor(tmp_path, "cycle")
        refused = subprocess.run(
            [sys.executable, "-m", "quarterdeck", "goal", "Say hi", "--repo", str(repo), "--yes", "--edit"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            input="n\n",
            timeout=120,
        )
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "the edited plan is not valid" in refused.stdout
    assert "edited-plan.yaml:3: task 'hello' depends on itself" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_resumed_goal_run_re_plans_a_failure_and_waits_for_its_approval(tmp_path: Path) -> None:
    plan = json.loads(json.dumps(PLAN))
    plan["tasks"][0]["verify"] = ["python hello.py | grep -qx hello"]  # the worker writes `hi`: this fails
    replan = {
        "reason": "the check wants hello",
        "changes": [
            {
                "action": "replace",
                "task": "hello",
                "tasks": [
                    {
                        "id": "hello-v2",
                        "title": "Print hello",
                        "prompt": "Make hello.py print hello.",
                        "role": "backend",
                        "acceptance_criteria": [{"text": "prints hello"}],
                        "verify": [],
                        "depends_on": [],
                    }
                ],
            }
        ],
    }
    work = Script(
        Reply.tools(ToolCall("write_file", {"path": "hello.py", "content": "print('hi')\n"})), Reply.text("done")
    )
    with (
        AnthropicServer(Script(Reply.text(json.dumps(plan)), Reply.text(json.dumps(replan)))) as boss,
        AnthropicServer(work) as worker,
    ):
        repo, env = setup(tmp_path, boss.url, worker.url, boss.url)
        started = quarterdeck("goal", "Say hello", "--repo", str(repo), "--approve", env=env)
        assert started.returncode == 3, started.stderr
        (approval,) = json.loads(quarterdeck("approvals", "list", "--json", env=env).stdout)
        assert quarterdeck("approvals", "approve", approval["id"], env=env).returncode == 0

        resumed = quarterdeck("resume", approval["run_id"], "--workers", "1", env=env)

        assert len(boss.model_requests()) == 2  # the plan, then the re-plan after the failure
    assert resumed.returncode == 3, resumed.stderr  # waiting for the re-plan's approval, not failed
    assert "task hello failed for good" in resumed.stdout
    assert "replace hello → hello-v2" in resumed.stdout
    (pending,) = json.loads(quarterdeck("approvals", "list", "--json", env=env).stdout)
    assert (pending["kind"], pending["task_id"], pending["status"]) == ("replan", "hello", "pending")
    assert f"quarterdeck approvals approve {pending['id']}" in resumed.stdout


def test_a_goal_on_a_url_is_planned_from_the_remote_and_lands_there(tmp_path: Path) -> None:
    work = Script(
        Reply.tools(ToolCall("write_file", {"path": "hello.py", "content": "print('hi')\n"})), Reply.text("done")
    )
    with (
        AnthropicServer(Script(Reply.text(json.dumps(PLAN)))) as boss,
        AnthropicServer(work) as worker,
        AnthropicServer(Script(Reply.text(json.dumps(ACCEPT)))) as reviewer,
    ):
        repo, env = setup(tmp_path, boss.url, worker.url, reviewer.url)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "crew")
        bare = tmp_path / "remote.git"
        git(tmp_path, "clone", "--quiet", "--bare", str(repo), str(bare))
        done = quarterdeck("goal", "Say hi", "--repo", f"file://{bare}", "--yes", "--workers", "1", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert any(MODEL in line and "is planning" in line for line in done.stdout.splitlines())  # the remote crew
        (branch,) = [
            b
            for b in git(bare, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()
            if b.startswith("quarterdeck/")
        ]
        assert git(bare, "show", f"{branch}:hello.py") == "print('hi')\n"
        assert not (repo / "hello.py").exists()  # the source checkout was never touched
