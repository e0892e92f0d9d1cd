"""``quarterdeck serve``: the API and the dashboard over HTTP, plus an engine worker in the same process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator
from typing import Any

import click

from quarterdeck.settings import Settings
from quarterdeck.store.database import mask_url

__all__ = ["serve"]


@contextlib.contextmanager
def _capture_signals(self: Any) -> Iterator[None]:
    """uvicorn's signal capture, reaching the app's worker too: the first drains, the second stops now.

    Unlike uvicorn's own, it does not raise the signal again after a graceful exit.
    """
    loop = asyncio.get_running_loop()

    def _handle(signum: int) -> None:
        worker = getattr(self.config.app.state, "worker", None)
        services = getattr(self.config.app.state, "services", None)
        if services is not None:
            services.stopping.set()  # open event streams end, or the shutdown would wait for them forever
        if not self.should_exit:
            print(
                f"quarterdeck: {signal.Signals(signum).name} — shutting down, finishing running tasks "
                "(again to stop now)",
                file=sys.stderr,
            )
            self.should_exit = True
        else:
            self.force_exit = True
            if worker is not None:
                worker.force_exit = True
        if worker is not None:
            worker.wake()

    handled = (signal.SIGINT, signal.SIGTERM)
    for sig in handled:
        loop.add_signal_handler(sig, _handle, sig)
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


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
def serve(host: str, port: int, workers: int, no_worker: bool) -> None:
    """Serve the REST API (/api/v1), the live event streams and the dashboard, and run the work it is given.

    SIGINT/SIGTERM shuts down gracefully (running attempts finish); a second one stops at once.
    """
    import uvicorn

    from quarterdeck.api.app import create_app

    settings = Settings()
    app = create_app(settings, worker_slots=0 if no_worker else workers)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_level="info",
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=_GRACE_S,
    )
    # Imported here: every other command starts without loading the web stack.
    server_class = type("QuarterdeckServer", (uvicorn.Server,), {"capture_signals": _capture_signals})
    server = server_class(config)
    click.echo(
        f"quarterdeck serving http://{host}:{port} (database {mask_url(settings.resolved_database_url())}, "
        f"{'no worker' if no_worker else f'worker with {workers} slot(s)'})",
        err=True,
    )
    asyncio.run(server.serve())
    if not server.started:
        sys.exit(1)
