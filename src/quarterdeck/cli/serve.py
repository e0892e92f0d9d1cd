"""``quarterdeck serve``: the API and the dashboard over HTTP, plus engine workers in processes of their own.

``--in-process-worker`` keeps the single-process form (the worker on the API's event loop), as
``quarterdeck run`` and the demo run it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import click

from quarterdeck.settings import Settings, mask_url

__all__ = ["serve"]


def _on_signal(server: Any, app: Any, signum: int) -> None:
    """The first SIGINT/SIGTERM drains, the second stops now; open event streams end either way."""
    worker = getattr(app.state, "worker", None)
    services = getattr(app.state, "services", None)
    processes = getattr(app.state, "worker_processes", None)
    if processes is not None:
        processes.signal(signum)  # they run in sessions of their own: this is how a Ctrl-C reaches them
    if services is not None:
        services.stopping.set()  # open event streams end, or the shutdown would wait for them forever
    if not server.should_exit:
        print(
            f"quarterdeck: {signal.Signals(signum).name} — shutting down, finishing running tasks (again to stop now)",
            file=sys.stderr,
        )
        server.should_exit = True
    else:
        server.force_exit = True
        if worker is not None:
            worker.force_exit = True
    if worker is not None:
        worker.wake()


@contextlib.contextmanager
def _capture_signals(self: Any) -> Iterator[None]:
    """uvicorn's signal capture, reaching the app's worker too: the first drains, the second stops now.

    Unlike uvicorn's own, it does not raise the signal again after a graceful exit.
    """
    loop = asyncio.get_running_loop()
    handled = (signal.SIGINT, signal.SIGTERM)
    for sig in handled:
        loop.add_signal_handler(sig, _on_signal, self, self.config.app, sig)
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


class _ProcessApp:
    """The app factory of one of several API processes (``--processes``), called in each child.

    Exactly one of them runs the engine worker: the first to take the lock file
    ``<state_dir>/serve-worker.lock``, which it holds for its lifetime (a replacement for a process
    that died takes it over). Each child keeps uvicorn's signal handling and adds ours to it.
    """

    def __init__(self, worker_slots: int) -> None:
        self.worker_slots = worker_slots

    def __call__(self) -> Any:
        from quarterdeck.server import http_app

        settings = Settings()
        slots = self.worker_slots if self.worker_slots and self._take_worker_lock(settings) else 0
        app = http_app(settings, worker_slots=slots)
        self._chain_signals(app)
        return app

    def _take_worker_lock(self, settings: Settings) -> bool:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        lock = (settings.state_dir / "serve-worker.lock").open("a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return False
        self._lock = lock  # held until the process exits
        return True

    @staticmethod
    def _chain_signals(app: Any) -> None:
        # Called from uvicorn's config.load(), on the main thread, inside uvicorn's own capture: ours
        # runs first, then uvicorn's (which it restores when the server stops).
        # Ctrl-C reaches every process of the group, and the supervisor then sends SIGTERM as well:
        # only the first signal, or the same one again, counts (uvicorn's own forces on a second SIGINT).
        loop = asyncio.get_running_loop()
        state = type("_State", (), {"should_exit": False, "force_exit": False})()
        seen: set[int] = set()
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)

            def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
                if not seen or signum in seen:
                    loop.call_soon_threadsafe(_on_signal, state, app, signum)
                seen.add(signum)
                if callable(previous):
                    previous(signum, frame)

            signal.signal(sig, handler)


FIRST_ADMIN = "quarterdeck user create --role admin --email you@example.com --name 'Your Name'   # asks for a password"


def first_user_steps(settings: Settings, url: str) -> list[str]:
    """On a database nobody can sign in to yet: how to create the first admin (else nothing)."""
    from quarterdeck.app import Quarterdeck, accounts

    async def _anyone() -> bool:
        async with Quarterdeck(settings) as app:
            return await accounts.has_users(app.db)

    if asyncio.run(_anyone()):
        return []
    return [
        "quarterdeck: nobody can sign in yet. Create the first admin (from any terminal, same state directory):",
        f"  {FIRST_ADMIN}",
        f"then sign in at {url}/login",
    ]


#: how long a graceful shutdown waits for open connections before closing them
_GRACE_S = 10


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8400, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option(
    "--workers",
    default=2,
    show_default=True,
    type=click.IntRange(1),
    help="Attempts the engine workers run at once (in all).",
)
@click.option("--no-worker", is_flag=True, help="Serve the API only; leave the runs to `quarterdeck worker`s.")
@click.option(
    "--worker-processes",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="Worker processes sharing the slots (each a `quarterdeck worker`).",
)
@click.option(
    "--in-process-worker",
    "embedded",
    is_flag=True,
    help="Run the worker inside the API process instead (one process; the API then shares its event loop with it).",
)
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="API processes sharing the port; one of them runs the engine worker.",
)
def serve(
    host: str, port: int, workers: int, no_worker: bool, worker_processes: int, embedded: bool, processes: int
) -> None:
    """Serve the REST API (/api/v1), the live event streams and the dashboard, and run the work it is given.

    The engine workers run in processes of their own (--worker-processes), so the API never waits
    on them. SIGINT/SIGTERM shuts down gracefully (running attempts finish); a second one stops at once.
    """
    # Imported here: every other command starts without loading the web stack.
    import uvicorn

    from quarterdeck.bus.relay import RelayServer
    from quarterdeck.cli.worker_processes import RELAY_ENV, SEPARATE_POLL_S, WorkerProcesses
    from quarterdeck.observability import logs
    from quarterdeck.server import http_app

    settings = Settings()
    separate = None
    relay: Path | None = None
    if not no_worker and not embedded:
        env = dict(os.environ)
        if not settings.redis_url and processes == 1:
            # The workers push their events to this process over a private socket (bus/relay.py).
            relay = RelayServer.private_path()
            env[RELAY_ENV] = str(relay)
        elif not settings.redis_url and "QUARTERDECK_EVENT_POLL_S" not in os.environ:
            # Several API processes, no Redis: the workers' events reach each live feed from the table:
            # read it often (one cheap indexed read per API process, only while someone follows the feed).
            os.environ["QUARTERDECK_EVENT_POLL_S"] = env["QUARTERDECK_EVENT_POLL_S"] = str(SEPARATE_POLL_S)
            settings = Settings()
        separate = WorkerProcesses(workers, worker_processes, env=env)
    slots = 0 if no_worker or separate is not None else workers
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "lifespan": "on",
        "log_level": "info",
        "proxy_headers": True,
        "server_header": False,
        "timeout_graceful_shutdown": _GRACE_S,
        # Event messages are small JSON; deflating each one again for every subscriber cost more CPU
        # than the rest of the fan-out (issue 26). A client that offers compression gets none.
        "ws_per_message_deflate": False,
    }
    if logs.json_enabled():  # uvicorn's lines (its access log too) go through ours, as JSON with their ids
        options["log_config"] = None
    click.echo(
        f"quarterdeck serving http://{host}:{port} (database {mask_url(settings.resolved_database_url())}, "
        f"{_describe(no_worker, separate, workers)}"
        f"{f', {processes} processes' if processes > 1 else ''})",
        err=True,
    )
    for line in first_user_steps(settings, f"http://{host}:{port}"):
        click.echo(line, err=True)
    if separate is not None:
        separate.start()
    try:
        if processes > 1:
            from uvicorn.supervisors import Multiprocess

            config = uvicorn.Config(_ProcessApp(slots), workers=processes, factory=True, **options)
            Multiprocess(config, sockets=[config.bind_socket()]).run()
            return
        app = http_app(settings, worker_slots=slots, event_relay=relay)
        app.state.worker_processes = separate
        config = uvicorn.Config(app, **options)
        server_class = type("QuarterdeckServer", (uvicorn.Server,), {"capture_signals": _capture_signals})
        server = server_class(config)
        # uvicorn's own loop choice (uvloop when installed, as with uvicorn[standard]); asyncio.run would
        # always take the standard loop.
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(server.serve())
        if not server.started:
            sys.exit(1)
    finally:
        if separate is not None:
            separate.stop()  # drains them (running attempts finish), unless a signal already did


def _describe(no_worker: bool, separate: Any, slots: int) -> str:
    if no_worker:
        return "no worker"
    if separate is None:
        return f"worker with {slots} slot(s) in the API process"
    return f"{len(separate.shares)} worker process(es) with {slots} slot(s)"
