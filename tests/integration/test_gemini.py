"""The gemini runtime at the CLI's boundary: its documented stream-json replayed by a stand-in executable.

The real Gemini CLI (0.61.0) needs Google's API or a Gemini-API wire server; see docs/agents.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck.runtimes.base import TokenUsage
from quarterdeck.runtimes.gemini import GeminiOptions, GeminiRuntime
from tests.support.agents import REPLAY, SAMPLES, Recorder, context

STREAM = SAMPLES / "gemini-stream-json-documented.jsonl"


def _options(**env: str) -> GeminiOptions:
    return GeminiOptions(path=str(REPLAY), env={"REPLAY_VERSION": "0.61.0", "GEMINI_API_KEY": "k", **env})


async def test_a_stream_becomes_events_tokens_and_a_priced_result(tmp_path: Path) -> None:
    sink = Recorder()
    ctx = context(tmp_path, _options(REPLAY_FILE=str(STREAM)))
    result = await GeminiRuntime().run(ctx, sink)
    assert result.ok, result.error
    assert result.session_id == "g-1"
    assert result.tokens == TokenUsage(input=1000, output=300, cache_read=200)
    assert result.cost_usd == pytest.approx(1000 * 1.25e-6 + 300 * 10e-6 + 200 * 0.31e-6)
    assert result.cost_source == "price-table"
    assert [t["tool"] for t in sink.of("agent.tool")] == ["write_file", "run_shell_command"]
    assert [m["text"] for m in sink.of("agent.message")] == ["I will write it.", "done"]
    raw = next(Path(tmp_path / "worktrees" / "run" / ".agents").glob("task-1/stream-1.jsonl"))
    assert raw.read_text() == STREAM.read_text()


async def test_the_turn_limit_exit_code_is_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"type":"init","session_id":"g-2","model":"gemini-2.5-flash"}\n')
    result = await GeminiRuntime().run(
        context(tmp_path, _options(REPLAY_FILE=str(empty), REPLAY_EXIT="53")), Recorder()
    )
    assert not result.ok
    assert result.error == "gemini exited 53 without a result: turn limit reached"


async def test_a_missing_cli_names_the_package(tmp_path: Path) -> None:
    result = await GeminiRuntime().run(context(tmp_path, GeminiOptions(path=str(tmp_path / "gemini"))), Recorder())
    assert result.error is not None
    assert "npm install -g @google/gemini-cli@0.61.0" in result.error
