"""The GitLab adapter of the ``Forge`` port, through python-gitlab (REST v4).

A merge request is a draft while its title starts with ``Draft:``; marking it ready removes that.
python-gitlab is synchronous: each call runs in a worker thread, its errors translated once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import gitlab
import requests

from quarterdeck.domain.forges import ChecksState, PullRequest
from quarterdeck.errors import ForgeError

__all__ = ["GitLabForge"]

T = TypeVar("T")
_DRAFT = "Draft: "


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except gitlab.GitlabError as exc:
        raise ForgeError(
            f"GitLab refused to {what}: {exc.response_code} {exc.error_message}".strip(), status=exc.response_code
        ) from None
    except (OSError, requests.RequestException) as exc:
        raise ForgeError(f"GitLab could not be reached to {what}: {exc}") from None


class GitLabForge:
    """One project on GitLab (``api_url`` is the instance, e.g. ``https://gitlab.com``)."""

    kind = "gitlab"

    def __init__(self, *, api_url: str, repository: str, token: str, timeout_s: float = 15) -> None:
        self._client = gitlab.Gitlab(api_url, private_token=token, timeout=timeout_s, retry_transient_errors=False)
        self._project = self._client.projects.get(repository, lazy=True)
        self.repository = repository

    async def _call(self, what: str, call: Callable[[], T]) -> T:
        def run() -> T:
            with _translated(what):
                return call()

        return await asyncio.to_thread(run)

    async def find_pull_request(self, head: str) -> PullRequest | None:
        def find() -> PullRequest | None:
            found = self._project.mergerequests.list(source_branch=head, state="opened", get_all=False)
            return _merge_request(found[0].attributes) if found else None

        return await self._call("list merge requests", find)

    async def open_pull_request(self, *, head: str, base: str, title: str, body: str, draft: bool) -> PullRequest:
        data = {
            "source_branch": head,
            "target_branch": base,
            "title": (_DRAFT if draft else "") + title,
            "description": body,
        }
        return await self._call(
            "open a merge request", lambda: _merge_request(self._project.mergerequests.create(data).attributes)
        )

    async def update_pull_request(self, number: int, *, title: str, body: str) -> None:
        def update() -> None:
            mr = self._project.mergerequests.get(number)
            draft = str(mr.title).startswith(_DRAFT)
            mr.title = (_DRAFT if draft else "") + title
            mr.description = body
            mr.save()

        await self._call("update a merge request", update)

    async def mark_ready(self, pull: PullRequest) -> None:
        def ready() -> None:
            mr = self._project.mergerequests.get(pull.number)
            if str(mr.title).startswith(_DRAFT):
                mr.title = str(mr.title).removeprefix(_DRAFT)
                mr.save()

        await self._call("mark a merge request ready", ready)

    async def checks(self, commit: str) -> ChecksState:
        def combined() -> ChecksState:
            statuses = self._project.commits.get(commit, lazy=True).statuses.list(get_all=True)
            states = [str(s.status) for s in statuses]
            if not states:
                return "none"
            if any(s in ("failed", "canceled") for s in states):
                return "failure"
            if any(s in ("pending", "running", "created", "preparing", "waiting_for_resource") for s in states):
                return "pending"
            return "success"

        return await self._call("read a commit's pipeline", combined)

    async def comment_issue(self, number: int, body: str) -> None:
        await self._call(
            "comment on an issue",
            lambda: self._project.issues.get(number, lazy=True).notes.create({"body": body}),
        )


def _merge_request(attrs: dict[str, Any]) -> PullRequest:
    title = str(attrs.get("title") or "")
    return PullRequest(
        number=int(attrs["iid"]),
        url=str(attrs.get("web_url") or ""),
        head=str(attrs.get("source_branch") or ""),
        base=str(attrs.get("target_branch") or ""),
        draft=bool(attrs.get("draft") or attrs.get("work_in_progress") or title.startswith(_DRAFT)),
    )
