"""The api-agent's tools: confined to the worktree, bad calls answered as tool errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from quarterdeck.runtimes.tools import Toolbox


@pytest.fixture
def box(tmp_path: Path) -> Toolbox:
    root = tmp_path / "wt"
    root.mkdir()
    (root / "a.txt").write_text("one\ntwo\n")
    return Toolbox(root, env=dict(os.environ), command_timeout_s=5, output_limit=200)


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("read_file", {"path": "../../etc/passwd"}),
        ("read_file", {"path": "/etc/passwd"}),
        ("read_file", {"path": "out/passwd"}),
        ("write_file", {"path": "out/new.txt", "content": "x"}),
        ("list_files", {"path": "out"}),
        ("read_file", {"path": ".git/config"}),
    ],
)
async def test_paths_outside_the_worktree_are_refused(box: Toolbox, tool: str, arguments: dict[str, str]) -> None:
    (box.root / "out").symlink_to("/etc")
    outcome = await box.call(tool, arguments)
    assert outcome.is_error
    assert outcome.output.startswith("refused path")
    assert not Path("/etc/new.txt").exists()


async def test_read_write_edit_list_and_search(box: Toolbox) -> None:
    assert (await box.call("write_file", {"path": "d/b.txt", "content": "needle here\n"})).output.startswith("wrote")
    assert (await box.call("edit_file", {"path": "a.txt", "old": "two", "new": "TWO"})).output == "edited a.txt"
    assert (await box.call("read_file", {"path": "a.txt"})).output == "one\nTWO\n"
    assert (await box.call("list_files", {})).output.splitlines() == ["a.txt", "d/b.txt"]
    assert (await box.call("search", {"pattern": "need+le"})).output == "d/b.txt:1: needle here"
    ambiguous = await box.call("edit_file", {"path": "a.txt", "old": "\n", "new": ""})
    assert ambiguous.output == "`old` occurs 2 times in a.txt; it must occur exactly once"


async def test_commands_run_with_argv_or_shell_time_out_and_are_truncated(box: Toolbox) -> None:
    assert (await box.call("run_command", {"argv": ["echo", "hi there"]})).output == "exit code 0\nhi there"
    failed = await box.call("run_command", {"shell": "echo oops; exit 3"})
    assert failed.is_error
    assert failed.output == "exit code 3\noops"
    long = await box.call("run_command", {"shell": "seq 1 2000"})
    assert long.output.endswith("characters were dropped]")
    assert "\n2000\n" in long.output
    slow = await box.call("run_command", {"argv": ["sleep", "30"], "timeout_s": 0.5})
    assert slow.is_error
    assert slow.output.startswith("timed out after 0.5s")
    both = await box.call("run_command", {"argv": ["true"], "shell": "true"})
    assert both.is_error
