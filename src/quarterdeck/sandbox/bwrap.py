"""The bubblewrap command line of one sandboxed step.

What the step sees:

- the system read-only: ``/usr`` (and the ``/bin``, ``/lib*``, ``/sbin`` links to it), ``/etc`` without its
  secrets (``shadow``, ``gshadow``, ``ssh`` host keys, ``sudoers``, private TLS keys), ``/opt``;
- its worktree (and the attempt's agent area) read-write, at the same paths as outside;
- the repository's git directory read-write, so ``git commit`` works — but its ``config`` and ``hooks``
  read-only, since Quarterdeck's own git runs them outside the sandbox;
- the directories of the programs it runs (interpreter, ``PATH`` entries, an agent CLI's package)
  read-only, unless one of them would reveal a hidden path;
- a private ``/tmp``, ``/var/tmp`` and ``$HOME`` (empty tmpfs at the user's home path), fresh ``/proc``
  and ``/dev``.

Nothing else: not the state directory, the database, the key ring, other worktrees or the user's home.
It runs in its own PID, IPC and UTS namespaces (and network namespace unless the network is ``open``),
in a new session, and dies with its parent. The environment bwrap starts with *is* the step's
environment — bubblewrap's PID 1 keeps the environment it was started with, readable at
``/proc/1/environ``, so it must never be the worker's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Layout", "bwrap_argv", "git_dirs", "is_under", "program_dirs", "usable"]

#: files and directories of /etc a step never sees
ETC_SECRETS = ("shadow", "shadow-", "gshadow", "gshadow-", "sudoers", "security/opasswd", "master.passwd")
ETC_SECRET_DIRS = ("ssh", "sudoers.d", "ssl/private", "credstore", "credstore.encrypted")
_SYSTEM = (Path("/usr"), Path("/etc"), Path("/opt"))


def is_under(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


@dataclass(frozen=True, slots=True)
class Layout:
    """The filesystem of one sandbox."""

    #: read-write at the same path (the worktree first: it is also the working directory)
    rw: tuple[Path, ...]
    #: read-only at the same path
    ro: tuple[Path, ...] = ()
    #: read-only over part of a read-write bind (a git directory's ``config`` and ``hooks``)
    ro_over: tuple[Path, ...] = ()
    #: (source, target): read-only at another path (the egress socket)
    ro_at: tuple[tuple[Path, Path], ...] = ()
    home: Path = Path("/root")
    skipped: list[str] = field(default_factory=list)


def _system_links() -> list[str]:
    args: list[str] = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args


def _etc_hiding() -> list[str]:
    args: list[str] = []
    for name in ETC_SECRETS:
        if (Path("/etc") / name).is_file():
            args += ["--ro-bind", "/dev/null", f"/etc/{name}"]
    for name in ETC_SECRET_DIRS:
        if (Path("/etc") / name).is_dir():
            args += ["--tmpfs", f"/etc/{name}"]
    return args


def bwrap_argv(bwrap: str, layout: Layout, cwd: Path, *, share_net: bool) -> list[str]:
    """bwrap's options up to (not including) the command."""
    argv = [bwrap, "--ro-bind", "/usr", "/usr", *_system_links(), "--ro-bind", "/etc", "/etc", *_etc_hiding()]
    if Path("/opt").is_dir():
        argv += ["--ro-bind", "/opt", "/opt"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp", "--tmpfs", str(layout.home)]
    for path in layout.ro:
        argv += ["--ro-bind", str(path), str(path)]
    for path in layout.rw:
        argv += ["--bind", str(path), str(path)]
    for path in layout.ro_over:
        argv += ["--ro-bind", str(path), str(path)]
    for source, target in layout.ro_at:
        argv += ["--ro-bind", str(source), str(target)]
    argv += ["--chdir", str(cwd), "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if not share_net:
        argv.append("--unshare-net")
    argv += ["--hostname", "sandbox", "--new-session", "--die-with-parent"]
    return argv


def git_dirs(worktree: Path) -> tuple[list[Path], list[Path]]:
    """(read-write, read-only over them) for git to work in ``worktree``: its common git directory."""
    dot = worktree / ".git"
    if not dot.is_file():
        return [], []
    try:
        text = dot.read_text(encoding="utf-8").strip()
    except OSError:
        return [], []
    if not text.startswith("gitdir:"):
        return [], []
    admin = (worktree / text.removeprefix("gitdir:").strip()).resolve()
    common = admin
    commondir = admin / "commondir"
    if commondir.is_file():
        common = (admin / commondir.read_text(encoding="utf-8").strip()).resolve()
    guarded = [p for p in (common / "config", common / "hooks", admin / "config.worktree") if p.exists()]
    rw = [common] if is_under(admin, common) else [common, admin]
    return rw, guarded


def program_dirs(argv0: str, path_env: str | None, interpreter_dirs: Iterable[Path]) -> list[Path]:
    """Directories the step's programs live in: each ``PATH`` entry, the interpreter's, and the package of
    ``argv0`` (an agent CLI under ``node_modules`` needs its whole package tree, read-only)."""
    found: list[Path] = []
    for entry in (path_env or "").split(os.pathsep):
        if entry and os.path.isabs(entry) and os.path.isdir(entry):
            found.append(Path(entry))
    found += interpreter_dirs
    program = Path(argv0)
    if program.is_absolute() and program.exists():
        for candidate in (program, program.resolve()):
            parts = candidate.parts
            if "node_modules" in parts:
                root = Path(*parts[: parts.index("node_modules") + 1])
                found.append(root)
            else:
                found.append(candidate.parent)
    return found


def usable(paths: Sequence[Path], never: Sequence[Path], not_above: Sequence[Path], skipped: list[str]) -> list[Path]:
    """``paths`` that exist, outside the system directories, de-duplicated, and that reveal nothing hidden:
    none lies in or above a ``never`` path (state directory, worktree root), none above a ``not_above`` one
    (the user's home: ``~/.pyenv/versions/3.12`` may be shown, ``~`` may not)."""
    out: list[Path] = []
    for path in paths:
        try:
            real = path.resolve()
        except OSError:
            continue
        if not path.exists() or any(is_under(path, s) or is_under(real, s) for s in _SYSTEM):
            continue
        above = [*never, *not_above]
        if (
            path == Path("/")
            or any(is_under(h, path) or is_under(h, real) for h in above)
            or any(is_under(path, n) or is_under(real, n) for n in never)
        ):
            skipped.append(str(path))
            continue
        if not any(is_under(path, o) for o in out):
            out = [o for o in out if not is_under(o, path)]
            out.append(path)
    return out
