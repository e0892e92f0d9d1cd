"""The GitHub adapter of the ``Forge`` port, through PyGithub (REST, and GraphQL to mark a draft ready).

PyGithub is synchronous: each call runs in a worker thread. Its errors are translated once, in
``_translated``, into ``ForgeError`` with GitHub's status and message (never the token).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import TypeVar

import github
from github import Auth, Github, GithubException

from quarterdeck.domain.forges import ChecksState, PullRequest
from quarterdeck.errors import ForgeError

__all__ = ["GitHubForge"]

T = TypeVar("T")


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except GithubException as exc:
        data = exc.data if isinstance(exc.data, dict) else {}
        detail = data.get("message") or exc.message or ""
        raise ForgeError(f"GitHub refused to {what}: {exc.status} {detail}".strip(), status=exc.status) from None
    except (OSError, github.BadAttributeException) as exc:
        raise ForgeError(f"GitHub could not be reached to {what}: {exc}") from None


class GitHubForge:
    """One repository on GitHub (or GitHub Enterprise: ``api_url`` ending in ``/api/v3``)."""

    kind = "github"

    def __init__(self, *, api_url: str, repository: str, token: str, timeout_s: float = 15) -> None:
        self._client = Github(
            base_url=api_url, auth=Auth.Token(token), lazy=True, timeout=int(timeout_s), retry=None, per_page=100
        )
        self._repo = self._client.get_repo(repository)
        self.repository = repository

    async def _call(self, what: str, call: Callable[[], T]) -> T:
        def run() -> T:
            with _translated(what):
                return call()

        return await asyncio.to_thread(run)

    async def find_pull_request(self, head: str) -> PullRequest | None:
        owner = self.repository.split("/", 1)[0]

        def find() -> PullRequest | None:
            for pull in self._repo.get_pulls(state="open", head=f"{owner}:{head}"):
                return _pull(pull)
            return None

        return await self._call("list pull requests", find)

    async def open_pull_request(self, *, head: str, base: str, title: str, body: str, draft: bool) -> PullRequest:
        return await self._call(
            "open a pull request",
            lambda: _pull(self._repo.create_pull(base=base, head=head, title=title, body=body, draft=draft)),
        )

    async def update_pull_request(self, number: int, *, title: str, body: str) -> None:
        await self._call("update a pull request", lambda: self._repo.get_pull(number).edit(title=title, body=body))

    async def mark_ready(self, pull: PullRequest) -> None:
        await self._call("mark a pull request ready", lambda: self._repo.get_pull(pull.number).mark_ready_for_review())

    async def checks(self, commit: str) -> ChecksState:
        def combined() -> ChecksState:
            head = self._repo.get_commit(commit)
            states = [s.state for s in head.get_combined_status().statuses]
            for run in head.get_check_runs():
                if run.status != "completed":
                    states.append("pending")
                else:
                    states.append("success" if run.conclusion in ("success", "neutral", "skipped") else "failure")
            return _combine(states)

        return await self._call("read a commit's checks", combined)

    async def comment_issue(self, number: int, body: str) -> None:
        await self._call("comment on an issue", lambda: self._repo.get_issue(number).create_comment(body))


def _pull(pull: github.PullRequest.PullRequest) -> PullRequest:
    return PullRequest(
        number=pull.number,
        url=pull.html_url,
        head=pull.head.ref,
        base=pull.base.ref,
        draft=bool(pull.draft),
        node_id=pull.node_id,
    )


def _combine(states: list[str]) -> ChecksState:
    """GitHub's combined state: any failure or error fails, else any pending is pending."""
    if not states:
        return "none"
    if any(s in ("failure", "error") for s in states):
        return "failure"
    if any(s == "pending" for s in states):
        return "pending"
    return "success"
