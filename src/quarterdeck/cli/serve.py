"""``quarterdeck serve``: the API and the dashboard over HTTP, plus an engine worker in the same process."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

import click

from quarterdeck.settings import Settings
from quarterdeck.store.database import mask_url

__all__ = ["serve"]


def _on_signal(server: Any, app: Any, signum: int) -> None:
    """The first SIGINT/SIGTERM drains, the second stops now; open event streams end either way."""
    worker = getattr(app.state, "worker", None)
    services = getattr(app.state, "services", None)
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
        from quarterdeck.api.app import create_app

        settings = Settings()
        slots = self.worker_slots if self.worker_slots and self._take_worker_lock(settings) else 0
        app = create_app(settings, worker_slots=slots)
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
    help="Attempts the in-process engine worker runs at once.",
)
@click.option("--no-worker", is_flag=True, help="Serve the API only; leave the runs to `quarterdeck worker`s.")
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(1),
    help="API processes sharing the port; one of them runs the engine worker.",
)
def serve(host: str, port: int, workers: int, no_worker: bool, processes: int) -> None:
    """Serve the REST API (/api/v1), the live event streams and the dashboard, and run the work it is given.

    SIGINT/SIGTERM shuts down gracefully (running attempts finish); a second one stops at once.
    """
    # Imported here: every other command starts without loading the web stack.
    import uvicorn

    from quarterdeck.api.app import create_app

    settings = Settings()
    slots = 0 if no_worker else workers
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "lifespan": "on",
        "log_level": "info",
        "proxy_headers": True,
        "server_header": False,
        "timeout_graceful_shutdown": _GRACE_S,
    }
    click.echo(
        f"quarterdeck serving http://{host}:{port} (database {mask_url(settings.resolved_database_url())}, "
        f"{'no worker' if no_worker else f'worker with {workers} slot(s)'}"
        f"{f', {processes} processes' if processes > 1 else ''})",
        err=True,
    )
    if processes > 1:
        from uvicorn.supervisors import Multiprocess

        config = uvicorn.Config(_ProcessApp(slots), workers=processes, factory=True, **options)
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    config = uvicorn.Config(create_app(settings, worker_slots=slots), **options)
    server_class = type("QuarterdeckServer", (uvicorn.Server,), {"capture_signals": _capture_signals})
    server = server_class(config)
    # uvicorn's own loop choice (uvloop when installed, as with uvicorn[standard]); asyncio.run would
    # always take the standard loop.
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(server.serve())
    if not server.started:
        sys.exit(1)
