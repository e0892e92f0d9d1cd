"""The Celery application of the benchmark: no-op tasks on a Redis broker and result backend.

Imported by the worker (``celery -A celery_app worker``) and by ``celery_peer.py``; both read the
broker URL and the queue name from the environment.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

__all__ = ["app", "join", "noop"]

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
QUEUE = os.environ.get("BENCH_QUEUE", "qd-bench")

app = Celery("qd_bench", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    task_default_queue=QUEUE,
    result_expires=600,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="bench.noop")
def noop(*_: Any) -> None:
    """Does nothing."""


@app.task(name="bench.join")
def join(results: list[Any]) -> int:
    """The fan-in of the fan-out: receives every leaf's result."""
    return len(results)
