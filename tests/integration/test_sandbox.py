"""Hostile agents and checks are contained by the sandbox; legitimate work still gets done. Both databases.

Each hostile task is a ``scripted`` agent or a ``shell`` step (or a ``verify`` command) doing one bad thing
through real processes; the worker runs with a fake home holding an SSH key, a secret in its environment,
a state directory with a key ring, and another task's worktree beside this one's.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from quarterdeck import sandbox
from quarterdeck.app import Quarterdeck, RunView
from quarterdeck.domain import plans
from quarterdeck.domain.statuses import TaskStatus
from quarterdeck.runtimes.claude_code import ClaudeCodeOptions
from quarterdeck.sandbox.policy import SANDBOX_OPTION
from quarterdeck.settings import Settings
from quarterdeck.store.records import EventRecord
from tests.support.agents import agent_bin
from tests.support.gitrepo import git
from tests.support.llm_servers import AnthropicServer, Reply, ToolCall

pytestmark = pytest.mark.skipif(
    not sandbox.availability().ok, reason=f"the sandbox cannot run here: {sandbox.availability().reason}"
)

SSH_SECRET = "FAKE-SSH-PRIVATE-KEY-4f1c"
WORKER_SECRET = "sk-worker-own-secret-93ab"
OTHER_SECRET = "OTHER-TASK-WORK-77de"


def _step(
    task_id: str, script: str, *, runtime: str = "scripted", policy: dict[str, Any] | None = None, **extra: Any
) -> plans.TaskSpec:
    options: dict[str, Any] = {"actions": [{"shell": script}]} if runtime == "scripted" else {"script": script}
    if policy:
        options[SANDBOX_OPTION] = policy
    return plans.TaskSpec(
        id=task_id, title=task_id, runtime=runtime, options=options, allow_empty=True, timeout_s=120, **extra
    )


async def _run(app: Quarterdeck, repo: Path, *tasks: plans.TaskSpec) -> tuple[RunView, list[EventRecord]]:
    record = await app.submit(plans.Plan(name="sandbox", tasks=tasks), repo=repo)
    view = await app.run_until_done(record.id, worker=app.worker(slots=2, run_id=record.id), tick_s=0.02)
    return view, await app.events(view.run.id, limit=100_000)


def _output(events: list[EventRecord], task_id: str) -> str:
    return "\n".join(
        str(e.payload.get("text", "")) for e in events if e.task_id == task_id and e.type == "agent.output"
    )


def _refusals(events: list[EventRecord], task_id: str) -> list[dict[str, Any]]:
    return [e.payload for e in events if e.task_id == task_id and e.type == "sandbox.refused"]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """As the suite's, with a longer lease: a fork bomb and an out-of-memory kill on this shared machine can
    hold up a heartbeat for seconds, and an attempt that loses its lease drops its events by design."""
    return Settings(
        database_url=database_url,
        state_dir=tmp_path / "state",
        lease_s=60,
        heartbeat_s=0.5,
        poll_max_s=0.05,
        kill_grace_s=1,
    )


@pytest.fixture
def worker_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The worker's home (with an SSH key) and a secret in its environment."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SSH_SECRET}\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("WORKER_TOKEN", WORKER_SECRET)
    monkeypatch.delenv("QUARTERDECK_SANDBOX", raising=False)
    return home


@pytest.fixture
async def servers() -> AsyncIterator[tuple[int, int]]:
    """Two HTTP servers on the worker's loopback: (an allowed provider, an address nobody allowed)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        await writer.drain()
        writer.close()

    allowed = await asyncio.start_server(lambda r, w: answer(r, w, b"HELLO-PROVIDER"), "127.0.0.1", 0)
    other = await asyncio.start_server(lambda r, w: answer(r, w, b"LEAKED-OTHER-SERVER"), "127.0.0.1", 0)
    async with allowed, other:
        yield allowed.sockets[0].getsockname()[1], other.sockets[0].getsockname()[1]


async def test_hostile_steps_are_contained_and_say_what_was_refused(
    app: Quarterdeck, repo: Path, tmp_path: Path, worker_home: Path, servers: tuple[int, int]
) -> None:
    state = app.settings.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    keyring = state / "secret.key"
    if not keyring.exists():
        keyring.write_text("KEYRING-SECRET-5e2a" * 4)
    key_text = keyring.read_text().strip()
    db_url = app.settings.resolved_database_url()
    db_file = db_url.removeprefix("sqlite:///") if db_url.startswith("sqlite:///") else ""
    other = app.settings.resolved_worktree_root() / "run-other" / "task-x"
    other.mkdir(parents=True)
    (other / "work.txt").write_text(OTHER_SECRET)
    provider, stranger = servers
    linger = f"qd-linger-{uuid.uuid4().hex[:8]}"
    fork = (
        "import os, time\nn = 0\nwhile True:\n    try:\n        pid = os.fork()\n    except OSError as exc:\n"
        "        print('fork refused after', n, exc.strerror); break\n    if pid == 0:\n        time.sleep(60)\n"
        "        os._exit(0)\n    n += 1\n"
    )
    curl = "curl -s --max-time 5"
    tasks = (
        _step("ssh", f"cat {worker_home}/.ssh/id_rsa; cat ~/.ssh/id_rsa; ls -la ~; true"),
        _step("state", f"cat {keyring} {db_file}; ls -la {state}; true", runtime="shell"),
        _step(
            "database",
            "python3 -c \"import socket; socket.create_connection(('127.0.0.1', 5432), 3)\" "
            '&& echo LEAK""ED-DB-REACHED; true',
        ),
        _step("other", f"cat {other}/work.txt; ls -R {app.settings.resolved_worktree_root()}; true"),
        _step(
            "environ",
            f"cat /proc/1/environ; cat /proc/{os.getpid()}/environ; cat /proc/[0-9]*/environ; env; true",
            runtime="shell",
        ),
        _step(
            "write",
            f"echo pwned > {tmp_path}/outside.txt; echo pwned > {repo}/pwned.txt; "
            f"echo pwned > {worker_home}/pwned.txt; echo pwned > /usr/pwned.txt; true",
        ),
        _step("forkbomb", f'python3 -c "{fork}"', policy={"pids": 32}),
        _step("bigfile", "dd if=/dev/zero of=big.bin bs=1M count=10240", runtime="shell", policy={"file_size_mb": 16}),
        _step("memory", "python3 -c \"b = b'x' * (20 * 1024 ** 3)\"", runtime="shell", policy={"memory_mb": 128}),
        _step(
            "network",
            f"{curl} http://127.0.0.1:{stranger}/; {curl} http://127.0.0.1:{provider}/; "
            f"{curl} --noproxy '' -x http://127.0.0.1:3128 http://127.0.0.1:{stranger}/; true",
            policy={"network": "providers", "allow_hosts": [f"127.0.0.1:{provider}"]},
        ),
        _step("offline", f"{curl} http://127.0.0.1:{provider}/ || echo NO-NETWORK", runtime="shell"),
        _step("linger", f"(exec -a {linger} sleep 300 &); setsid bash -c 'exec -a {linger} sleep 300' & true"),
        _step("verify", "true", runtime="shell", verify=(f"cat {worker_home}/.ssh/id_rsa",)),
    )
    view, events = await _run(app, repo, *tasks)
    by_id = {t.id: t for t in view.tasks}
    everything = json.dumps([e.payload for e in events]) + json.dumps([t.error for t in view.tasks])
    for secret in (SSH_SECRET, WORKER_SECRET, OTHER_SECRET, key_text, "LEAKED-", "SQLite format"):
        assert secret not in everything, secret
    # every process ran confined, and says so
    confined = {e.task_id for e in events if e.type == "sandbox.confined"}
    assert confined == set(by_id), {
        t: sorted({e.type for e in events if e.task_id == t}) for t in set(by_id) - confined
    }
    # reads: nothing of the worker's home, state directory, database, key ring or other worktrees in view
    assert "No such file or directory" in _output(events, "ssh")
    assert f"{keyring}: No such file" in _output(events, "state")
    assert "Network is unreachable" in _output(events, "database") or "refused" in _output(events, "database")
    assert "No such file or directory" in _output(events, "other")
    # writes outside the worktree land nowhere on the worker
    assert not (tmp_path / "outside.txt").exists()
    assert not (repo / "pwned.txt").exists()
    assert not (worker_home / "pwned.txt").exists()
    assert not Path("/usr/pwned.txt").exists()
    # a fork bomb meets the process limit
    assert "fork refused after" in _output(events, "forkbomb")
    assert any("process limit" in r["reason"] for r in _refusals(events, "forkbomb"))
    # a 10 GB file meets the file size limit; 20 GB of memory meets the memory limit
    assert by_id["bigfile"].status is TaskStatus.FAILED
    assert any("file size limit" in r["reason"] for r in _refusals(events, "bigfile")), _refusals(events, "bigfile")
    assert by_id["memory"].status is TaskStatus.FAILED
    assert any("memory limit" in r["reason"] for r in _refusals(events, "memory")), _refusals(events, "memory")
    # network: the allowed provider answers, nothing else is reachable, and the refusal is an event
    assert "HELLO-PROVIDER" in _output(events, "network")
    refused = [r for r in _refusals(events, "network") if r["what"] == "network"]
    assert refused == [
        {
            "what": "network",
            "host": "127.0.0.1",
            "port": stranger,
            "reason": f"127.0.0.1:{stranger} is not an allowed provider (network: providers)",
        }
    ]
    assert "NO-NETWORK" in _output(events, "offline")
    # nothing a step started outlives it
    assert not [p for p in Path("/proc").glob("[0-9]*/cmdline") if linger.encode() in _read(p)]
    assert by_id["linger"].status is TaskStatus.SUCCEEDED
    # a verify command is as confined as the agent
    assert by_id["verify"].status is TaskStatus.FAILED
    assert "No such file or directory" in (by_id["verify"].error or "")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


async def test_legitimate_work_still_gets_done(app: Quarterdeck, repo: Path, worker_home: Path) -> None:
    (repo / "test_app.py").write_text("def test_adds():\n    assert 1 + 1 == 2\n")
    git(repo, "add", "test_app.py")
    git(repo, "commit", "-qm", "tests")
    tasks = (
        _step(
            "commit",
            "echo hello > hello.txt && git add hello.txt && git commit -qm 'agent commit' && git log -1 --format=%s",
        ),
        _step("tests", "true", runtime="shell", verify=("python -m pytest -q -p no:cacheprovider test_app.py",)),
    )
    view, events = await _run(app, repo, *tasks)
    assert [(t.id, t.status, t.error) for t in view.tasks] == [
        ("commit", TaskStatus.SUCCEEDED, None),
        ("tests", TaskStatus.SUCCEEDED, None),
    ]
    assert "agent commit" in _output(events, "commit")
    assert git(repo, "show", f"{view.run.integration_branch}:hello.txt") == "hello\n"
    passed = [e.payload["output"] for e in events if e.type == "verify.result" and e.task_id == "tests"]
    assert "1 passed" in passed[0]


async def test_package_installs_work_when_the_network_is_open(app: Quarterdeck, repo: Path, worker_home: Path) -> None:
    tasks = (
        _step(
            "pip",
            "python -m pip install --quiet --disable-pip-version-check --target vendor six==1.16.0 && ls vendor",
            runtime="shell",
            policy={"network": "open"},
        ),
        _step(
            "npm",
            "npm install --no-audit --no-fund --prefix js is-number@7.0.0 && ls js/node_modules",
            runtime="shell",
            policy={"network": "open"},
        ),
    )
    view, events = await _run(app, repo, *tasks)
    assert [(t.id, t.status, t.error) for t in view.tasks] == [
        ("pip", TaskStatus.SUCCEEDED, None),
        ("npm", TaskStatus.SUCCEEDED, None),
    ], [_output(events, t) for t in ("pip", "npm")]
    assert "six.py" in _output(events, "pip")
    assert "is-number" in _output(events, "npm")


async def test_a_real_agent_cli_runs_confined_and_reaches_only_its_provider(
    app: Quarterdeck, repo: Path, worker_home: Path, servers: tuple[int, int]
) -> None:
    _, stranger = servers
    hostile = (
        # (NUL-free: an agent's transcript carrying NUL is refused by PostgreSQL, a store bug of its own)
        f"cat {worker_home}/.ssh/id_rsa; tr '\\0' ' ' < /proc/1/environ; echo; "
        f"curl -s --max-time 5 http://127.0.0.1:{stranger}/"
        f"; curl -s --max-time 5 --noproxy '' -x http://127.0.0.1:3128 http://127.0.0.1:{stranger}/; echo > made.txt"
    )
    with AnthropicServer() as server:
        server.script.extend(
            Reply.tools(ToolCall("Bash", {"command": hostile, "description": "look around"})), Reply.text("done")
        )
        env = {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "test-key", "IS_SANDBOX": "1"}
        options = ClaudeCodeOptions(path=agent_bin("claude"), model="claude-sonnet-4-5", env=env)
        task = plans.TaskSpec(
            id="agent", title="agent", prompt="look", runtime="claude-code", options=options.model_dump(), timeout_s=120
        )
        view, events = await _run(app, repo, task)
    assert [(t.status, t.error) for t in view.tasks] == [(TaskStatus.SUCCEEDED, None)]
    everything = json.dumps([e.payload for e in events])
    for secret in (SSH_SECRET, WORKER_SECRET, "LEAKED-"):
        assert secret not in everything, secret
    confined = [e.payload for e in events if e.type == "sandbox.confined"]
    assert {c["network"] for c in confined} == {"providers"}
    host, port = server.url.removeprefix("http://").split(":")
    assert {"host": host, "port": int(port.rstrip("/"))} in [e.payload for e in events if e.type == "sandbox.egress"]
    assert [r["port"] for r in _refusals(events, "agent") if r["what"] == "network"] == [stranger], _output(
        events, "agent"
    )


@pytest.fixture
def no_bubblewrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A worker whose PATH has the usual tools but not bwrap."""
    bin_dir = tmp_path / "bin-without-bwrap"
    bin_dir.mkdir()
    for tool in ("git", "bash", "sh", "env", "true", "cat", "prlimit"):
        if (found := shutil.which(tool)) is not None:
            (bin_dir / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))
    sandbox.availability.cache_clear()
    yield
    monkeypatch.undo()
    sandbox.availability.cache_clear()


async def test_without_a_working_sandbox_a_run_refuses_unless_opted_out(
    app: Quarterdeck, repo: Path, no_bubblewrap: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    view, events = await _run(app, repo, _step("step", "echo hi > hi.txt", runtime="shell"))
    (task,) = view.tasks
    assert task.status is TaskStatus.FAILED
    assert (task.error or "").startswith(
        "the sandbox cannot run on this worker: bubblewrap (`bwrap`) is not installed"
    ), task.error
    assert "set QUARTERDECK_SANDBOX=off" in (task.error or "")
    assert [e.type for e in events if e.type.startswith("sandbox.")] == ["sandbox.unavailable"]
    assert not [e for e in events if e.type == "agent.output"]  # nothing ran
    monkeypatch.setenv("QUARTERDECK_SANDBOX", "off")
    view, events = await _run(app, repo, _step("step", "echo hi", runtime="shell"))
    assert [t.status for t in view.tasks] == [TaskStatus.SUCCEEDED]
    (off,) = [e.payload for e in events if e.type.startswith("sandbox.")]
    assert off == {"reason": "QUARTERDECK_SANDBOX=off: steps run with the worker's privileges"}


def _container_engine() -> tuple[str | None, str]:
    """An OCI engine that can run a container here (the host's root as its image), or why none can."""
    reasons = []
    for engine in ("podman", "docker"):
        path = shutil.which(engine)
        if path is None:
            reasons.append(f"{engine}: not installed")
            continue
        probe = [path, "run", "--rm", "--rootfs", "/", "true"] if engine == "podman" else [path, "info"]
        try:
            done = subprocess.run(probe, capture_output=True, text=True, timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            reasons.append(f"{engine}: {exc}")
            continue
        if done.returncode == 0:
            return engine, ""
        reasons.append(f"{engine}: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    return None, "; ".join(reasons)


@pytest.fixture
def container_image(tmp_path: Path) -> tuple[str, str]:
    """(engine, image): an engine that works here and the host's own root imported as the image (no pull)."""
    engine, reason = _container_engine()
    if engine is None:
        pytest.skip(f"no container engine can run a container on this machine ({reason})")
    image = "localhost/quarterdeck-sandbox-test"
    if engine == "podman":
        subprocess.run(["podman", "image", "rm", "-f", image], capture_output=True, check=False)
        tar = tmp_path / "root.tar"
        subprocess.run(["tar", "-C", "/", "-cf", str(tar), "usr", "bin", "lib", "lib64", "etc"], check=False)
        subprocess.run(["podman", "import", str(tar), image], check=True, capture_output=True)
    return engine, image


async def test_the_container_option_runs_a_step_under_the_same_policy(
    app: Quarterdeck, repo: Path, container_image: tuple[str, str]
) -> None:
    engine, image = container_image
    (repo / ".quarterdeck").mkdir(exist_ok=True)
    (repo / ".quarterdeck" / "config.toml").write_text(f'[sandbox]\nengine = "{engine}"\nimage = "{image}"\n')
    view, events = await _run(
        app,
        repo,
        _step("box", "echo inside > proof.txt; cat /proc/1/cmdline; test ! -e /work", runtime="shell"),
        _step("fat", "python3 -c \"b = b'x' * (20 * 1024 ** 3)\"", runtime="shell", policy={"memory_mb": 128}),
    )
    by_id = {t.id: t for t in view.tasks}
    assert by_id["box"].status is TaskStatus.SUCCEEDED, by_id["box"].error
    assert git(repo, "show", f"{view.run.integration_branch}:proof.txt") == "inside\n"
    assert by_id["fat"].status is TaskStatus.FAILED
    assert {e.payload["engine"] for e in events if e.type == "sandbox.confined"} == {engine}
