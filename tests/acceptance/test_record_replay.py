"""``quarterdeck run --record`` then ``--replay``: a multi-agent run reproduced offline, same commits, same costs.

The agents talk to local servers speaking the Anthropic, OpenAI Chat and OpenAI Responses wire formats
through the official SDKs, from a real ``quarterdeck run`` process. The replay runs in a copy of the
repository taken before the recording, after the servers have stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.gitrepo import git, make_repo
from tests.support.llm_servers import (
    AnthropicServer,
    OpenAIChatServer,
    OpenAIResponsesServer,
    Reply,
    Script,
    ScriptedServer,
    ToolCall,
)

ROOT = Path(__file__).resolve().parents[2]


def _env(database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUARTERDECK_", "ANTHROPIC_", "OPENAI_"))}
    env |= {
        "QUARTERDECK_DATABASE_URL": database_url,
        "QUARTERDECK_STATE_DIR": str(tmp_path / "state"),
        "QUARTERDECK_LEASE_S": "5",
        "QUARTERDECK_HEARTBEAT_S": "0.5",
        "QUARTERDECK_POLL_MAX_S": "0.05",
        "QUARTERDECK_LLM_BACKOFF_BASE_S": "0.01",
        **extra,
    }
    return env


def _qd(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quarterdeck", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=180,
        check=False,
    )


def _scripts() -> tuple[Script, Script, Script]:
    """One task per provider, so parallel tasks never share a server's script."""
    greet = Script(
        Reply.tools(
            ToolCall("write_file", {"path": "greet.py", "content": "print('hello')\n"}),
            ToolCall("run_command", {"shell": "pwd && python greet.py"}),  # the worktree path is in the answer
            say="Writing greet.py.",
        ),
        Reply.text("greet.py prints hello."),
    )
    shout = Script(
        Reply.tools(ToolCall("read_file", {"path": "greet.py"})),
        Reply.tools(ToolCall("write_file", {"path": "shout.py", "content": "print('HELLO')\n"})),
        Reply.text("shout.py shouts.", input_tokens=2500, output_tokens=40),
    )
    notes = Script(
        Reply.tools(ToolCall("write_file", {"path": "NOTES.md", "content": "# Notes\n\nrecorded, then replayed\n"})),
        Reply.text("notes written", input_tokens=1800, output_tokens=20, cached_tokens=600),
    )
    return greet, shout, notes


def _plan(path: Path, anthropic: str, chat: str, responses: str, *, greet_prompt: str = "Write greet.py.") -> Path:
    def task(task_id: str, prompt: str, provider: str, model: str, url: str, **more: Any) -> dict[str, Any]:
        return {
            "id": task_id,
            "title": f"Task {task_id}",
            "prompt": prompt,
            "runtime": "api-agent",
            "options": {"models": [{"provider": provider, "model": model, "base_url": url}]},
            **more,
        }

    plan = {
        "name": "taped",
        "tasks": [
            task("greet", greet_prompt, "anthropic", "claude-haiku-4-5", anthropic, verify=["python greet.py"]),
            task("shout", "Write shout.py.", "openai-chat", "gpt-4o-mini", chat, depends_on=["greet"]),
            task("notes", "Write NOTES.md.", "openai-responses", "gpt-4.1-mini", responses),
        ],
    }
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


def _costs(run_id: str, env: dict[str, str]) -> dict[str, float]:
    done = _qd("costs", "--run", run_id, "--by", "task", "--json", env=env)
    assert done.returncode == 0, done.stderr
    return {row["key"]: row["cost_usd"] for row in json.loads(done.stdout)}


def test_a_recorded_multi_agent_run_replays_offline_with_the_same_commits_and_costs(
    tmp_path: Path, database_url: str
) -> None:
    pristine = make_repo(tmp_path / "pristine", {"README.md": "# taped\n"})
    recorded_repo = tmp_path / "recorded"
    replayed_repo = tmp_path / "replayed"
    shutil.copytree(pristine, recorded_repo)
    shutil.copytree(pristine, replayed_repo)
    tape = tmp_path / "tapes" / "run.cassette.jsonl"
    keys = {"ANTHROPIC_API_KEY": "sk-ant-rec", "OPENAI_API_KEY": "sk-oai-rec"}

    greet, shout, notes = _scripts()
    servers: list[ScriptedServer] = [AnthropicServer(greet), OpenAIChatServer(shout), OpenAIResponsesServer(notes)]
    for server in servers:
        server.start()
    try:
        urls = (servers[0].url, servers[1].url + "/v1", servers[2].url + "/v1")
        plan = _plan(tmp_path / "plan.yaml", *urls)
        env = _env(database_url, tmp_path, **keys)
        recorded = _qd("run", str(plan), "--repo", str(recorded_repo), "--record", str(tape), "--json", env=env)
    finally:
        for server in servers:
            server.stop()
    assert recorded.returncode == 0, recorded.stderr + recorded.stdout
    sent = [len(s.model_requests()) for s in servers]
    assert sent == [2, 3, 2]
    exchanges = [json.loads(line) for line in tape.read_text().splitlines()]
    assert len(exchanges) == sum(sent)
    assert sorted({e["scope"] for e in exchanges}) == ["greet/1", "notes/1", "shout/1"]
    assert "sk-ant-rec" not in tape.read_text()
    assert "sk-oai-rec" not in tape.read_text()

    # The servers are gone and there are no keys: every answer must come from the cassette.
    offline = _env(database_url, tmp_path)
    replayed = _qd("run", str(plan), "--repo", str(replayed_repo), "--replay", str(tape), "--json", env=offline)
    assert replayed.returncode == 0, replayed.stderr + replayed.stdout

    runs = [json.loads(r.stdout)["run"] for r in (recorded, replayed)]
    trees = [git(repo, "rev-parse", f"{run['integration_branch']}^{{tree}}") for repo, run in zip(
        (recorded_repo, replayed_repo), runs, strict=True)]  # fmt: skip
    assert trees[0] == trees[1]
    assert git(replayed_repo, "show", f"{runs[1]['integration_branch']}:shout.py") == "print('HELLO')\n"
    assert git(replayed_repo, "show", f"{runs[1]['integration_branch']}:NOTES.md").endswith("replayed\n")
    costs = [_costs(run["id"], offline) for run in runs]
    assert costs[0] == costs[1]
    assert set(costs[1]) == {"greet", "shout", "notes"}
    assert all(cost > 0 for cost in costs[1].values())
    assert runs[1]["spent_usd"] == runs[0]["spent_usd"] > 0


def test_a_replay_that_asks_something_new_fails_loudly_naming_the_request(tmp_path: Path, database_url: str) -> None:
    repo = make_repo(tmp_path / "repo")
    tape = tmp_path / "run.cassette.jsonl"
    greet, shout, notes = _scripts()
    servers: list[ScriptedServer] = [AnthropicServer(greet), OpenAIChatServer(shout), OpenAIResponsesServer(notes)]
    for server in servers:
        server.start()
    try:
        urls = (servers[0].url, servers[1].url + "/v1", servers[2].url + "/v1")
        plan = _plan(tmp_path / "plan.yaml", *urls)
        recorded = _qd("run", str(plan), "--repo", str(repo), "--record", str(tape), "--json",
                       env=_env(database_url, tmp_path))  # fmt: skip
        assert recorded.returncode == 0, recorded.stderr + recorded.stdout
        changed = _plan(tmp_path / "changed.yaml", *urls, greet_prompt="Write greet.py, in French.")
    finally:
        for server in servers:
            server.stop()

    replayed = _qd("run", str(changed), "--repo", str(repo), "--replay", str(tape), "--json",
                   env=_env(database_url, tmp_path))  # fmt: skip
    assert replayed.returncode == 1
    tasks = {t["id"]: t for t in json.loads(replayed.stdout)["tasks"]}
    assert tasks["greet"]["status"] == "failed"
    assert f"cassette {tape} holds no answer for request" in tasks["greet"]["error"]
    assert "last: 'Write greet.py, in French.'" in tasks["greet"]["error"]
    assert tasks["notes"]["status"] == "succeeded"  # the unchanged task still replays


def test_record_and_replay_refuse_bad_cassettes_before_anything_runs(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path}/q.db", tmp_path)
    repo = make_repo(tmp_path / "repo")
    plan = _plan(tmp_path / "plan.yaml", "http://127.0.0.1:9", "http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1")
    used = tmp_path / "used.jsonl"
    used.write_text('{"fingerprint": "abc", "response": {"content": []}}\n')
    result = _qd("run", str(plan), "--repo", str(repo), "--record", str(used), env=env)
    assert result.returncode == 2
    assert "already holds a recording" in result.stderr
    broken = tmp_path / "broken.jsonl"
    broken.write_text(used.read_text() + "not json\n")
    result = _qd("run", str(plan), "--repo", str(repo), "--replay", str(broken), env=env)
    assert result.returncode == 2
    assert f"{broken}:2: not a recorded model exchange" in result.stderr
    assert "Traceback" not in result.stderr
    result = _qd("run", str(plan), "--repo", str(repo), "--record", str(tmp_path / "a"), "--replay", str(used), env=env)
    assert result.returncode == 2
    assert "--record and --replay exclude each other" in result.stderr
    assert not (tmp_path / "a").exists()
