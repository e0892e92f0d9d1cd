"""Benchmark: what the notifier costs beside every worker, and how fast the outbox fills and empties.

Four figures on one database (SQLite by default, ``--database-url`` for PostgreSQL: a scratch database, the
benchmark leaves its rows there), medians of ``--runs``:

- **idle pass, no subscriptions**: one ``Notifier.run_once`` when nobody subscribed (every worker process pays
  this each ``QUARTERDECK_NOTIFY_POLL_S``, 1 s by default);
- **idle pass, subscribed**: the same with subscriptions but no new event;
- **enqueue**: ``--events`` notifying events (``run.finished``) × ``--subs`` subscriptions turned into outbox
  rows, rows per second;
- **deliver**: those rows sent as Slack messages to a local HTTP receiver (16 in flight, 200 leased per
  pass) and marked delivered, rows per second.

    .venv/bin/python bench/notifications.py [--runs N] [--events N] [--subs N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from quarterdeck.app import Quarterdeck
from quarterdeck.domain import plans
from quarterdeck.notify.notifier import Notifier
from quarterdeck.settings import Settings
from quarterdeck.store import events as event_store


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the notifier has up to 16 deliveries in flight


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    for argv in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "initial"]):
        subprocess.run(
            ["git", "-c", "user.name=b", "-c", "user.email=b@b", *argv], cwd=repo, check=True, capture_output=True
        )
    return repo


async def _median_us(step: Any, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await step()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


async def main(runs: int, events: int, subs: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(state_dir=root / "state", database_url=database_url)
        httpd = _Server(("127.0.0.1", 0), _Ok)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}/slack"
        async with Quarterdeck(settings) as app, httpx.AsyncClient() as client:
            task = plans.TaskSpec(id="t", title="T", runtime="noop")
            run = await app.submit(plans.Plan(name="bench", tasks=(task,)), repo=_repo(root))
            notifier = Notifier(app.db, settings, settle_s=0)
            idle = await _median_us(lambda: notifier.run_once(client), runs)
            print(f"idle pass, no subscriptions:  {idle:8.0f} µs  (once per QUARTERDECK_NOTIFY_POLL_S per worker)")
            for n in range(subs):
                await app.subscribe(
                    org_id=settings.org, actor="bench", scope="org", channel="slack", target=f"{url}/{n}"
                )
            await notifier.run_once(client)
            subscribed = await _median_us(lambda: notifier.run_once(client), runs)
            print(f"idle pass, {subs} subscriptions: {subscribed:8.0f} µs")
            async with app.db.transaction() as conn:
                await event_store.create_events(
                    conn,
                    [event_store.NewEvent(run.id, "run.finished", {"status": "failed"}) for _ in range(events)],
                )
            start = time.perf_counter()
            queued = 0
            while more := await notifier.enqueue():
                queued += more
            took = time.perf_counter() - start
            print(f"enqueue: {queued} rows in {took:.2f} s = {queued / took:8.0f} rows/s")
            start = time.perf_counter()
            delivered = 0
            while (sent := await notifier.deliver(client)) > 0:
                delivered += sent
            took = time.perf_counter() - start
            print(f"deliver: {delivered} rows in {took:.2f} s = {delivered / took:8.0f} rows/s (Slack, local receiver)")
        httpd.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--subs", type=int, default=2)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.events, args.subs, args.database_url))
