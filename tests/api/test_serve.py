"""``quarterdeck serve`` as users run it: a subprocess on a free port, bootstrapped by the CLI, drained on SIGINT.

A secret planted through the CLI and the API must appear in none of: the server's output, the run's
events, the database outside its sealed column, the repository.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.api.conftest import PASSWORD, free_port, plan_object, shell_task
from tests.support.processes import wait_for


def _log_text(log: IO[str]) -> str:
    log.seek(0)
    return log.read()


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _wait_until_up(
    condition: Callable[[], bool], server: subprocess.Popen[bytes], log: IO[str], timeout: float
) -> None:
    """``wait_for`` the server, with its log in the failure (its output goes to ``log``, not to pipes)."""
    try:
        wait_for(condition, server, timeout=timeout)
    except AssertionError as error:
        raise AssertionError(f"serve did not come up ({error}):\n{_log_text(log)}") from None


PLANTED = "sk-planted-" + "9f3c2a7e5b1d" * 3


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quarterdeck", *args], input=stdin, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_serve_runs_what_the_api_is_given_and_never_shows_a_secret(tmp_path: Path, repo: Path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "QUARTERDECK_STATE_DIR": str(state), "QUARTERDECK_ORG": "acme"}
    env.pop("QUARTERDECK_DATABASE_URL", None)
    env.pop("QUARTERDECK_SECRET_KEY", None)
    created = _cli(
        env,
        "user",
        "create",
        "--email",
        "admin@acme.io",
        "--name",
        "Admin",
        "--role",
        "admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert created.returncode == 0, created.stderr
    stored = _cli(env, "secret", "set", "OPENAI_API_KEY", "--kind", "provider_key", stdin=PLANTED + "\n")
    assert stored.returncode == 0, stored.stderr
    assert PLANTED not in stored.stdout + stored.stderr
    assert (state / "secret.key").stat().st_mode & 0o777 == 0o600

    port = free_port()
    with (tmp_path / "serve.log").open("w+") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "quarterdeck", "-vv", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        signalled = False
        try:
            _wait_until_up(lambda: _ready(base), server, log, timeout=60)

            with httpx.Client(base_url=base, timeout=30) as client:
                login = client.post("/api/v1/auth/login", json={"email": "admin@acme.io", "password": PASSWORD})
                headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
                put = client.put("/api/v1/secrets/GIT_TOKEN", headers=headers, json={"value": PLANTED[::-1]})
                assert put.status_code == 200
                listed = client.get("/api/v1/secrets", headers=headers).text
                assert "OPENAI_API_KEY" in listed
                plan = plan_object(
                    shell_task("one", "echo one > one.txt"), shell_task("two", "true", depends_on=("one",))
                )
                project = client.post(
                    "/api/v1/projects", headers=headers, json={"name": "app", "repo_path": str(repo)}
                ).json()
                run = client.post(
                    "/api/v1/runs", headers=headers, json={"plan": plan, "project_id": project["id"]}
                ).json()
                events = []
                with client.stream("GET", "/api/v1/events", params={"run_id": run["id"]}, headers=headers) as sse:
                    for line in sse.iter_lines():
                        if line.startswith("data: "):
                            events.append(json.loads(line.removeprefix("data: ")))
                            if events[-1]["type"] == "run.finished":
                                break
                assert events[-1]["payload"]["status"] == "succeeded"
                detail = client.get(f"/api/v1/runs/{run['id']}", headers=headers).json()
                assert detail["status"] == "succeeded"
                responses = listed + json.dumps(detail) + json.dumps(events)
                # A dashboard tab left open must not hold the shutdown: its stream ends with the server.
                with client.stream("GET", "/api/v1/events", params={"after": "latest"}, headers=headers) as idle:
                    assert idle.status_code == 200
                    server.send_signal(signal.SIGINT)
                    signalled = True
                    assert [line for line in idle.iter_lines() if line.startswith("data: ")] == []
        finally:
            if not signalled:
                server.send_signal(signal.SIGINT)
            code = server.wait(60)
        log.seek(0)
        output = log.read()
    assert code == 0, output
    assert "shutting down" in output
    assert "graceful shutdown exceeded" not in output  # nothing had to be cut off

    database = sqlite3.connect(state / "quarterdeck.db")
    dump = "\n".join(database.iterdump())
    sealed = [row[0] for row in database.execute("SELECT ciphertext FROM secrets")]
    database.close()
    assert len(sealed) == 2
    git_log = subprocess.run(["git", "log", "--all", "-p"], cwd=repo, capture_output=True, text=True).stdout
    for secret in (PLANTED, PLANTED[::-1]):
        for where, text in (("serve output", output), ("responses", responses), ("repository", git_log)):
            assert secret not in text, f"the secret leaked into the {where}"
        assert secret not in dump, "the secret is in the database in the clear"


def _children(pid: int) -> list[int]:
    """The API processes of a ``--processes`` supervisor (not multiprocessing's resource tracker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                found.append(int(child))
    return found


def _workers(pid: int) -> list[int]:
    """The ``quarterdeck worker`` processes ``serve`` started."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            if b"\0worker\0" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
    return found


def _flock_holders(path: Path) -> list[int]:
    inode = path.stat().st_ino
    holders = []
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if fields[1] == "FLOCK" and int(fields[5].rsplit(":", 1)[1]) == inode:
            holders.append(int(fields[4]))
    return holders


@pytest.mark.slow
@pytest.mark.parametrize("embedded", [False, True], ids=["worker-process", "in-process-worker"])
def test_serve_with_two_processes_shares_the_port_and_runs_one_worker(
    tmp_path: Path, repo: Path, embedded: bool
) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "QUARTERDECK_STATE_DIR": str(state), "QUARTERDECK_ORG": "acme"}
    env.pop("QUARTERDECK_DATABASE_URL", None)
    created = _cli(
        env, "user", "create", "--email", "a@acme.io", "--name", "A", "--role", "admin", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    port = free_port()
    with (tmp_path / "serve.log").open("w+") as log:
        extra = ["--in-process-worker"] if embedded else []
        server = subprocess.Popen(
            [sys.executable, "-m", "quarterdeck", "serve", "--port", str(port), "--processes", "2", *extra],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(lambda: _log_text(log).count("Application startup complete.") == 2, server, log, timeout=90)
            children = _children(server.pid)
            assert len(children) == 2
            if embedded:
                holders = _flock_holders(state / "serve-worker.lock")
                assert len(holders) == 1  # exactly one API process runs the engine worker
                assert holders[0] in children
            else:
                # By default the engine runs in a `quarterdeck worker` of its own, not in an API process.
                assert len(_workers(server.pid)) == 1
                assert not (state / "serve-worker.lock").exists()

            with httpx.Client(base_url=base, timeout=30) as client:
                login = client.post("/api/v1/auth/login", json={"email": "a@acme.io", "password": PASSWORD})
                headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
                plan = plan_object(shell_task("one", "echo one > one.txt"))
                project = client.post(
                    "/api/v1/projects", headers=headers, json={"name": "app", "repo_path": str(repo)}
                ).json()
                run = client.post(
                    "/api/v1/runs", headers=headers, json={"plan": plan, "project_id": project["id"]}
                ).json()
                # Whichever process this stream reaches, the run's events come to it (from the table).
                with client.stream("GET", "/api/v1/events", params={"run_id": run["id"]}, headers=headers) as sse:
                    for line in sse.iter_lines():
                        if line.startswith("data: ") and json.loads(line[6:])["type"] == "run.finished":
                            assert json.loads(line[6:])["payload"]["status"] == "succeeded"
                            break
        finally:
            server.send_signal(signal.SIGINT)
            code = server.wait(60)
        log.seek(0)
        output = log.read()
    assert code == 0, output
    assert output.count("Application shutdown complete.") == 2, output
