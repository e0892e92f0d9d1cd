"""``quarterdeck demo --goal``: a whole crew's goal offline — manager plan, workers, a reviewer's revision."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.gitrepo import git

SCRIPT = Path(sys.executable).parent / "quarterdeck"


def _qd(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_bundled_crew_runs_its_goal_with_no_key_and_no_server(tmp_path: Path) -> None:
    keys = ("ANTHROPIC_", "OPENAI_", "GEMINI_", "GOOGLE_", "QUARTERDECK_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(keys)}
    env |= {"XDG_DATA_HOME": str(tmp_path / "data"), "QUARTERDECK_POLL_MAX_S": "0.05", "COLUMNS": "200"}
    # Any attempt to reach a provider would fail here: no key, and nothing listens at these addresses.
    env |= {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    done = _qd("demo", "--goal", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Add greet(name)" in done.stdout  # the manager's plan, as a table

    (run,) = json.loads(_qd("status", "--json", env=env, cwd=tmp_path).stdout)
    assert (run["name"], run["status"]) == ("greeter", "succeeded")
    repo = tmp_path / "data" / "quarterdeck" / "demo" / "crew-repo"
    greet = git(repo, "show", f"quarterdeck/{run['id']}:greeter/greet.py")
    assert '"""A friendly greeting' in greet  # the revision the reviewer asked for landed
    assert "## Usage" in git(repo, "show", f"quarterdeck/{run['id']}:README.md")

    trail = [json.loads(line) for line in _qd("audit", run["id"], "--json", env=env, cwd=tmp_path).stdout.splitlines()]
    verdicts = [(e["task_id"], e["data"]["verdict"]) for e in trail if e["kind"] == "verdict"]
    assert verdicts == [("greet", "revise"), ("greet", "accept"), ("docs", "accept")]


def test_a_goal_without_a_key_names_it_before_asking_anyone(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_", "QUARTERDECK_"))}
    env |= {"XDG_DATA_HOME": str(tmp_path / "data")}
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    refused = _qd("goal", "Say hi", "--repo", str(repo), "--yes", env=env, cwd=tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "the manager (anthropic:claude-sonnet-4-6) has no key: set ANTHROPIC_API_KEY" in refused.stderr
    assert "replay" in refused.stderr
    assert "Traceback" not in refused.stderr
