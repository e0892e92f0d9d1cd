"""The api-agent's durable progress: its conversation after each completed turn, and the worktree's files with it.

After every completed turn the runtime hands the engine a ``Transcript`` (``TaskContext.save_state``), which
the engine keeps in the task's checkpoint in the database, so it survives the worker and its machine. The
files the agent changed are kept as a *snapshot*: a commit (never on a branch; held by the ref
``refs/quarterdeck/checkpoints/<run>/<task>``) of the worktree's tree, whose parent is the commit the run
started from. A resumed attempt gets a fresh worktree, possibly at a newer integration head; the snapshot is
merged onto it (``git merge-tree``), so the agent finds its files as it left them, and the conversation goes
on from the last completed turn without sending any completed model call again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from quarterdeck.llm.messages import Message, ToolUseBlock
from quarterdeck.runtimes.base import TokenUsage
from quarterdeck.workspaces.git import git

__all__ = [
    "Pending",
    "ResumePlan",
    "Transcript",
    "checkpoint_refs",
    "delete_refs",
    "restore_snapshot",
    "resume_plan",
    "take_snapshot",
]

_FORMAT = "api-agent/1"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "Quarterdeck",
    "GIT_AUTHOR_EMAIL": "quarterdeck@localhost",
    "GIT_COMMITTER_NAME": "Quarterdeck",
    "GIT_COMMITTER_EMAIL": "quarterdeck@localhost",
}


@dataclass(slots=True)
class Pending:
    """What a run has spent so far and not yet reported: it is carried into the run that resumes it."""

    cost_usd: float = 0.0
    tokens: TokenUsage = field(default_factory=TokenUsage)
    turns: int = 0
    #: the dearest single call so far (the budget keeps room for one more like it)
    dearest_usd: float = 0.0
    unpriced: bool = False
    model: str | None = None

    def to_json(self) -> dict[str, Any]:
        t = self.tokens
        return {
            "cost_usd": self.cost_usd,
            "tokens": [t.input, t.output, t.cache_read, t.cache_write, t.reasoning],
            "turns": self.turns,
            "dearest_usd": self.dearest_usd,
            "unpriced": self.unpriced,
            "model": self.model,
        }

    @classmethod
    def from_json(cls, data: Any) -> Pending:
        if not isinstance(data, dict):
            return cls()
        counts = [int(n) for n in data.get("tokens") or [] if isinstance(n, int)]
        model = data.get("model")
        return cls(
            cost_usd=float(data.get("cost_usd") or 0.0),
            tokens=TokenUsage(*counts[:5]) if len(counts) >= 5 else TokenUsage(),
            turns=int(data.get("turns") or 0),
            dearest_usd=float(data.get("dearest_usd") or 0.0),
            unpriced=bool(data.get("unpriced")),
            model=model if isinstance(model, str) else None,
        )


@dataclass(slots=True)
class Transcript:
    """A session's conversation after its last completed turn, the worktree snapshot that goes with it, and
    the spend of the run that wrote it when that run has not ended (``pending``)."""

    session: str
    messages: list[Message]
    #: completed turns in the whole session
    turns: int = 0
    #: the commit holding the worktree's files after the last completed turn; None: the worktree as prepared
    snapshot: str | None = None
    pending: Pending | None = None

    @property
    def complete(self) -> bool:
        """Whether the conversation ends with a final answer (an assistant turn without tool calls)."""
        last = self.messages[-1] if self.messages else None
        return (
            last is not None and last.role == "assistant" and not any(isinstance(b, ToolUseBlock) for b in last.content)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "session": self.session,
            "messages": [m.model_dump(mode="json") for m in self.messages],
            "turns": self.turns,
            "snapshot": self.snapshot,
            "pending": self.pending.to_json() if self.pending is not None else None,
        }

    @classmethod
    def from_json(cls, data: Any) -> Transcript | None:
        """The transcript in ``data``; None when it is not one this version wrote (then the run starts anew)."""
        if not isinstance(data, dict) or data.get("format") != _FORMAT or not isinstance(data.get("session"), str):
            return None
        try:
            messages = [Message.model_validate(m) for m in data.get("messages") or []]
        except ValidationError:
            return None
        snapshot = data.get("snapshot")
        pending = data.get("pending")
        return cls(
            session=data["session"],
            messages=messages,
            turns=int(data.get("turns") or 0),
            snapshot=snapshot if isinstance(snapshot, str) else None,
            pending=Pending.from_json(pending) if pending is not None else None,
        )


#: ``continue``: restore the files, go on from the last completed turn; ``finished``: the session had
#: answered, restore the files and return that answer; ``follow-up``: add the follow-up turn to the kept
#: conversation; ``elsewhere``: the state is another session's, look for the conversation on disk; ``fresh``
ResumePlan = Literal["continue", "finished", "follow-up", "elsewhere", "fresh"]


def resume_plan(state: Transcript | None, resume_session: str | None) -> ResumePlan:
    """What a run does with the state an earlier run of the task kept, given the session it is asked to resume.

    A conversation that awaits a model call was interrupted (a crash, a lost lease): it continues as it was,
    even when the engine asks for a follow-up (that turn is already in it). A finished conversation takes
    the follow-up when there is one; without one, the work was done and only its recording was lost.
    """
    if state is None:
        return "elsewhere" if resume_session is not None else "fresh"
    if resume_session is not None and state.session != resume_session:
        return "elsewhere"
    if not state.complete:
        return "continue"
    return "follow-up" if resume_session is not None else "finished"


#: where the snapshots' refs live: ``<_CHECKPOINTS>/<run>/<task>``
_CHECKPOINTS = "refs/quarterdeck/checkpoints"


def checkpoint_ref(run_id: str, task_id: str) -> str:
    return f"{_CHECKPOINTS}/{run_id}/{task_id}"


async def checkpoint_refs(repo: Path, run_id: str) -> list[str]:
    """The snapshot refs of the run's tasks in ``repo``; none when the repository is gone."""
    if not repo.is_dir():
        return []
    listed = await git(repo, "for-each-ref", "--format=%(refname)", f"{_CHECKPOINTS}/{run_id}/", check=False)
    return listed.stdout.split() if listed.returncode == 0 else []


async def delete_refs(repo: Path, refs: list[str]) -> None:
    """Delete ``refs`` in one transaction (their snapshots become garbage for git's own gc)."""
    if refs:
        await git(repo, "update-ref", "--stdin", stdin="".join(f"delete {ref}\n" for ref in refs))


async def head(workdir: Path) -> str:
    """The commit the worktree's HEAD is at."""
    return (await git(workdir, "rev-parse", "HEAD")).stdout.strip()


async def take_snapshot(workdir: Path, *, index: Path, parent: str, ref: str) -> str:
    """Commit the worktree's files (what ``git add --all`` sees) on top of ``parent``, without touching the
    worktree's own index or branch; ``ref`` keeps the commit from garbage collection. Returns the commit."""
    env = {"GIT_INDEX_FILE": str(index), **_IDENTITY}
    index.unlink(missing_ok=True)
    await git(workdir, "read-tree", "HEAD", env=env)  # from HEAD: a tracked file matching .gitignore is kept
    await git(workdir, "add", "--all", env=env)
    tree = (await git(workdir, "write-tree", env=env)).stdout.strip()
    commit = (
        await git(workdir, "commit-tree", tree, "-p", parent, "-m", "Quarterdeck turn checkpoint", env=env)
    ).stdout.strip()
    await git(workdir, "update-ref", ref, commit)
    index.unlink(missing_ok=True)
    return commit


async def restore_snapshot(workdir: Path, snapshot: str) -> str | None:
    """Bring the snapshot's changes into the worktree (merged onto its HEAD); None when that worked, else why not."""
    exists = await git(workdir, "cat-file", "-e", f"{snapshot}^{{commit}}", check=False)
    if exists.returncode != 0:
        return f"the checkpoint commit {snapshot} is not in the repository"
    merged = await git(workdir, "merge-tree", "--write-tree", "--no-messages", "HEAD", snapshot, check=False)
    if merged.returncode != 0:
        return f"the checkpoint {snapshot} conflicts with {await head(workdir)}"
    tree = merged.stdout.split()[0]
    await git(workdir, "read-tree", "-u", "--reset", tree)
    return None
