"""``quarterdeck goal`` killed (-9) while the reviewer's request hangs; ``quarterdeck resume`` does not review again
what was reviewed already, nor pay the agent again for work it committed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.domain.statuses import RunStatus
from quarterdeck.settings import Settings
from quarterdeck.store import crews as crew_store
from tests.support.gitrepo import git, make_repo
from tests.support.llm_servers import AnthropicServer, Hang, Reply, Script, ToolCall
from tests.support.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]
MODEL = "claude-haiku-4-5"

pytestmark = pytest.mark.slow

PLAN = {
    "name": "greeting",
    "tasks": [
        {
            "id": "greet",
            "title": "Write greet.py",
            "prompt": "Write greet.py printing hello.",
            "role": "backend",
            "acceptance_criteria": [
                {"text": "greet.py exists", "command": "test -f greet.py"},
                {"text": "greet.py prints a friendly greeting"},
            ],
            "verify": ["python greet.py"],
        }
    ],
}


def verdict(verdict: str, status: str, evidence: str) -> Reply:
    judged = [{"criterion": "2", "status": status, "evidence": evidence}]
    return Reply.text(json.dumps({"criteria": judged, "verdict": verdict, "summary": evidence, "feedback": evidence}))


def _env(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
    return env | {
        "QUARTERDECK_DATABASE_URL": database_url,
        "QUARTERDECK_STATE_DIR": str(tmp_path / "state"),
        "QUARTERDECK_LEASE_S": "2",
        "QUARTERDECK_HEARTBEAT_S": "0.3",
        "QUARTERDECK_POLL_MAX_S": "0.05",
        "QUARTERDECK_KILL_GRACE_S": "1",
    }


def _spawn(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "quarterdeck", *args],
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def review_text(body: Mapping[str, Any]) -> str:
    return str(body["messages"][0]["content"][0]["text"])


async def _read(settings: Settings) -> tuple[Any, list[crew_store.VerdictRecord], list[crew_store.MessageRecord]]:
    async with Quarterdeck(settings) as app:
        (run,) = await app.runs()
        async with app.db.read() as conn:
            verdicts = await crew_store.read_verdicts(conn, run.id)
            messages = await crew_store.read_messages(conn, run.id)
        return run, verdicts, messages


def test_a_run_killed_mid_review_resumes_without_repeating_the_finished_review(
    database_url: str, tmp_path: Path
) -> None:
    hang = Hang(max_s=60)
    reviews = Script(
        verdict("revise", "not_met", "it prints hi, not a greeting"),
        hang,
        verdict("accept", "met", "it prints hello there"),
    )
    work = Script(
        Reply.tools(ToolCall("write_file", {"path": "greet.py", "content": "print('hi')\n"})),
        Reply.text("wrote greet.py"),
        Reply.tools(ToolCall("write_file", {"path": "greet.py", "content": "print('hello there')\n"})),
        Reply.text("greet.py greets"),
    )
    repo = make_repo(tmp_path / "repo", {"README.md": "# greet\n"})
    env = _env(database_url, tmp_path)
    settings = Settings(database_url=database_url, state_dir=tmp_path / "state")
    with (
        AnthropicServer(Script(Reply.text(json.dumps(PLAN)))) as boss,
        AnthropicServer(work) as worker,
        AnthropicServer(reviews) as reviewer,
    ):
        route = '[{{provider = "anthropic", model = "{m}", base_url = "{u}"}}]'
        (repo / ".quarterdeck").mkdir()
        (repo / ".quarterdeck" / "crew.toml").write_text(
            f"[crew]\nmax_revisions = 2\n[crew.manager]\nmodels = {route.format(m=MODEL, u=boss.url)}\n"
            f"[crew.reviewer]\nmodels = {route.format(m=MODEL, u=reviewer.url)}\n"
            f'[crew.roles.backend]\nruntime = "api-agent"\nmodels = {route.format(m=MODEL, u=worker.url)}\n'
        )
        goal = _spawn("goal", "Greet people", "--repo", str(repo), "--yes", "--workers", "1", env=env)
        try:
            # the second review (of the revised work) is in flight at the reviewer: kill the whole run
            wait_for(lambda: len(reviewer.model_requests()) == 2, goal)
            goal.send_signal(signal.SIGKILL)
            goal.communicate(timeout=10)
        finally:
            if goal.poll() is None:
                goal.kill()
                goal.communicate()
        run, verdicts, _ = asyncio.run(_read(settings))
        assert [(v.revision, v.verdict) for v in verdicts] == [(0, "revise")]
        assert len(worker.model_requests()) == 4  # the first try and the revision

        resume = _spawn("resume", run.id, "--workers", "1", env=env)
        out, err = resume.communicate(timeout=120)
        assert resume.returncode == 0, f"{out}\n{err}"
        hang.release.set()

        run, verdicts, messages = asyncio.run(_read(settings))
        assert run.status is RunStatus.SUCCEEDED
        # one more review: the one that was in flight; the finished one (revision 0) was not asked again
        requests = reviewer.model_requests()
        assert [r.answer for r in requests] == ["reply", "hang", "reply"]
        assert "print('hi')" in review_text(requests[0].body)
        assert "hello there" in review_text(requests[1].body)
        assert review_text(requests[2].body) == review_text(requests[1].body)
        assert len(worker.model_requests()) == 4  # the agent's committed work was not paid for twice
        assert [
            (v.revision, v.verdict, [(c["criterion"], c["status"], c["by"]) for c in v.criteria]) for v in verdicts
        ] == [
            (0, "revise", [("1", "met", "command"), ("2", "not_met", "reviewer")]),
            (1, "accept", [("1", "met", "command"), ("2", "met", "reviewer")]),
        ]
        assert len({v.attempt_id for v in verdicts}) == 1  # stored under the attempt whose work was reviewed
        reviews_asked = [m for m in messages if m.type == "review"]
        assert [m.data["revision"] for m in reviews_asked] == [0, 1, 1]  # the lost request and its retry
        assert git(repo, "show", f"{run.integration_branch}:greet.py") == "print('hello there')\n"
