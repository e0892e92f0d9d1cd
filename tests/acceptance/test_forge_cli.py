"""``quarterdeck run`` on a repository with a ``[forge]``: the run's pull request is opened on a local GitHub
by the CLI process itself, with the token stored by ``quarterdeck secret set``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.acceptance.test_cli_run import _env, _qd
from tests.support.forges.github import FakeGitHub
from tests.support.gitrepo import git, make_repo

TOKEN = "ghp_" + "c" * 36


def test_run_opens_the_pull_request_of_its_integration_branch(database_url: str, tmp_path: Path) -> None:
    env = _env(database_url, tmp_path)
    remote = tmp_path / "remote.git"
    remote.mkdir()
    git(remote, "init", "--quiet", "--bare")
    with FakeGitHub(token=TOKEN, remote=remote) as github:
        config = (
            '[remote]\nname = "origin"\n\n'
            f'[forge]\nkind = "github"\nrepository = "acme/shop"\napi_url = "{github.api_url}"\n'
        )
        repo = make_repo(tmp_path / "repo", {".quarterdeck/config.toml": config, "README.md": "# shop\n"})
        git(repo, "remote", "add", "origin", str(remote))
        git(repo, "push", "--quiet", "origin", "main")
        plan = tmp_path / "plan.yaml"
        task = {"id": "a", "title": "Add a", "runtime": "shell", "options": {"script": "echo a > a.txt"}}
        plan.write_text(yaml.safe_dump({"name": "shop", "tasks": [task]}))
        stored = subprocess.run(
            [sys.executable, "-m", "quarterdeck", "secret", "set", "GITHUB_TOKEN"],
            input=TOKEN,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert stored.returncode == 0, stored.stderr

        done = _qd("run", str(plan), "--repo", str(repo), "--json", env=env)

        assert done.returncode == 0, done.stderr
        assert TOKEN not in done.stdout + done.stderr
        [pull] = github.pulls.values()
        assert pull["head"].startswith("quarterdeck/")
        assert pull["draft"] is False  # the run had succeeded when it was opened
        assert "| `a` Add a | ✅ succeeded |" in pull["body"]
