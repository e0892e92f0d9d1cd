"""How fast the dashboard shows a 200-task run: a real ``quarterdeck serve`` on loopback and Debian's Chromium.

    .venv/bin/python bench/dashboard.py [--tasks 200] [--loads 7] [--screenshot run.png]

Prints the time from navigation start until the run view's DAG (every node) and task table are drawn: from a tab
already open (a user coming from the runs list) and in a new browser context (a new renderer process, no cache,
with a trivial page's time in the same conditions for scale), and how long the DAG layout alone takes.
Issue 10's bar: under 1 s on loopback for 200 tasks. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

EMAIL, PASSWORD = "bench@example.test", "a long enough bench password"


def plan(n: int, seed: int = 10) -> dict[str, Any]:
    """A layered DAG of ``n`` shell tasks: ~10 per level, each needing 1–3 tasks of the levels just before."""
    rng = random.Random(seed)
    tasks: list[dict[str, Any]] = []
    levels: list[list[str]] = []
    for i in range(n):
        level = i // 10
        if level == len(levels):
            levels.append([])
        task_id = f"t{i:03d}"
        before = [t for lvl in levels[max(0, level - 2) : level] for t in lvl]
        deps = sorted(rng.sample(before, min(len(before), rng.randint(1, 3)))) if before else []
        verb = rng.choice(["Add", "Fix", "Refactor", "Test", "Document"])
        title = f"{verb} {rng.choice(['parser', 'cache', 'router', 'CLI', 'schema', 'worker'])} part {i}"
        tasks.append({"id": task_id, "title": title, "depends_on": deps, "options": {"script": "true"}})
        levels[level].append(task_id)
    return {"name": f"bench-{n}", "defaults": {"runtime": "shell", "verify": []}, "tasks": tasks}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--loads", type=int, default=7)
    parser.add_argument("--screenshot", type=Path, help="save the run view (full page) here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="qd-bench-web-") as tmp:
        state = Path(tmp) / "state"
        state.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
        env |= {"QUARTERDECK_STATE_DIR": str(state), "QUARTERDECK_DATABASE_URL": f"sqlite:///{state / 'qd.db'}"}
        env["QUARTERDECK_REPO_ROOTS"] = json.dumps([tmp])  # the run names its repository by path
        quarterdeck = [sys.executable, "-m", "quarterdeck"]
        subprocess.run([*quarterdeck, "db", "upgrade"], env=env, check=True, capture_output=True)
        user = ["user", "create", "--email", EMAIL, "--name", "Bench", "--role", "admin", "--password-stdin"]
        subprocess.run([*quarterdeck, *user], env=env, input=PASSWORD, text=True, check=True, capture_output=True)
        repo = Path(tmp) / "repo"  # beside the state directory: a repository never lies in it
        repo.mkdir()
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
        subprocess.run(
            ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "--allow-empty", "-m", "init"],
            cwd=repo, check=True,
        )  # fmt: skip
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        # No worker: the run stays as submitted, so every load draws the same 200 tasks.
        server = subprocess.Popen(
            [*quarterdeck, "serve", "--port", str(port), "--no-worker"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("quarterdeck serve did not start")
                time.sleep(0.05)
            with httpx.Client(base_url=url) as client:
                client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PASSWORD}).raise_for_status()
                created = client.post(
                    "/api/v1/runs",
                    json={"plan": plan(args.tasks), "repo": str(repo)},
                    headers={"X-CSRF-Token": client.cookies["qd_csrf"]},
                )
                created.raise_for_status()
                run_id = created.json()["id"]
                detail_bytes = len(client.get(f"/api/v1/runs/{run_id}").content)
            measure(url, run_id, args)
            print(f"run detail JSON: {detail_bytes / 1024:.0f} KiB for {args.tasks} tasks")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)


DRAWN = (
    "n => document.querySelectorAll('.dag-node').length === n"
    " && document.querySelectorAll('tr[data-task]').length === n"
)
LAYOUT = """async () => {
    const { layout } = await import('/static/js/dag.js');
    const run = await (await fetch(location.pathname.replace('/runs/', '/api/v1/runs/'))).json();
    const t0 = performance.now();
    layout(run.tasks);
    return performance.now() - t0;
}"""


def measure(url: str, run_id: str, args: argparse.Namespace) -> None:
    """Cold loads (a new browser context each: new renderer, empty cache), warm loads (one tab navigating
    to the run again, as a user coming from the runs list), and a trivial page's cold load for scale."""
    cold: list[float] = []
    warm: list[float] = []
    baseline: list[float] = []
    layout: list[float] = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        for n in range(args.loads + 1):  # the first load of each kind warms the server; it is not counted
            context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto("/login")
            if n:
                baseline.append(page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"))
            context.close()

            context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})
            context.request.post("/api/v1/auth/login", data={"email": EMAIL, "password": PASSWORD})
            page = context.new_page()
            page.goto(f"/runs/{run_id}", wait_until="commit")
            page.wait_for_function(DRAWN, arg=args.tasks, polling="raf", timeout=30_000)
            if n:
                cold.append(page.evaluate("performance.now()"))
                layout.append(page.evaluate(LAYOUT))
            if n == args.loads and args.screenshot:
                page.screenshot(path=str(args.screenshot), full_page=True)
            for _ in range(args.loads + 1 if n == args.loads else 0):
                page.goto(f"/runs/{run_id}", wait_until="commit")
                page.wait_for_function(DRAWN, arg=args.tasks, polling="raf", timeout=30_000)
                warm.append(page.evaluate("performance.now()"))
            context.close()
        browser.close()
    warm = warm[1:]
    figures = {
        "tasks": args.tasks,
        "loads": args.loads,
        "run_view_warm_ms_median": round(statistics.median(warm)),
        "run_view_warm_ms_max": round(max(warm)),
        "run_view_cold_ms_median": round(statistics.median(cold)),
        "run_view_cold_ms_max": round(max(cold)),
        "login_page_cold_dom_ready_ms_median": round(statistics.median(baseline)),
        "layout_ms_median": round(statistics.median(layout), 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(figures, indent=2))
    verdict = "under" if figures["run_view_warm_ms_median"] < 1000 else "OVER"
    print(
        f"{args.tasks}-task run view drawn in {figures['run_view_warm_ms_median']} ms (median, from a tab), "
        f"{figures['run_view_cold_ms_median']} ms (median, new browser context; an empty page takes "
        f"{figures['login_page_cold_dom_ready_ms_median']} ms there): {verdict} the 1 s bar"
    )


if __name__ == "__main__":
    main()
