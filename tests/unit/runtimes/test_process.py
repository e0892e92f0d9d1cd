from __future__ import annotations

import sys
from pathlib import Path

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
