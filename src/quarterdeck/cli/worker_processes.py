"""The engine workers ``quarterdeck serve`` runs beside its API: ``quarterdeck worker`` processes of its own.

The API's event loop then never waits on the engine (agents' output, git, spawning processes from a
large process); they share the database, and the events reach the API's live feed through Redis when
``QUARTERDECK_REDIS_URL`` is set, else through the local relay (``bus/relay.py``: a Unix socket named by
``QUARTERDECK_EVENT_RELAY`` in the workers' environment) when one API process serves, else (``--processes``)
through the feed's reads of the event table, every ``SEPARATE_POLL_S`` unless ``QUARTERDECK_EVENT_POLL_S``
says otherwise.

Each worker runs in a session of its own, so a Ctrl-C in the terminal reaches it once, through
``serve``: the first signal drains it (running attempts finish), a second one stops it now. A worker
that exits while ``serve`` is not stopping is started again after a pause.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading

__all__ = ["RELAY_ENV", "SEPARATE_POLL_S", "WorkerProcesses"]

_log = logging.getLogger(__name__)

#: the variable naming the relay socket in a worker's environment
RELAY_ENV = "QUARTERDECK_EVENT_RELAY"
#: how often an API process reads the event table for its workers' events when there is no Redis
SEPARATE_POLL_S = 0.02
#: pause before a worker that exited unexpectedly is started again
_RESTART_S = 2.0


class WorkerProcesses:
    """``count`` worker processes sharing ``slots`` between them; ``start``, ``signal`` (forward), ``wait``."""

    def __init__(self, slots: int, count: int = 1, *, env: dict[str, str] | None = None) -> None:
        if slots < 1 or count < 1:
            raise ValueError("slots and count must be 1 or more")
        count = min(count, slots)
        self.shares = [slots // count + (1 if i < slots % count else 0) for i in range(count)]
        self._processes: list[subprocess.Popen[bytes] | None] = [None] * count
        self._env = env
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watchers: list[threading.Thread] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p is not None]

    def start(self) -> None:
        for index in range(len(self.shares)):
            self._spawn(index)
            watcher = threading.Thread(
                target=self._watch, args=(index,), name=f"quarterdeck-worker-{index}", daemon=True
            )
            watcher.start()
            self._watchers.append(watcher)

    def _spawn(self, index: int) -> None:
        command = [sys.executable, "-m", "quarterdeck", "worker", "--slots", str(self.shares[index])]
        with self._lock:
            if not self._stopping.is_set():
                self._processes[index] = subprocess.Popen(command, start_new_session=True, env=self._env)

    def _watch(self, index: int) -> None:
        while True:
            process = self._processes[index]
            if process is None:
                return
            code = process.wait()
            if self._stopping.wait(_RESTART_S):
                return
            _log.warning("quarterdeck: a worker process exited (code %s); starting it again", code)
            print(f"quarterdeck: a worker process exited (code {code}); starting it again", file=sys.stderr)
            self._spawn(index)

    def signal(self, signum: int) -> None:
        """Forward a signal (the first SIGINT/SIGTERM drains a worker, a second one stops it)."""
        with self._lock:
            self._stopping.set()
            for process in self._processes:
                if process is not None and process.poll() is None:
                    process.send_signal(signum)

    def stop(self, timeout_s: float | None = None) -> None:
        """Drain the workers (SIGTERM unless ``signal`` was already forwarded) and wait for them."""
        if not self._stopping.is_set():
            self.signal(signal.SIGTERM)
        for process in self._processes:
            if process is None:
                continue
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for watcher in self._watchers:
            watcher.join()
