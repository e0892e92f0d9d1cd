"""``quarterdeck logs``: a task's transcript and its checks' output, after the fact and live; a failure's note."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.gitrepo import make_repo, shared_dir

SCRIPT = Path(sys.executable).parent / "quarterdeck"


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
    env |= {
        "QUARTERDECK_DATABASE_URL": database_url,
        "QUARTERDECK_STATE_DIR": str(tmp_path / "state"),
        "QUARTERDECK_POLL_MAX_S": "0.05",
        "COLUMNS": "250",
    }
    return env


def _qd(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_a_failed_check_is_in_the_note_and_in_the_logs(tmp_path: Path, database_url: str) -> None:
    env = _env(database_url, tmp_path)
    repo = make_repo(tmp_path / "repo", {"README.md": "# x\n"})
    check = "echo 'running 3 tests'; echo 'AssertionError: expected hello, got bye'; echo '-----'; exit 3"
    plan = {
        "name": "failing",
        "tasks": [
            {
                "id": "greet",
                "title": "Greet",
                "runtime": "shell",
                "options": {"script": "echo bye > greeting.txt; echo wrote it"},
                "verify": [check],
            }
        ],
    }
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    ran = _qd("run", str(tmp_path / "plan.yaml"), "--repo", str(repo), env=env)
    assert ran.returncode == 1, ran.stderr
    # The note says what failed, with the last line that says something (not the rule after it).
    assert "AssertionError: expected hello, got bye" in ran.stdout
    run_id = re.search(r" logs (\S+) greet", ran.stdout)
    assert run_id is not None, ran.stdout

    logs = _qd("logs", run_id.group(1), "greet", env=env)
    assert logs.returncode == 0, logs.stderr
    out = logs.stdout.splitlines()
    assert "── greet · attempt 1 ──" in out
    assert "    wrote it" in out  # the agent's (here: the shell step's) output
    assert any(line.startswith("check: echo 'running 3 tests'") and line.endswith("→ exit 3") for line in out), out
    assert "    AssertionError: expected hello, got bye" in out
    assert out[-1].startswith("task failed: "), "\n".join(out)
    # Every task, prefixed; another attempt: nothing; an unknown task: named, exit 1.
    assert all(
        line.startswith(("greet| ", "── ")) for line in _qd("logs", run_id.group(1), env=env).stdout.splitlines()
    )
    assert _qd("logs", run_id.group(1), "greet", "--attempt", "2", env=env).stdout == ""
    unknown = _qd("logs", run_id.group(1), "nope", env=env)
    assert unknown.returncode == 1
    assert "has no task 'nope'" in unknown.stderr

    status = _qd("status", run_id.group(1), env=env)
    assert "AssertionError: expected hello, got bye" in status.stdout


def test_follow_prints_lines_as_they_come_and_ends_with_the_run(tmp_path: Path, database_url: str) -> None:
    env = _env(database_url, tmp_path)
    repo = make_repo(tmp_path / "repo", {"README.md": "# x\n"})
    gate = shared_dir(repo, tmp_path / "box") / "gate"  # the step's sandbox sees it too
    script = f"echo first line; while [ ! -e {gate} ]; do sleep 0.05; done; echo second line > out.txt; echo done"
    plan = {
        "name": "live",
        # The timeout ends the run (and so --follow) even if this test never opens the gate.
        "tasks": [{"id": "slow", "title": "Slow", "runtime": "shell", "options": {"script": script}, "timeout_s": 90}],
    }
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    with subprocess.Popen(
        [str(SCRIPT), "run", str(tmp_path / "plan.yaml"), "--repo", str(repo), "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as running:
        assert running.stdout is not None
        started = running.stdout.readline()
        match = re.match(r"run (\S+) started", started)
        assert match is not None, started
        with subprocess.Popen(
            [str(SCRIPT), "logs", match.group(1), "slow", "--follow"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as follow:
            assert follow.stdout is not None
            seen = []
            for line in follow.stdout:  # the agent is still blocked: this line came live
                seen.append(line.rstrip("\n"))
                if line.strip() == "first line":
                    break
            gate.touch()
            rest, err = follow.communicate(timeout=60)  # ends by itself once the run has ended
            assert follow.returncode == 0, err
        running.communicate(timeout=60)
    assert running.returncode == 0
    assert "    first line" in seen
    assert "    done" in rest.splitlines()
    assert "task succeeded" in rest
