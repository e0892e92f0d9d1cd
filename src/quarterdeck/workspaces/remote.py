"""Repositories named by URL: each worker's bare cache of the remote, fetched before and pushed after its work.

A run names its repository by a local path (worked on in place, as ever) or by a git URL (``https://``,
``http://``, ``ssh://``, ``git://``, ``file://``, or ``user@host:path``). For a URL, each machine keeps one
bare repository per remote under its state directory (``<state>/repos/<name>-<hash>.git``), shared by
that machine's worktrees of it:

* ``refs/heads/<integration>`` mirrors the remote's integration branch: fetched (forced) before each attempt
  and before each landing, moved here only after the remote accepted it;
* the remote's task branches of a run are fetched to ``refs/remotes/origin/qd/<run>/*`` (an earlier attempt's
  committed work, from whichever machine), while ``refs/heads/qd/…`` stay this machine's own worktrees' branches;
* a task's commit is pushed to the remote's task branch as soon as it is made, and landing is a compare-and-swap
  push (``--force-with-lease=<ref>:<expected>``) of the integration branch: when another machine landed first,
  the push is refused, and the caller fetches, recomputes, re-checks and tries again (``merge.land``).

A remote that cannot be reached raises ``RepositoryUnavailable``: an infrastructure failure, never the task's.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from quarterdeck.errors import InputError, RepositoryUnavailable
from quarterdeck.workspaces import locks
from quarterdeck.workspaces.git import git

__all__ = ["Remote", "cache_dir", "check_url", "is_url", "open_cache", "repository", "tracking"]

#: URL schemes a run's repository may use (git's ``ext::`` and ``fd::`` transports are never accepted)
SCHEMES = ("https://", "http://", "ssh://", "git://", "file://")
#: scp-like ``user@host:path`` (no scheme), as ``git clone`` reads it
_SCP = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$")
#: the name of the remote in every cache
ORIGIN = "origin"
#: how a refused compare-and-swap push shows in ``git push --porcelain`` (someone else moved the ref)
_REFUSED = re.compile(r"^!\t", re.MULTILINE)


def is_url(repo: str) -> bool:
    """Whether a run's repository is named by a git URL rather than a local path."""
    return repo.startswith(SCHEMES) or bool(_SCP.match(repo))


def repository(text: str) -> Path | str:
    """A repository as the user named it: a URL stays a string (``Path`` would fold its ``//``), else a path."""
    return check_url(text) if is_url(text) else Path(text)


def check_url(url: str) -> str:
    """``url`` if git may use it as a remote: a known scheme, no whitespace or control character, not an option.

    Raises:
        InputError: naming what is wrong.
    """
    if not is_url(url) or url.startswith("-") or any(c.isspace() or ord(c) < 32 for c in url):
        raise InputError(f"{url!r} is not a repository URL git may use ({', '.join(SCHEMES)} or user@host:path)")
    return url


def cache_dir(root: Path, url: str) -> Path:
    """Where this machine caches the remote ``url``: one bare repository per URL under ``root``."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    last = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")
    name = re.sub(r"[^A-Za-z0-9._-]", "_", last)[:40].lstrip(".") or "repo"
    return root / f"{name}-{digest}.git"


@dataclass(frozen=True, slots=True)
class Remote:
    """A machine's cache of one remote repository, and the git operations that go through the network."""

    url: str
    #: the bare repository caching it
    cache: Path

    async def fetch(self, *refspecs: str) -> None:
        """Fetch ``refspecs`` from the remote into the cache (concurrent fetches of one cache queue on its lock).

        Raises:
            RepositoryUnavailable: the remote could not be reached (or refused to be read).
        """
        async with locks.repo_lock(self.cache, "fetch"):
            result = await git(
                self.cache, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", ORIGIN, *refspecs, check=False
            )
        if result.returncode != 0:  # (the cache's refs are written under the same lock: not a local race)
            raise RepositoryUnavailable(f"cannot fetch from {self.url}: {_said(result.stderr)}", self.url)

    async def fetch_run(self, integration: str, run_id: str) -> None:
        """The integration branch (into ``refs/heads``) and the run's task branches (``refs/remotes/origin``)."""
        await self.fetch(
            f"+refs/heads/{integration}:refs/heads/{integration}",
            f"+refs/heads/qd/{run_id}/*:{tracking(f'qd/{run_id}/*')}",
        )

    async def push_branch(self, branch: str) -> None:
        """Push this machine's ``branch`` to the remote's, replacing what is there (a task's own branch).

        Raises:
            RepositoryUnavailable: the remote could not be reached or refused it.
        """
        spec = f"+refs/heads/{branch}:refs/heads/{branch}"
        result = await git(self.cache, "push", "--quiet", "--porcelain", ORIGIN, spec, check=False)
        if result.returncode != 0:
            raise RepositoryUnavailable(f"cannot push {branch} to {self.url}: {_said(result)}", self.url)
        # what the remote now holds, so a later attempt on this machine reads it where it reads others'
        # (every write of the cache's refs holds the fetch lock: a fetch meanwhile would fail on the moved ref)
        async with locks.repo_lock(self.cache, "fetch"):
            await git(self.cache, "update-ref", tracking(branch), f"refs/heads/{branch}")

    async def swap(self, branch: str, new: str, expected: str | None) -> bool:
        """Move the remote's ``branch`` to ``new`` only if it stands at ``expected`` (None: only if absent).

        Returns False when it did not (someone else moved it first: fetch, recompute, try again); the cache's
        ``refs/heads/<branch>`` is moved to ``new`` when it did.

        Raises:
            RepositoryUnavailable: the remote could not be reached, or refused for another reason.
        """
        lease = f"--force-with-lease=refs/heads/{branch}:{expected or ''}"
        result = await git(self.cache, "push", "--porcelain", lease, ORIGIN, f"{new}:refs/heads/{branch}", check=False)
        if result.returncode != 0:
            if _REFUSED.search(result.stdout) and ("stale info" in result.stdout or "rejected" in result.stdout):
                return False
            raise RepositoryUnavailable(f"cannot push {branch} to {self.url}: {_said(result)}", self.url)
        # Unconditionally: a fetch may have brought it already (the remote is the truth); under the fetch lock,
        # as every write of the cache's refs (a fetch meanwhile would fail on the ref moved under it).
        async with locks.repo_lock(self.cache, "fetch"):
            await git(self.cache, "update-ref", f"refs/heads/{branch}", new)
        return True

    async def resolve(self, ref: str) -> str:
        """The commit the remote's ``ref`` (a branch, ``HEAD``, a tag or a commit id) names, fetched into the cache.

        Raises:
            InputError: the remote has no such ref.
            RepositoryUnavailable: the remote could not be reached.
        """
        if ref.startswith("-") or not ref or any(c.isspace() for c in ref):
            raise InputError(f"{ref!r} is not a ref")
        target = f"refs/quarterdeck/base/{secrets.token_hex(6)}"
        async with locks.repo_lock(self.cache, "fetch"):
            result = await git(
                self.cache, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", ORIGIN, f"{ref}:{target}",
                check=False,
            )  # fmt: skip
        if result.returncode != 0:
            if "couldn't find remote ref" in result.stderr or "not our ref" in result.stderr:
                raise InputError(f"{self.url} has no {ref!r}")
            raise RepositoryUnavailable(f"cannot fetch {ref!r} from {self.url}: {_said(result.stderr)}", self.url)
        commit = (await git(self.cache, "rev-parse", "--verify", f"{target}^{{commit}}")).stdout.strip()
        async with locks.repo_lock(self.cache, "fetch"):
            await git(self.cache, "update-ref", "-d", target)
        return commit

    async def create_branch(self, branch: str, start: str) -> None:
        """Create the remote's ``branch`` at ``start`` unless it exists already (then it is fetched as it is)."""
        if not await self.swap(branch, start, None):
            await self.fetch(f"+refs/heads/{branch}:refs/heads/{branch}")

    async def read_file(self, commit: str, path: str) -> str | None:
        """The text of ``path`` in ``commit`` (None when the commit has no such file)."""
        shown = await git(self.cache, "cat-file", "blob", f"{commit}:{path}", check=False)
        return shown.stdout if shown.returncode == 0 else None


def tracking(branch: str) -> str:
    """Where the cache keeps what the remote's ``branch`` held when last fetched."""
    return f"refs/remotes/{ORIGIN}/{branch}"


async def open_cache(root: Path, url: str) -> Remote:
    """This machine's cache of ``url`` under ``root``, made (an empty bare repository) on first use.

    Making it is atomic: it is built under a temporary name and renamed into place, so two processes
    sharing ``root`` never see half of one.
    """
    url = check_url(url)
    path = cache_dir(root, url)
    if not (path / "HEAD").is_file():
        root.mkdir(parents=True, exist_ok=True)
        building = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        try:
            await git(root, "init", "--quiet", "--bare", str(building))
            # the URL only, no fetch refspec: a push then writes none of the cache's refs itself (each is written
            # under the fetch lock, here)
            await git(building, "config", f"remote.{ORIGIN}.url", url)
            # objects only through fetch and push; gc never prunes what a worktree still needs
            await git(building, "config", "gc.auto", "0")
            try:
                os.rename(building, path)
            except OSError:  # another process made it first
                if not (path / "HEAD").is_file():
                    raise
        finally:
            shutil.rmtree(building, ignore_errors=True)
    return Remote(url, path)


def _said(result: object) -> str:
    """The last lines git printed about a failure (a push's porcelain lines, or its error)."""
    text = result if isinstance(result, str) else f"{getattr(result, 'stdout', '')}\n{getattr(result, 'stderr', '')}"
    lines = [line for line in text.strip().splitlines() if line.strip() and line.strip() != "Done"]
    return " | ".join(lines[-3:])[-1000:] or "no output"
