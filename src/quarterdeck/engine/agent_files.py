"""An agent's own area on any machine: saved to the store after each agent step, restored where it is missing.

A CLI agent keeps its raw stream (``stream-N.jsonl``) and its session files in its area beside the worktrees
(``runtimes/agent_session.AgentArea``). Those files are the record the API shows and what a retry resumes from,
so they must not live only on the disk of the worker that ran the step: after each step the area is stored
(``store/agent_files.py``, chunks of 256 KiB, at most ``MAX_AREA_BYTES`` per area), and an attempt that resumes a
session restores the task's earlier areas that this machine does not have (another worker ran them).
The local copies are caches; ``quarterdeck gc`` forgets stored areas older than ``QUARTERDECK_AGENT_FILES_DAYS``.
"""

from __future__ import annotations

import logging
from pathlib import Path

__all__ = ["MAX_AREA_BYTES", "collect", "restore"]

log = logging.getLogger(__name__)

#: the most of one area that is stored (its largest files are left out past it, and said so)
MAX_AREA_BYTES = 32 * 1024 * 1024


def collect(root: Path) -> dict[str, bytes]:
    """The regular files under ``root`` (symlinks are not followed), by path relative to it, within the cap."""
    found = sorted((p for p in root.rglob("*") if p.is_file() and not p.is_symlink()), key=lambda p: p.stat().st_size)
    files: dict[str, bytes] = {}
    total = 0
    for path in found:
        size = path.stat().st_size
        if total + size > MAX_AREA_BYTES:
            log.warning("%s: %d byte(s) left out of the stored area (over %d)", path, size, MAX_AREA_BYTES)
            continue
        try:
            files[path.relative_to(root).as_posix()] = path.read_bytes()
        except OSError as exc:  # (a file the agent removed meanwhile)
            log.warning("could not read %s: %s", path, exc)
            continue
        total += size
    return files


def restore(agents: Path, areas: dict[str, dict[str, bytes]], *, keep: str) -> list[str]:
    """Write each stored area that is not on this machine into ``agents/<area>``; the names of those written.

    ``keep`` (the current attempt's area) is never written over. Paths are confined to their area.
    """
    written: list[str] = []
    for area, files in areas.items():
        target = agents / area
        if area == keep or "/" in area or area.startswith(".") or target.exists():
            continue
        for relative, data in files.items():
            path = (target / relative).resolve()
            if not path.is_relative_to(target.resolve()):
                log.warning("refused stored path %r of area %s: it leads outside", relative, area)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        written.append(area)
    return written
