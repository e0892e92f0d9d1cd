"""A goal end to end: the manager plans four tasks, api-agent workers build them, the reviewer judges each
criterion, a failed task is re-planned. Every model is a local server speaking the Anthropic wire format."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from quarterdeck.app import Quarterdeck
from quarterdeck.crews import audit, gates, goals, manager, replan
from quarterdeck.crews.config import load_crew_config
from quarterdeck.crews.models import Asker
from quarterdeck.domain.statuses import RunStatus, TaskStatus
from quarterdeck.store import crews as crew_store
from tests.support.gitrepo import git
from tests.support.llm_servers import AnthropicServer, Reply, Script, ToolCall

MODEL = "claude-haiku-4-5"


def task(
    id: str, title: str, role: str, criteria: list[Any], verify: list[str], deps: Sequence[str] = (), **extra: Any
) -> dict[str, Any]:
    return {
        "id": id,
        "title": title,
        "prompt": f"{title}.",
        "role": role,
        "depends_on": list(deps),
        "acceptance_criteria": criteria,
        "verify": verify,
        "estimate_usd": 0.05,
        **extra,
    }


PLAN = {
    "name": "users",
    "summary": "A user model, an API over it, a CLI, and docs.",
    "tasks": [
        task(
            "models",
            "Add the User model",
            "backend",
            [{"text": "app/models.py defines a User class"}],
            ["python -c 'import app.models'"],
        ),
        task(
            "api",
            "Add get_user",
            "backend",
            [{"text": "app/api.py exists", "command": "test -f app/api.py"}, {"text": "get_user returns a User"}],
            ["python -c 'import app.api'"],
            ["models"],
        ),
        task(
            "cli",
            "Add the CLI",
            "backend",
            [{"text": "app/cli.py has VERSION 2"}],
            ["python -c 'import app.cli; assert app.cli.VERSION == 2'"],
            ["api"],
            max_revisions=1,
        ),
        task("docs", "Document the CLI", "docs", [{"text": "docs/usage.md explains the CLI"}], [], ["cli"]),
    ],
}

REPLAN = {
    "reason": "The CLI task kept writing VERSION 1; a smaller task with the exact value will do.",
    "changes": [
        {
            "action": "replace",
            "task": "cli",
            "tasks": [
                task(
                    "cli-v2",
                    "Set the CLI version",
                    "backend",
                    [{"text": "app/cli.py has VERSION 2"}],
                    ["python -c 'import app.cli; assert app.cli.VERSION == 2'"],
                    ["api"],
                ),
            ],
        }
    ],
}


def write(path: str, content: str) -> tuple[Reply, Reply]:
    return Reply.tools(ToolCall("write_file", {"path": path, "content": content})), Reply.text(f"wrote {path}")


#: what each worker answers, per task title, request by request (revisions continue the same list)
WORK: dict[str, list[Reply]] = {
    "Add the User model": [*write("app/models.py", "class User:\n    pass\n")],
    "Add get_user": [
        *write("app/api.py", "from app.models import User\n\ndef get_user():\n    return None\n"),
        *write("app/api.py", "from app.models import User\n\ndef get_user():\n    return User()\n"),
    ],
    "Add the CLI": [*write("app/cli.py", "VERSION = 1\n"), *write("app/cli.py", "VERSION = 1\n")],
    "Set the CLI version": [*write("app/cli.py", "VERSION = 2\n")],
    "Document the CLI": [*write("docs/usage.md", "# Usage\n\nRun the CLI.\n")],
}


def verdict(verdict: str, *criteria: tuple[str, str, str], feedback: str = "") -> Reply:
    judged = [{"criterion": c, "status": s, "evidence": e} for c, s, e in criteria]
    return Reply.text(
        json.dumps({"criteria": judged, "verdict": verdict, "summary": f"{verdict}.", "feedback": feedback})
    )


#: what the reviewer answers, per task id, review by review
REVIEWS: dict[str, list[Reply]] = {
    "models": [verdict("accept", ("1", "met", "app/models.py: class User"))],
    "api": [
        verdict("revise", ("2", "not_met", "get_user returns None"), feedback="Return a User from get_user."),
        verdict("accept", ("2", "met", "get_user returns User()")),
    ],
    "cli-v2": [verdict("accept", ("1", "met", "VERSION = 2"))],
    "docs": [verdict("accept", ("1", "met", "docs/usage.md has a Usage section"))],
}


class Dispatch:
    """Answers each request from the list of the task it is about (found by ``key``), in order."""

    def __init__(self, answers: Mapping[str, list[Reply]], key: Callable[[Mapping[str, Any]], str]) -> None:
        self.answers = {k: list(v) for k, v in answers.items()}
        self.key = key
        self.asked: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, body: Mapping[str, Any]) -> Reply:
        name = self.key(body)
        with self.lock:
            self.asked[name] = self.asked.get(name, 0) + 1
            return self.answers[name].pop(0)


def worker_key(body: Mapping[str, Any]) -> str:
    match = re.search(r"# Task: (.+)", body["system"])
    assert match is not None
    return match.group(1).strip()


def reviewer_key(body: Mapping[str, Any]) -> str:
    match = re.match(r"Task ([\w-]+):", body["messages"][0]["content"][0]["text"])
    assert match is not None
    return match.group(1)


@pytest.fixture
def servers() -> Iterator[tuple[AnthropicServer, AnthropicServer, AnthropicServer, Dispatch, Dispatch]]:
    workers = Dispatch(WORK, worker_key)
    reviews = Dispatch(REVIEWS, reviewer_key)
    with (
        AnthropicServer(Script(Reply.text(json.dumps(PLAN)), Reply.text(json.dumps(REPLAN)))) as boss,
        AnthropicServer(Script(then=workers)) as work,
        AnthropicServer(Script(then=reviews)) as review,
    ):
        yield boss, work, review, workers, reviews


def crew_toml(repo: Path, boss: str, work: str, review: str) -> None:
    route = '[{{provider = "anthropic", model = "{m}", base_url = "{u}"}}]'
    (repo / ".quarterdeck").mkdir(exist_ok=True)
    (repo / ".quarterdeck" / "crew.toml").write_text(
        f"[crew]\nmax_revisions = 2\n"
        f"[crew.manager]\nmodels = {route.format(m=MODEL, u=boss)}\n"
        f"[crew.reviewer]\nmodels = {route.format(m=MODEL, u=review)}\n"
        f'[crew.roles.backend]\nruntime = "api-agent"\nmodels = {route.format(m=MODEL, u=work)}\nconcurrency = 1\n'
        f'[crew.roles.docs]\nruntime = "api-agent"\nmodels = {route.format(m=MODEL, u=work)}\n'
        'instructions = "Write for users."\n'
    )


async def test_a_goal_is_planned_approved_built_reviewed_and_replanned(
    app: Quarterdeck, repo: Path, servers: tuple[AnthropicServer, AnthropicServer, AnthropicServer, Dispatch, Dispatch]
) -> None:
    boss, work, review, workers, _ = servers
    crew_toml(repo, boss.url, work.url, review.url)
    crew = load_crew_config(repo)
    asker = Asker(crew.manager)

    planned = await manager.plan_goal("Users with an API, a CLI and docs", crew, asker)
    assert [t.id for t in planned.plan.tasks] == ["models", "api", "cli", "docs"]
    assert [t.role for t in planned.plan.tasks] == ["backend", "backend", "backend", "docs"]
    assert planned.plan.by_id()["api"].acceptance_criteria[0].text == "app/api.py exists (run: `test -f app/api.py`)"
    assert planned.plan.by_id()["docs"].prompt == "Document the CLI.\n\nWrite for users."
    assert planned.plan.by_id()["cli"].max_revisions == 1
    assert planned.plan.by_id()["models"].max_revisions == 2  # the crew's default

    started = await goals.start_run(
        app.db,
        app.registry,
        "Users with an API, a CLI and docs",
        planned,
        crew,
        asker,
        repo=repo,
        approve=True,
        org_id="default",
    )
    run_id = started.run.id
    assert started.run.status is RunStatus.WAITING
    assert started.approval is not None
    assert [a.id for a in await gates.pending(app.db, org_id="default")] == [started.approval.id]
    # nothing runs before the plan is approved
    assert work.model_requests() == []

    decided = await gates.decide(app.db, org_id="default", approval_id=started.approval.id, approve=True, by="ada")
    assert (decided.status, decided.decided_by) == ("approved", "ada")
    assert decided.decided_at is not None

    view = await app.run_until_done(run_id, worker=app.worker(slots=1, run_id=run_id), tick_s=0.02)
    status = {t.id: t.status for t in view.tasks}
    assert status == {
        "models": TaskStatus.SUCCEEDED,
        "api": TaskStatus.SUCCEEDED,
        "cli": TaskStatus.FAILED,
        "docs": TaskStatus.BLOCKED,
    }
    cli = view.tasks[2]
    assert "verification \"python -c 'import app.cli; assert app.cli.VERSION == 2'\"" in (cli.error or "") or (
        "after 1 revision" in (cli.error or "")
    )
    assert workers.asked["Add the CLI"] == 4  # the first try and one revision, two model calls each

    async with app.db.read() as conn:
        verdicts = await crew_store.read_verdicts(conn, run_id)
    by_task = {(v.task_id, v.revision): v for v in verdicts}
    assert sorted(by_task) == [("api", 0), ("api", 1), ("models", 0)]
    first = by_task[("api", 0)]
    assert first.verdict == "revise"
    assert [(c["criterion"], c["status"], c["by"]) for c in first.criteria] == [
        ("1", "met", "command"),
        ("2", "not_met", "reviewer"),
    ]
    assert first.criteria[0]["evidence"].startswith("`test -f app/api.py` exited 0")
    assert first.criteria[1]["evidence"] == "get_user returns None"
    assert [(c["criterion"], c["status"]) for c in by_task[("api", 1)].criteria] == [("1", "met"), ("2", "met")]
    assert by_task[("api", 1)].verdict == "accept"
    api_reviews = [r for r in review.model_requests() if reviewer_key(r.body) == "api"]
    assert len(api_reviews) == 2
    asked = api_reviews[0].body["messages"][0]["content"][0]["text"]
    assert "2. get_user returns a User" in asked
    assert "1. app/api.py exists" not in asked  # decided by its command, not by opinion
    assert "return None" in asked  # the diff is the evidence
    # the feedback went back to the same agent session
    revision_turn = [r for r in work.model_requests() if worker_key(r.body) == "Add get_user"][2]
    texts = [
        b["text"]
        for m in revision_turn.body["messages"]
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "text"
    ]
    assert any("criterion 2 (get_user returns a User): not_met — get_user returns None" in t for t in texts)
    assert git(repo, "show", f"{view.run.integration_branch}:app/api.py").endswith("return User()\n")

    # re-planning after the failure, under the same approval rule
    proposal = await replan.propose(app.db, run_id, "cli", crew, Asker(crew.manager))
    assert [(c["action"], c["task"], [t["id"] for t in c["tasks"]]) for c in proposal.changes] == [
        ("replace", "cli", ["cli-v2"])
    ]
    async with app.db.transaction() as conn:
        gate = await gates.request(
            conn,
            org_id="default",
            kind="replan",
            payload={"version": proposal.version},
            requested_by="manager",
            run_id=run_id,
            task_id="cli",
        )
    await gates.decide(app.db, org_id="default", approval_id=gate.id, approve=True, by="ada", reason="fine")
    view = await app.run_until_done(run_id, worker=app.worker(slots=1, run_id=run_id), tick_s=0.02)
    status = {t.id: t.status for t in view.tasks}
    assert status["cli-v2"] is TaskStatus.SUCCEEDED
    assert status["docs"] is TaskStatus.SUCCEEDED
    assert status["cli"] is TaskStatus.FAILED  # replaced: its history stays, its failure no longer fails the run
    assert view.run.status is RunStatus.SUCCEEDED
    assert git(repo, "show", f"{view.run.integration_branch}:app/cli.py") == "VERSION = 2\n"
    assert git(repo, "show", f"{view.run.integration_branch}:docs/usage.md").startswith("# Usage")

    async with app.db.read() as conn:
        versions = await crew_store.read_plan_versions(conn, run_id)
        team = await crew_store.read_team(conn, run_id)
        messages = await crew_store.read_messages(conn, run_id)
    assert [(v.version, v.author, v.status) for v in versions] == [(1, "manager", "applied"), (2, "manager", "applied")]
    assert [t["id"] for t in versions[0].plan["tasks"]] == ["models", "api", "cli", "docs"]
    assert [(m.name, m.kind, m.concurrency) for m in team] == [
        ("manager", "manager", 1),
        ("backend", "worker", 1),
        ("docs", "worker", 1),
        ("reviewer", "reviewer", 1),
    ]
    log = [(m.sender, m.recipient, m.type, m.task_id) for m in messages]
    assert log[:2] == [("quarterdeck", "manager", "goal", None), ("manager", "quarterdeck", "plan", None)]
    assert log[2:6] == [
        ("manager", r, "assignment", t)
        for t, r in [("models", "backend"), ("api", "backend"), ("cli", "backend"), ("docs", "docs")]
    ]
    assert ("ada", "manager", "decision", None) in log
    api_log = [(s, r, t) for s, r, t, task_id in log if task_id == "api"]
    assert api_log == [
        ("manager", "backend", "assignment"),
        ("quarterdeck", "reviewer", "review"),
        ("reviewer", "quarterdeck", "verdict"),
        ("reviewer", "backend", "revision"),
        ("backend", "reviewer", "result"),
        ("quarterdeck", "reviewer", "review"),
        ("reviewer", "quarterdeck", "verdict"),
    ]
    assert ("manager", "quarterdeck", "proposal", "cli") in log
    trail = await audit.trail(app.db, run_id)
    assert [e.at for e in trail] == sorted(e.at for e in trail)
    kinds = [e.kind for e in trail]
    assert kinds.count("verdict") == 5
    assert kinds.count("plan") == 2
    decisions = [e.summary for e in trail if e.kind == "decision"]
    assert decisions == [
        f"plan approval requested ({started.approval.id})",
        "plan approved",
        f"replan approval requested ({gate.id})",
        "replan approved: fine",
    ]
    # the manager's and the reviewer's calls are costs of the run
    run = (await app.view(run_id)).run
    assert run.spent_usd > 0
