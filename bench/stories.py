"""Benchmark: parse and plan 2,000 generated BMAD stories and a 10,000-task JSON plan (goal: under 1 s each)."""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

from quarterdeck import stories
from quarterdeck.domain import plans

__all__ = ["main"]

EPICS, PER_EPIC, PLAN_TASKS = 40, 50, 10_000

STORY = """# Story {e}.{s}: Generated story {e}.{s}

## Status

{status}

## Story

**As a** user,
**I want** feature {e}.{s},
**so that** the benchmark has something to read.

## Acceptance Criteria

1. The first thing works.
2. The second thing works.
3: The third thing works.

## Tasks / Subtasks

- [ ] Task 1 (AC: 1)
  - [ ] Subtask 1.1
- [ ] Task 2 (AC: 2, 3)

## Dev Notes

{deps}Facts from the architecture. [Source: architecture/tech-stack.md#stack]

### Testing

Run `pytest`.

## Change Log

| Date | Version | Description | Author |
|------|---------|-------------|--------|
| 2025-01-01 | 1.0 | Created | SM |
"""


def _write_stories(root: Path) -> None:
    rng = random.Random(7)
    for e in range(1, EPICS + 1):
        for s in range(1, PER_EPIC + 1):
            status = "Done" if e <= 4 else rng.choice(["Draft", "Approved", "InProgress", "Review"])
            dep = f"- **Depends On:** Story {e - 1}.{rng.randint(1, PER_EPIC)}\n\n" if e > 1 and s % 7 == 0 else ""
            (root / f"{e}.{s}.generated-story.md").write_text(STORY.format(e=e, s=s, status=status, deps=dep))


def _write_plan(path: Path) -> None:
    rng = random.Random(11)
    tasks = []
    for i in range(PLAN_TASKS):
        deps = sorted({f"t{rng.randrange(i)}" for _ in range(rng.randint(0, 3))}) if i else []
        tasks.append({"id": f"t{i}", "title": f"Task {i}", "prompt": f"Do thing {i}.", "depends_on": deps})
    path.write_text(json.dumps({"name": "bench", "tasks": tasks}, indent=2))


def _time(label: str, path: Path) -> float:
    start = time.perf_counter()
    loaded = stories.load_plan(path)
    levels = plans.levels(loaded.plan)
    critical = plans.critical_path(loaded.plan)
    elapsed = time.perf_counter() - start
    print(
        f"{label}: {elapsed:.3f} s  ({len(loaded.plan.tasks)} tasks scheduled, {len(levels)} levels, "
        f"critical path {len(critical)})"
    )
    return elapsed


def main() -> int:
    """Generate both inputs in a temporary folder, time each, and exit 1 if either misses the goal."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "stories")
        folder.mkdir()
        _write_stories(folder)
        plan_file = Path(tmp, "plan.json")
        _write_plan(plan_file)
        results = [
            _time(f"{EPICS * PER_EPIC} BMAD stories", folder),
            _time(f"{PLAN_TASKS}-task JSON plan", plan_file),
        ]
    print("goal: < 1 s each:", "met" if max(results) < 1 else "MISSED")
    return 0 if max(results) < 1 else 1


if __name__ == "__main__":
    sys.exit(main())
