from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from quarterdeck.runtimes import process


async def test_an_overlong_line_is_streamed_in_pieces_not_fatal(tmp_path: Path) -> None:
    lines: list[str] = []

    async def on_line(text: str) -> None:
        lines.append(text)

    script = "import sys; sys.stdout.write('x' * (9 * 1024 * 1024) + '\\nend\\n')"
    result = await process.run_process(
        [sys.executable, "-c", script], cwd=tmp_path, env=process.base_env(), timeout_s=60, on_line=on_line
    )
    assert result.returncode == 0
    assert sum(len(line) for line in lines[:-1]) == 9 * 1024 * 1024
    assert lines[-1] == "end"


async def test_a_timeout_kills_the_process_group(tmp_path: Path) -> None:
    result = await process.run_process(
        ["bash", "-c", "sleep 30 & sleep 30; wait"], cwd=tmp_path, env=process.base_env(), timeout_s=0.5, grace_s=0.5
    )
    assert result.timed_out


def _pids(path: Path) -> list[int]:
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


# Each spawns a process the group signal misses: one in a session of its own, one orphaned (its parent
# exits, so it is re-parented to init), then blocks; the pids go to a file.
_ESCAPERS = "setsid sleep 300 & echo $! >> {pids}; (sleep 300 & echo $! >> {pids}) ; echo started >> {flag}; sleep 300"


async def _started(flag: Path) -> None:
    for _ in range(1000):
        if flag.exists():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the escapers never started")


async def test_cancellation_kills_processes_in_other_sessions_and_orphans(tmp_path: Path) -> None:
    pids, flag = tmp_path / "pids", tmp_path / "flag"
    script = _ESCAPERS.format(pids=pids, flag=flag)
    job = asyncio.ensure_future(
        process.run_process(["bash", "-c", script], cwd=tmp_path, env=process.base_env(), timeout_s=60, grace_s=0.2)
    )
    await _started(flag)
    escaped = _pids(pids)
    assert len(escaped) == 2
    assert all(_alive(p) for p in escaped)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert [p for p in escaped if _alive(p)] == []  # verified before run_process returned, no waiting


async def test_a_timeout_honours_the_grace_period_then_kills(tmp_path: Path) -> None:
    # A process that ignores SIGTERM still goes, by SIGKILL after the grace.
    pids, flag = tmp_path / "pids", tmp_path / "flag"
    script = (
        f"trap '' TERM; setsid bash -c 'trap \"\" TERM; sleep 300' & echo $! >> {pids}; echo x >> {flag}; sleep 300"
    )
    result = await process.run_process(
        ["bash", "-c", script], cwd=tmp_path, env=process.base_env(), timeout_s=1.0, grace_s=0.3
    )
    assert result.timed_out
    assert [p for p in _pids(pids) if _alive(p)] == []


async def test_reap_ends_what_a_finished_child_left_running(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    quiet = (
        f"setsid sleep 300 >/dev/null 2>&1 & echo $! >> {pids}; (nohup sleep 300 >/dev/null 2>&1 & echo $! >> {pids})"
    )
    kept = await process.run_process(["bash", "-c", quiet], cwd=tmp_path, env=process.base_env(), timeout_s=30)
    left = _pids(pids)
    assert kept.returncode == 0
    assert all(_alive(p) for p in left)  # without reap (a setup command's service), they stay
    assert await process.kill_tree(None, _tag_of(left[0]), 0.2) == set()
    pids.unlink()
    # Reaped, even a leftover that holds the output pipe open does not keep the run waiting for its timeout.
    script = f"setsid sleep 300 & echo $! >> {pids}; (nohup sleep 300 >/dev/null 2>&1 & echo $! >> {pids})"
    reaped = await process.run_process(
        ["bash", "-c", script], cwd=tmp_path, env=process.base_env(), timeout_s=30, grace_s=0.2, reap=True
    )
    assert not reaped.timed_out
    assert reaped.returncode == 0
    assert [p for p in _pids(pids) if _alive(p)] == []


def _tag_of(pid: int) -> str:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    (tag,) = [e.split(b"=", 1)[1].decode() for e in environ if e.startswith(process.TAG_ENV.encode() + b"=")]
    return tag


async def test_a_check_returns_when_its_child_exits_though_a_leftover_holds_the_output(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = f"setsid sleep 300 & echo $! >> {pids}; echo done"
    result = await process.run_process(["bash", "-c", script], cwd=tmp_path, env=process.base_env(), timeout_s=30)
    assert not result.timed_out
    assert (result.returncode, result.output) == (0, "done")
    (leftover,) = _pids(pids)
    assert _alive(leftover)  # not reaped: a setup command may start a service on purpose
    assert await process.kill_tree(None, _tag_of(leftover), 0.2) == set()
    assert not _alive(leftover)


async def test_a_nul_in_the_output_becomes_a_replacement_character(tmp_path: Path) -> None:
    lines: list[str] = []

    async def on_line(text: str) -> None:
        lines.append(text)

    result = await process.run_process(
        ["printf", "a\\0b\\n"], cwd=tmp_path, env=process.base_env(), timeout_s=60, on_line=on_line
    )
    assert lines == ["a\N{REPLACEMENT CHARACTER}b"]  # storable in PostgreSQL text, which refuses NUL
    assert result.output == lines[0]
