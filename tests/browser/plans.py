"""Plans and repositories for the browser tests: the demo, and shell tasks held until the test says so."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext

from quarterdeck.cli.demo import example_dir, make_repository

__all__ = ["DEMO_PLAN", "csrf", "demo_repo", "gated_plan", "start_run"]

DEMO_PLAN = example_dir() / "plan.yaml"


def demo_repo(tmp: Path) -> Path:
    """A fresh git repository holding the demo's project."""
    return make_repository(example_dir(), tmp / "repo")


def _wait_for(path: Path) -> str:
    # The agent's own loop (a shell task): it ends when the test creates the file.
    return f"while [ ! -e {shlex.quote(str(path))} ]; do sleep 0.05; done"


def gated_plan(signals: Path, name: str = "gated") -> dict[str, Any]:
    """``gate`` runs until ``signals/release`` exists, ``hold`` until ``signals/hold`` does; ``after`` needs gate."""
    return {
        "name": name,
        "defaults": {"runtime": "shell", "max_attempts": 1, "timeout_s": 300, "verify": []},
        "tasks": [
            {
                "id": "gate",
                "title": "Wait for the test's signal",
                "prompt": "Block until released, then write a file.",
                "acceptance_criteria": ["released.txt exists"],
                "options": {"script": f"{_wait_for(signals / 'release')}; echo released > released.txt; echo done"},
            },
            {
                "id": "hold",
                "title": "Hold until cancelled",
                "prompt": "Block until cancelled.",
                "options": {"script": _wait_for(signals / "hold")},
            },
            {
                "id": "after",
                "title": "Follow the gate",
                "depends_on": ["gate"],
                "options": {"script": "echo after"},
                "estimate": "1m30s",
            },
        ],
    }


def csrf(context: BrowserContext) -> str:
    return next(c["value"] for c in context.cookies() if c["name"] == "qd_csrf")


def start_run(context: BrowserContext, plan: dict[str, Any], repo: Path) -> dict[str, Any]:
    """POST /api/v1/runs as the context's user (cookie + CSRF header, as the dashboard does)."""
    response = context.request.post(
        "/api/v1/runs",
        data=json.dumps({"plan": plan, "repo": str(repo), "branch": "integration"}),
        headers={"Content-Type": "application/json", "X-CSRF-Token": csrf(context)},
    )
    assert response.status == 201, response.text()
    run: dict[str, Any] = response.json()
    return run
