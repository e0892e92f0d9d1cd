"""A real ``quarterdeck serve`` in a subprocess, on a free port, with its own state directory (SQLite)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from quarterdeck.cli.demo import example_dir

__all__ = ["Server", "User", "start_server", "stop"]

#: how long the server gets to answer /readyz
_START_DEADLINE_S = 60.0
_STOP_DEADLINE_S = 20.0


@dataclass(frozen=True)
class User:
    email: str
    password: str
    name: str
    role: str


@dataclass
class Server:
    url: str
    state_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``quarterdeck <args>`` against the server's database; fails with its output."""
        done = subprocess.run(
            [sys.executable, "-m", "quarterdeck", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        command = " ".join(args)
        assert done.returncode == 0, f"quarterdeck {command} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        return done

    def create_user(self, user: User) -> None:
        self.cli(
            "user", "create", "--email", user.email, "--name", user.name, "--role", user.role, "--password-stdin",
            stdin=user.password + "\n",
        )  # fmt: skip

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        """Start ``quarterdeck <args>`` in the background, its output appended to the server's log."""
        with self.log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "quarterdeck", *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        stop(self.process)

    def kill(self) -> None:
        """Die at once, as a crashed server or a cut network does: connections drop, nothing is said."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(_STOP_DEADLINE_S)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a graceful drain), then SIGKILL to the process group if it does not end in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(_STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(_STOP_DEADLINE_S)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(state_dir: Path, *extra: str, port: int | None = None) -> Server:
    """Start ``quarterdeck serve`` (on ``port``, or a free one) and wait until /readyz answers 200."""
    state_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
    env |= {
        "QUARTERDECK_STATE_DIR": str(state_dir),
        "QUARTERDECK_DATABASE_URL": f"sqlite:///{state_dir / 'quarterdeck.db'}",
        "QUARTERDECK_POLL_MAX_S": "0.1",
        "QUARTERDECK_EVENT_POLL_S": "0.1",
        "QUARTERDECK_KILL_GRACE_S": "1",
        # every test signs in its own browser contexts: far more sign-ins a minute than a person's
        "QUARTERDECK_LOGIN_RATE_LIMIT": "1000",
        # the tests' runs name their repositories (temporary directories) and the example plan by path
        "QUARTERDECK_REPO_ROOTS": json.dumps([tempfile.gettempdir(), str(example_dir())]),
    }
    port = port or _free_port()
    log = state_dir / "serve.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "quarterdeck", "serve", "--host", "127.0.0.1", "--port", str(port), *extra],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", state_dir, env, process, log)
    deadline = time.monotonic() + _START_DEADLINE_S
    while True:
        if process.poll() is not None:
            raise AssertionError(f"quarterdeck serve exited {process.returncode}:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise AssertionError(f"quarterdeck serve not ready after {_START_DEADLINE_S:g}s:\n{server.output()}")
        time.sleep(0.05)  # polling a condition under a deadline, not synchronising on time
