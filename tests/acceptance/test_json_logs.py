"""A run's log in JSON mode: every line parses, the attempts' lines carry the run, task, attempt, worker and
trace ids (the trace the OTLP receiver got), and an organisation's secret that a failing agent printed is not
in any line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.gitrepo import make_repo
from tests.support.otlp_receiver import OtlpReceiver
from tests.support.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]
SECRET = "glpat-planted-0123456789abcdef"

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver().start()
    yield server
    server.stop()


def _quarterdeck(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quarterdeck", *args],
        env=env, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_every_line_of_a_run_in_json_mode_parses_and_carries_its_ids(
    tmp_path: Path, database_url: str, receiver: OtlpReceiver
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUARTERDECK_", "OTEL_"))}
    env |= {
        "QUARTERDECK_DATABASE_URL": database_url,
        "QUARTERDECK_STATE_DIR": str(tmp_path / "state"),
        "QUARTERDECK_LOG_FORMAT": "json",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
    }
    stored = _quarterdeck("secret", "set", "DEPLOY_TOKEN", "--kind", "git_credential", env=env, stdin=SECRET)
    assert stored.returncode == 0, stored.stderr
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"name": "logged", "tasks": [
        {"id": "fine", "title": "Fine", "runtime": "shell", "options": {"script": "echo ok > ok.txt"}},
        {"id": "leaky", "title": "Leaky", "runtime": "shell", "max_attempts": 1,
         "options": {"script": 'echo "the token is $DEPLOY_TOKEN"; exit 3'}},
    ]}, sort_keys=False))  # fmt: skip
    repo = make_repo(tmp_path / "repo")
    ran = _quarterdeck("-v", "run", str(plan), "--repo", str(repo), "--json", env=env)
    assert ran.returncode == 1, ran.stderr  # the leaky task failed
    run_id = json.loads(ran.stdout)["run"]["id"]

    assert SECRET not in ran.stderr
    lines = [json.loads(line) for line in ran.stderr.splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    attempts = [line for line in lines if line["logger"] == "quarterdeck.engine.attempt"]
    assert {line["task_id"] for line in attempts} == {"fine", "leaky"}
    wait_for(lambda: len(receiver.named("quarterdeck.task ")) == 2, timeout=30)
    trace_id = receiver.spans[0].trace_id
    for line in attempts:
        assert line["run_id"] == run_id
        assert line["attempt_id"]
        assert line["worker_id"]
        assert line["trace_id"] == trace_id
    spans = {s.span_id for s in receiver.named("quarterdeck.attempt")}
    started = [line for line in attempts if "started" in line["message"]]
    assert len(started) == 2
    assert all(line["span_id"] in spans for line in started)  # logged within the attempt's span
    failed = next(line for line in attempts if "failed" in line["message"])
    assert "the token is [secret]" in failed["message"]
