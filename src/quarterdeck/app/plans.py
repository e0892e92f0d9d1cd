"""Turning a run request into a plan: a plan file object, an uploaded file, or a path on the server."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from quarterdeck import stories
from quarterdeck.domain import ids, plans
from quarterdeck.errors import InputError, PlanError, Problem
from quarterdeck.stories import planfile

__all__ = ["UPLOAD_SUFFIXES", "from_object", "from_path", "save_upload"]

#: what an uploaded plan may be: a plan file, or a single story document
UPLOAD_SUFFIXES = (".json", ".yaml", ".yml", ".md", ".markdown", ".txt")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def from_object(plan: dict[str, Any]) -> plans.Plan:
    """A plan from a plan file object; problems name lines of the object as JSON (indented by two)."""
    text = json.dumps(plan, indent=2, ensure_ascii=False)
    return planfile.parse_plan(text, "plan.json")


async def from_path(path: Path, *, deps: str | None) -> plans.Plan:
    """A plan from a plan file or story folder on the server (read in a thread: big folders take a while)."""
    if not path.exists():
        raise PlanError([Problem(str(path), 0, "no such file or folder on the server")])
    loaded = await asyncio.to_thread(stories.load_plan, path, deps=deps)
    stories.require_tasks(loaded, path)
    return loaded.plan


def save_upload(state_dir: Path, filename: str, content: bytes) -> Path:
    """Keep an uploaded plan under ``<state_dir>/uploads/<id>/`` with a safe name; returns its path."""
    name = _UNSAFE.sub("-", Path(filename or "plan").name).strip(".-") or "plan"
    if not name.lower().endswith(UPLOAD_SUFFIXES):
        raise InputError(f"upload a plan file or story document ({', '.join(UPLOAD_SUFFIXES)}), not {filename!r}")
    folder = state_dir / "uploads" / ids.new_id()
    folder.mkdir(parents=True, exist_ok=False)
    target = folder / name
    target.write_bytes(content)
    return target
