"""A newcomer's first hour, as the README tells it, with the console script in fresh directories.

`quarterdeck demo` → `status` shows the demo run (from anywhere) → `plan` of a story folder with a typo
names it → fixed, `run --agent claude-code` is refused without a key (the fix named, nothing created),
then runs the real Claude Code CLI against the local Anthropic server → `logs` shows the transcript →
`serve` on a database nobody can sign in to prints how to create the first admin. Nothing is written into
the user's repository but what the run commits.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support.agents import agent_bin
from tests.support.gitrepo import git, make_repo
from tests.support.llm_servers import AnthropicServer, Reply, Script, ToolCall, working_directory

SCRIPT = Path(sys.executable).parent / "quarterdeck"

STORY = """\
name: greeting
tasks:
  - id: hello
    {title_key}: Add hello.py
    prompt: Create hello.py that prints hi.
    verify: [python3 hello.py]
    timeout_s: 120
"""


def _qd(*args: str, env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )


def _write_hello(body: Mapping[str, Any]) -> Reply:
    cwd = working_directory(body)
    assert cwd is not None
    write = ToolCall("Write", {"file_path": f"{cwd}/hello.py", "content": "print('hi')\n"})
    return Reply.tools(write, say="I'll create hello.py.", input_tokens=1000, output_tokens=100)


def test_from_the_demo_to_a_story_folder_run_by_claude_code(tmp_path: Path) -> None:
    home = tmp_path / "home"  # no ~/.claude login, no keys: a new machine
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUARTERDECK_", "ANTHROPIC_", "CLAUDE_"))}
    env |= {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "QUARTERDECK_CLAUDE_PATH": agent_bin("claude"),
        "QUARTERDECK_POLL_MAX_S": "0.05",
        "COLUMNS": "200",
    }
    clone = tmp_path / "clone"
    clone.mkdir()

    # 1. The demo, then the demo's run from another directory: one home for every command.
    demo = _qd("demo", env=env, cwd=clone)
    assert demo.returncode == 0, demo.stderr
    match = re.search(r"quarterdeck status (\S+)", demo.stdout)
    assert match is not None, demo.stdout  # the next steps are named
    demo_run = match.group(1)
    assert f"quarterdeck logs {demo_run} " in demo.stdout
    assert f"http://127.0.0.1:8400/runs/{demo_run}" in demo.stdout
    assert (home / ".local" / "share" / "quarterdeck" / "quarterdeck.db").is_file()

    project = make_repo(tmp_path / "project", {"README.md": "# greeting\n"})
    stories = project / "stories"
    stories.mkdir()
    (stories / "tasks.yaml").write_text(STORY.format(title_key="titel"))
    git(project, "add", "stories")
    git(project, "-c", "user.name=T", "-c", "user.email=t@example.invalid", "commit", "-qm", "stories")

    status = _qd("status", env=env, cwd=project)
    assert status.returncode == 0, status.stderr
    assert demo_run in status.stdout
    assert "succeeded" in status.stdout
    info = _qd("info", env=env, cwd=project)
    assert str(home / ".local" / "share" / "quarterdeck" / "quarterdeck.db") in info.stdout

    # 2. The typo is named, with its line, and what was meant.
    planned = _qd("plan", "stories", "--agent", "claude-code", env=env, cwd=project)
    assert planned.returncode == 2, planned.stdout
    assert "stories/tasks.yaml:4: unknown task field 'titel' (did you mean 'title'?)" in planned.stderr
    assert "Traceback" not in planned.stderr

    # 3. Fixed: without a key, the run is refused before anything starts, naming the fix.
    (stories / "tasks.yaml").write_text(STORY.format(title_key="title"))
    git(project, "-c", "user.name=T", "-c", "user.email=t@example.invalid", "commit", "-qam", "fix the typo")
    refused = _qd("run", "stories", "--agent", "claude-code", env=env, cwd=project)
    assert refused.returncode == 2, refused.stdout
    assert "set ANTHROPIC_API_KEY" in refused.stderr
    assert "quarterdeck secret set ANTHROPIC_API_KEY" in refused.stderr
    assert "Traceback" not in refused.stderr
    listed = _qd("status", "--json", env=env, cwd=project)
    assert [r["id"] for r in json.loads(listed.stdout)] == [demo_run]

    # 4. With the key, Claude Code does it against the local Anthropic server.
    with AnthropicServer(Script(_write_hello, Reply.text("Created hello.py.", input_tokens=500))) as server:
        keyed = env | {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "test-key"}
        ran = _qd("run", "stories", "--agent", "claude-code", "--branch", "integration", env=keyed, cwd=project)
        assert ran.returncode == 0, ran.stdout + ran.stderr
    assert git(project, "show", "integration:hello.py") == "print('hi')\n"
    match = re.search(r"quarterdeck logs (\S+) hello", ran.stdout)
    assert match is not None, ran.stdout
    run_id = match.group(1)

    # 5. The transcript: what the agent said, the tool it used, the check and its result.
    logs = _qd("logs", run_id, "hello", env=env, cwd=tmp_path)
    assert logs.returncode == 0, logs.stderr
    assert "── hello · attempt 1 ──" in logs.stdout
    assert "agent: I'll create hello.py." in logs.stdout
    assert "$ Write" in logs.stdout
    assert "check: python3 hello.py → exit 0" in logs.stdout
    missing = _qd("status", "no-such-run", env=env, cwd=tmp_path)
    assert missing.returncode == 1
    assert "no run 'no-such-run'" in missing.stderr
    assert "quarterdeck.db" in missing.stderr

    # Nothing was written into the user's repository (no .quarterdeck/, no untracked files).
    assert not (project / ".quarterdeck").exists()
    assert git(project, "status", "--porcelain") == ""

    # 6. The server on a database nobody can sign in to says how to create the first admin.
    serve = subprocess.Popen(
        [str(SCRIPT), "serve", "--port", "0", "--no-worker"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    said: list[str] = []
    try:
        assert serve.stderr is not None
        for line in serve.stderr:  # ends at uvicorn's start-up line at the latest
            said.append(line)
            if "Uvicorn running on" in line or "Application startup complete" in line:
                break
    finally:
        serve.terminate()
        serve.wait(timeout=30)
        if serve.stderr is not None:
            serve.stderr.close()
    text = "".join(said)
    assert "nobody can sign in yet" in text, text
    assert "quarterdeck user create --role admin" in text
