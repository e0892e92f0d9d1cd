"""One trace per run, across processes: a submitting process and two workers export to a real OTLP/HTTP
receiver, and the spans they send form one connected tree (run → task → attempt → agent, verify, merge).

The two first tasks wait for each other (a barrier), so each is taken by a different worker process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.gitrepo import make_repo, shared_dir
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


def _env(database_url: str, tmp_path: Path, endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUARTERDECK_", "OTEL_"))}
    return env | {
        "QUARTERDECK_DATABASE_URL": database_url,
        "QUARTERDECK_STATE_DIR": str(tmp_path / "state"),
        "QUARTERDECK_POLL_MAX_S": "0.05",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }


def _spawn(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "quarterdeck", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _plan(tmp_path: Path, box: Path) -> Path:
    started = box / "started"
    barrier = f'until [ "$(wc -l < {started})" -ge 2 ]; do sleep 0.05; done'
    tasks: list[dict[str, object]] = [
        {
            "id": name,
            "title": f"Task {name}",
            "runtime": "shell",
            "timeout_s": 120,
            "options": {
                "script": f'echo "$QUARTERDECK_TASK_ID $TRACEPARENT" >> {started}; {barrier}; echo {name} > {name}.txt'
            },
        }
        for name in ("a", "b")
    ]
    tasks.append({
        "id": "c",
        "title": "Task c",
        "depends_on": ["a", "b"],
        "runtime": "shell",
        "options": {"script": "cat a.txt b.txt > c.txt"},
        "verify": ["test -s c.txt"],
    })  # fmt: skip
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump({"name": "traced", "tasks": tasks}, sort_keys=False))
    return path


def _one(spans: list[ReceivedSpan], **attributes: str) -> ReceivedSpan:
    found = [s for s in spans if all(s.attributes.get(k) == v for k, v in attributes.items())]
    assert len(found) == 1, (attributes, found)
    return found[0]


def test_a_run_on_two_workers_makes_one_connected_trace(
    tmp_path: Path, database_url: str, receiver: OtlpReceiver, procs: list[subprocess.Popen[str]]
) -> None:
    env = _env(database_url, tmp_path, receiver.url)
    repo = make_repo(tmp_path / "repo")
    box = shared_dir(repo, tmp_path / "box")
    plan = _plan(tmp_path, box)
    workers = [_spawn("worker", env=env), _spawn("worker", env=env)]
    procs.extend(workers)
    runner = _spawn("run", str(plan), "--repo", str(repo), "--workers", "0", "--json", env=env)
    procs.append(runner)
    out, err = runner.communicate(timeout=180)
    assert runner.returncode == 0, err
    run_id = json.loads(out)["run"]["id"]
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)
    wait_for(lambda: len(receiver.named("quarterdeck.merge")) == 3, timeout=30)

    spans = receiver.spans
    assert {s.trace_id for s in spans} == {spans[0].trace_id}
    roots = [s for s in spans if not s.parent_id]
    assert [r.name for r in roots] == ["quarterdeck.run"]
    assert roots[0].attributes["quarterdeck.run.id"] == run_id
    ids = {s.span_id for s in spans}
    assert all(s.parent_id in ids for s in spans if s.parent_id)
    tasks = receiver.named("quarterdeck.task ")
    assert sorted(t.attributes["quarterdeck.task.id"] for t in tasks) == ["a", "b", "c"]
    assert {t.parent_id for t in tasks} == {roots[0].span_id}
    attempts = receiver.named("quarterdeck.attempt")
    by_task = {t.attributes["quarterdeck.task.id"]: t for t in tasks}
    for attempt in attempts:
        assert attempt.parent_id == by_task[attempt.attributes["quarterdeck.task.id"]].span_id
    pids = {_one(attempts, **{"quarterdeck.task.id": name}).resource["process.pid"] for name in ("a", "b")}
    assert pids == {w.pid for w in workers}
    agents = receiver.named("quarterdeck.agent")
    attempt_ids = {a.span_id for a in attempts}
    assert len(agents) == 3
    assert all(a.parent_id in attempt_ids for a in agents)
    # the agent's process was handed its span's context as TRACEPARENT
    started = dict(line.split(" ", 1) for line in (box / "started").read_text().splitlines())
    for name in ("a", "b"):
        attempt = _one(attempts, **{"quarterdeck.task.id": name})
        agent = next(a for a in agents if a.parent_id == attempt.span_id)
        assert started[name] == f"00-{agent.trace_id}-{agent.span_id}-01"
    verify = receiver.named("quarterdeck.verify")
    assert [v.attributes["quarterdeck.command"] for v in verify] == ["test -s c.txt"]
    assert verify[0].parent_id == _one(attempts, **{"quarterdeck.task.id": "c"}).span_id
    assert all(s.status_code != 2 for s in spans)
