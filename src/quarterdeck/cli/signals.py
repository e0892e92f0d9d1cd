"""Signal handling for long-running commands: the first signal drains, the second stops hard."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Iterator

from quarterdeck.engine.worker import Worker

__all__ = ["graceful"]


@contextlib.contextmanager
def graceful(worker: Worker) -> Iterator[None]:
    """Install SIGINT/SIGTERM handlers on the running loop for ``worker``, restored on exit."""
    loop = asyncio.get_running_loop()

    def _handle(signum: int) -> None:
        if not worker.should_exit:
            print(
                f"quarterdeck: {signal.Signals(signum).name} — finishing running tasks (again to stop now)",
                file=sys.stderr,
            )
            worker.should_exit = True
        else:
            worker.force_exit = True
        worker.wake()

    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, _handle, sig)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
