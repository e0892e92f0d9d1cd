"""``quarterdeck doctor`` run as a user runs it: the console script in a subprocess, against the real CLIs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.agents import REPLAY, agent_bin

SCRIPT = Path(sys.executable).parent / "quarterdeck"


def _doctor(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(
        [str(SCRIPT), "doctor", *args], env=base | env, capture_output=True, text=True, timeout=120, check=False
    )


def test_installed_agents_pass_and_absent_optional_ones_are_notes(tmp_path: Path) -> None:
    done = _doctor(tmp_path, QUARTERDECK_CLAUDE_PATH=agent_bin("claude"), ANTHROPIC_API_KEY="k")
    assert done.returncode == 0, done.stderr
    assert f"ok       claude-code 2.1.330 at {agent_bin('claude')}" in done.stdout
    assert "missing  codex: the `codex` command was not found on PATH; install it with" in done.stdout
    assert "`npm install -g @google/gemini-cli@0.61.0`" in done.stdout


def test_a_configured_agent_that_is_missing_exits_2_naming_the_fix(tmp_path: Path) -> None:
    done = _doctor(tmp_path, QUARTERDECK_CODEX_PATH=str(tmp_path / "bin" / "codex"))
    assert done.returncode == 2
    assert "error    codex: " in done.stderr
    assert "install it with `npm install -g @openai/codex@0.169.0` or set QUARTERDECK_CODEX_PATH" in done.stderr


def test_too_old_or_without_credentials_exits_2(tmp_path: Path) -> None:
    old = _doctor(tmp_path, "--agent", "claude", QUARTERDECK_CLAUDE_PATH=str(REPLAY), REPLAY_VERSION="1.0.0")
    assert old.returncode == 2
    assert "is version 1.0.0, older than the minimum 2.1.197" in old.stderr
    bare = _doctor(tmp_path, "--agent", "codex", QUARTERDECK_CODEX_PATH=agent_bin("codex"))
    assert bare.returncode == 2
    assert "codex: no credentials; set OPENAI_API_KEY or CODEX_API_KEY or log in once with the CLI" in bare.stderr
    (tmp_path / ".codex").mkdir()
    (tmp_path / ".codex" / "auth.json").write_text("{}")
    login = _doctor(tmp_path, "--agent", "codex", QUARTERDECK_CODEX_PATH=agent_bin("codex"))
    assert login.returncode == 0, login.stderr
    assert "ok       codex 0.169.0" in login.stdout


def test_all_three_agents_and_their_sandboxes_are_reported(tmp_path: Path) -> None:
    done = _doctor(
        tmp_path,
        QUARTERDECK_CLAUDE_PATH=agent_bin("claude"),
        QUARTERDECK_CODEX_PATH=agent_bin("codex"),
        QUARTERDECK_GEMINI_PATH=agent_bin("gemini"),
        ANTHROPIC_API_KEY="k",
        OPENAI_API_KEY="k",
        GEMINI_API_KEY="k",
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"ok       claude-code 2.1.330 at {agent_bin('claude')}; sandbox: none (tasks run with" in done.stdout
    # Codex's workspace-write sandbox (bubblewrap here) was tried as a task runs it: it wrote its directory.
    assert f"ok       codex 0.169.0 at {agent_bin('codex')}; sandbox: workspace-write works (as tasks run it)" in lines
    assert f"ok       gemini 0.61.0 at {agent_bin('gemini')}; sandbox: none (tasks run without --sandbox" in done.stdout


def test_the_sandbox_is_reported_and_a_missing_bubblewrap_exits_2(tmp_path: Path) -> None:
    works = _doctor(tmp_path, QUARTERDECK_CLAUDE_PATH=agent_bin("claude"), ANTHROPIC_API_KEY="k")
    assert "ok       sandbox: bubblewrap at " in works.stdout
    assert works.returncode == 0, works.stderr
    bin_dir = tmp_path / "bin"  # a PATH where everything but bwrap is found
    bin_dir.mkdir()
    for tool in ("git", "sh", "bash", "prlimit", "node"):
        if (found := shutil.which(tool)) is not None:
            (bin_dir / tool).symlink_to(found)
    path = f"{Path(sys.executable).parent}:{bin_dir}"
    missing = _doctor(tmp_path, PATH=path, QUARTERDECK_CLAUDE_PATH=agent_bin("claude"), ANTHROPIC_API_KEY="k")
    assert missing.returncode == 2
    assert "error    sandbox: bubblewrap (`bwrap`) is not installed" in missing.stderr
    assert "set QUARTERDECK_SANDBOX=off" in missing.stderr
    off = _doctor(tmp_path, PATH=path, QUARTERDECK_SANDBOX="off", QUARTERDECK_CLAUDE_PATH=agent_bin("claude"))
    assert "off      sandbox: QUARTERDECK_SANDBOX=off" in off.stdout
